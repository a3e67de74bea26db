"""`rollcall run` says where everything is, the scanner page and notify's API included, and
sends the demo's VIP alerts and digests to addresses of its own (into var/mail)."""

from __future__ import annotations

import pytest

from rollcall import stack
from shared.config import Settings

pytestmark = pytest.mark.unit

DEMO = {
    "event": "gmf2023",
    "organizer_token": "rc_org_demo",
    "scanner_tokens": {"North": "rc_scn_north"},
    "urls": {
        "register_page": "http://127.0.0.1:8001/events/gmf2023/register",
        "register": "http://127.0.0.1:8001/api/v1/events/gmf2023/registrations",
        "scan": "http://127.0.0.1:8002/api/v1/scans",
        "headcount": "http://127.0.0.1:8002/api/v1/events/gmf2023/headcount",
        "registration_openapi": "http://127.0.0.1:8001/openapi.json",
        "checkin_openapi": "http://127.0.0.1:8002/openapi.json",
        "mail": "/tmp/var/mail",
    },
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("CHECKIN_URL", "PROTOCOL_EMAIL", "ORGANISER_EMAIL"):
        monkeypatch.delenv(name, raising=False)


def test_the_processes_get_demo_office_addresses_unless_the_environment_names_them():
    settings = Settings.from_env({})

    demo = stack.environment({}, settings)
    mine = stack.environment({"PROTOCOL_EMAIL": "desk@example.org"}, settings)
    none = stack.environment({"ORGANISER_EMAIL": ""}, settings)

    assert demo["PROTOCOL_EMAIL"] == "protocol@gmf2023.localhost"
    assert demo["ORGANISER_EMAIL"] == "organisers@gmf2023.localhost"
    assert mine["PROTOCOL_EMAIL"] == "desk@example.org"
    assert none["ORGANISER_EMAIL"] == ""  # set empty: no digest, as the README says


def test_the_banner_names_the_scanner_page_notifys_api_and_where_alerts_go(capsys):
    env = stack.environment({"CHECKIN_PORT": "9002", "NOTIFY_PORT": "9003"}, Settings.from_env())

    stack._announce(DEMO, Settings.from_env(env))

    banner = capsys.readouterr().out
    assert "scanner page          http://127.0.0.1:9002/scan" in banner
    assert "http://127.0.0.1:9003/api/v1/events/gmf2023/notifications" in banner
    assert "protocol@gmf2023.localhost" in banner and "organisers@gmf2023.localhost" in banner
