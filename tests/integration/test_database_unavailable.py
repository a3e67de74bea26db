"""A database that does not answer is a 503 with Retry-After in the JSON error shape (nothing
was written: try again), not a 500."""

from __future__ import annotations

import pytest

from services import checkin, registration
from tests.conftest import make_settings
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", [registration, checkin], ids=["registration", "checkin"])
def test_an_unreachable_database_answers_503_in_the_error_shape(
    service, tmp_path, redis_url, badge_keys, build_app
):
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/rollcall?connect_timeout=1"
    app = build_app(service, make_settings(tmp_path, nowhere, redis_url, badge_keys))
    answer = app.test_client().get(
        "/api/v1/events/gmf2023/headcount" if service is checkin else "/api/v1/events/gmf2023",
        headers={"Authorization": "Bearer rc_org_whatever"},
    )
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.headers["Retry-After"] == "5"
    assert answer.get_json()["error"]["code"] == "unavailable"
