"""The outbox relay process of a service: `python -m services.<name>.relay` calls `run`."""

from __future__ import annotations

import logging

from shared.celery_app import create_celery, publisher, redis_ready
from shared.config import Settings
from shared.db import make_engine
from shared.outbox import Outbox, run_relay


def run(outbox: Outbox, database_url: str, settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_celery(f"{outbox.producer}-relay", settings)
    run_relay(
        outbox,
        make_engine(database_url),
        publisher(app),
        redis_ready(settings.redis_url),
        settings.relay_interval,
    )
