"""The crash-recovery timings are settings: the broker's visibility timeout reaches Celery, and
workers look for abandoned tasks often enough for it."""

from __future__ import annotations

import pytest

from shared.celery_app import create_celery
from shared.config import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("timeout", "every"), [("3600", 100), ("20", 1), ("600", 30)])
def test_the_visibility_timeout_setting_reaches_the_broker(timeout, every):
    app = create_celery("probe", Settings.from_env({"CELERY_VISIBILITY_TIMEOUT": timeout}))

    options = app.conf.broker_transport_options
    assert options["visibility_timeout"] == int(timeout)
    # Seconds between sweeps for abandoned tasks: about a twentieth of the timeout.
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] == every
    app.close()
