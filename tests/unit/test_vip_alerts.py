"""Who alerts protocol and what the alert says (pure parts of services/notify/vip.py), when
an event day's digest is due (digest.ended_days), and the settings behind them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import pytest

from services.notify import arrivals, office, vip
from services.notify.digest import ended_days
from services.notify.sms import HttpSmsGateway, Sms, reference
from shared.config import Settings

pytestmark = pytest.mark.unit

FLAGGED = frozenset({"mayor", "vip"})
SHANGHAI = arrivals.zone("Asia/Shanghai")


def admission(**overrides) -> dict:
    return {"category": "mayor", "area": "venue", "gate": "North", "source": "gate", **overrides}


def fact(**overrides) -> vip.VipArrival:
    at = datetime(2023, 12, 7, 1, 2, tzinfo=UTC)
    values = {
        "key": "vip-arrival/1/7/2023-12-07",
        "event_id": 1,
        "event_name": "Global Mayors' Forum 2023",
        "registration_id": 42,
        "badge_id": 7,
        "name": "王小明",
        "title": "市长",
        "delegation": "Guangzhou",
        "organisation": "广州市人民政府",
        "category": "mayor",
        "category_label": "Mayor or governor",
        "gate": "VIP",
        "area": "venue",
        "at": at,
        "local": at.astimezone(SHANGHAI),
        "source": "gate",
        **overrides,
    }
    return vip.VipArrival(**values)


@pytest.mark.parametrize(
    ("payload", "alerts"),
    [
        (admission(), True),
        (admission(category="vip"), True),
        (admission(area=None), True),  # from before areas: the venue was the only one
        (admission(category="delegate"), False),
        (admission(area="plenary"), False),  # a hall door is not an arrival
        (admission(area="vip-lounge"), False),
    ],
)
def test_only_a_flagged_category_entering_the_venue_may_alert(payload, alerts):
    assert vip.flagged(payload, FLAGGED) is alerts


def test_the_alert_key_is_one_per_badge_per_local_day():
    assert vip.alert_key(1, 7, date(2023, 12, 7)) == "vip-arrival/1/7/2023-12-07"
    assert vip.alert_key(1, 7, date(2023, 12, 7), vip.ALERT_SMS).startswith("vip-arrival-sms/")


def test_the_subject_names_the_guest_with_title_the_gate_and_the_local_time():
    assert vip.subject(fact(name="Clara Brugada", title="Mayor")) == (
        "VIP arrival: Mayor Clara Brugada, VIP gate, 09:02"
    )
    assert vip.subject(fact(name="", gate=None)).startswith(
        "VIP arrival: badge 7, the organisers' desk"
    )


def test_the_sms_is_one_short_line_with_delegation_category_place_and_time():
    text = vip.sms_text(fact(name="Clara Brugada", title="Mayor", source="offline"))

    assert text == (
        "VIP arrival: Mayor Clara Brugada (Guangzhou) [Mayor or governor], VIP gate, Venue, "
        "09:02 (scanned offline, synced later)"
    )
    assert len(vip.sms_text(fact(name="X" * 400))) == vip.SMS_LENGTH


def test_the_alert_mail_carries_every_protocol_detail_in_both_parts():
    arrival = fact(name="王小明\r\nBcc: evil@example.org", title="市长")
    message = office.build(
        vip.ALERT,
        to="protocol@example.org",
        subject=vip.subject(arrival),
        context=vip.context(arrival),
        mail_from="Rollcall <alerts@rollcall.test>",
        idempotency_key=arrival.key,
        now=arrival.at,
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)

    assert "\n" not in parsed["Subject"] and parsed["Bcc"] is None
    assert parsed["Message-ID"].endswith("@rollcall.test>")
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    for part in (text, html):
        for shown in ("Guangzhou", "广州市人民政府", "Mayor or governor", "VIP gate", "Venue"):
            assert shown in part
        assert "09:02 on Thu 7 Dec 2023 (Asia/Shanghai)" in part


def test_the_vip_arrived_fact_is_json_ready():
    payload = fact().payload()

    assert payload["type"] == "vip.arrived" and payload["id"] == "vip-arrival/1/7/2023-12-07"
    assert payload["local_time"] == "2023-12-07T09:02:00+08:00"
    assert payload["at"] == "2023-12-07T01:02:00+00:00"


def test_listeners_registered_with_on_arrival_are_kept():
    seen = []
    listener = vip.on_arrival(seen.append)
    try:
        assert listener in vip._listeners
    finally:
        vip._listeners.remove(listener)


def test_a_digest_is_due_once_each_event_day_has_ended_in_the_events_zone():
    # Day 1 (7 Dec) ends at 16:00 UTC in Shanghai.
    before = datetime(2023, 12, 7, 15, 59, tzinfo=UTC)
    after = datetime(2023, 12, 7, 16, 0, tzinfo=UTC)
    later = datetime(2023, 12, 10, 16, 30, tzinfo=UTC)
    days = (date(2023, 12, 7), date(2023, 12, 9), "Asia/Shanghai")

    assert ended_days(*days, before) == []
    assert ended_days(*days, after) == [date(2023, 12, 7)]
    assert ended_days(*days, later) == [date(2023, 12, 9)]  # older days past the catch-up


def test_vip_settings_default_to_mayors_and_vips_and_nobody_to_alert():
    settings = Settings.from_env({"SMS_GATEWAY_TOKEN": "s3cret-token"})

    assert settings.vip_categories == ("mayor", "vip")
    assert settings.protocol_email is None and settings.organiser_email is None
    assert "s3cret-token" not in repr(settings)
    assert Settings.from_env({"VIP_CATEGORIES": " vip , speaker,"}).vip_categories == (
        "vip",
        "speaker",
    )


def test_an_sms_round_trips_through_its_task_arguments_and_never_shows_its_token():
    sms = Sms(key="k/1", kind="vip-arrival-sms", event_type="checkin.admitted", to="+86", text="t")

    assert Sms.from_args(sms.args()) == sms
    assert sms.row().channel == "sms"
    assert reference("k/1") == reference("k/1") != reference("k/2")
    assert "tok" not in repr(HttpSmsGateway("https://sms.example/send", "tok"))
