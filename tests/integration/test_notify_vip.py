"""VIP arrival alerts and the organiser digest, for real: a Celery worker on a real Redis takes
registration's and checkin's events; the protocol office's mail arrives at the SMTP sink and
its SMS at a fake HTTP gateway, once per VIP per day, at the first admission to the venue only;
each ended event day's digest counts registrations and arrivals per category. In-process, on
both databases: the `vip.arrived` listeners (the webhooks' hook) and a missing PROTOCOL_EMAIL."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select, text

from services import notify
from services.notify import arrivals, vip
from services.notify.digest import digest_key
from services.notify.dispatch import Outlet
from services.notify.messages import message_id
from services.notify.models import FAILED, SENT, Arrival, Notification
from shared.config import Settings
from shared.db import as_utc, make_engine, make_sessions, utcnow
from shared.events import CHECKIN_ADMITTED, DELEGATE_REGISTERED, EVENT_CREATED, parse
from tests.conftest import fresh_database
from tests.integration.test_notify_sms import TOKEN, FakeSmsGateway
from tests.support import factories
from tests.support.notify_stack import MAIL_DOMAIN, notify_stack
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration

PROTOCOL = "protocol@forum.example.org"
PHONE = "+8613800138000"
ORGANISER = "organisers@forum.example.org"
SHANGHAI = arrivals.zone("Asia/Shanghai")
CATEGORIES = [
    {"code": "mayor", "label": "Mayor or governor", "areas": ["venue", "plenary"]},
    {"code": "vip", "label": "VIP guest", "areas": ["venue", "vip-lounge"]},
    {"code": "delegate", "label": "Delegate", "areas": ["venue"]},
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def notify_database(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp("notify-db"), request) as url:
        yield url


@pytest.fixture(scope="module")
def gateway(notify_database):  # one per database, so each run counts its own SMS
    fake = FakeSmsGateway().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, notify_database, gateway):
    env = {
        "PROTOCOL_EMAIL": PROTOCOL,
        "PROTOCOL_PHONE": PHONE,
        "ORGANISER_EMAIL": ORGANISER,
        "SMS_GATEWAY_URL": gateway.url,
        "SMS_GATEWAY_TOKEN": TOKEN,
    }
    with notify_stack(tmp_path_factory.mktemp("notify-vip"), notify_database, **env) as running:
        yield running


def new_event(stack, **fields) -> dict:
    """An event notify knows, with its categories' labels."""
    event = factories.event_info(timezone="Asia/Shanghai", **fields)
    payload = factories.event_announced(event=event, categories=CATEGORIES)
    stack.publish("notify.apply_event", factories.envelope(EVENT_CREATED, payload))
    return event


def register(stack, event: dict, **delegate) -> dict:
    """A delegate.registered event through notify; returns its payload."""
    payload = {
        "event": event,
        "delegate": factories.delegate_info(**delegate),
        "badge": factories.badge_info(event_id=event["id"]),
    }
    stack.publish("notify.delegate_message", factories.envelope(DELEGATE_REGISTERED, payload))
    return payload


def admission(registered: dict, **fields) -> dict:
    """A checkin.admitted event for a registered delegate (its envelope)."""
    payload = factories.checkin(
        event_id=registered["event"]["id"],
        badge_id=registered["badge"]["id"],
        registration_id=registered["delegate"]["id"],
        category=registered["delegate"]["category"],
        **{"area": "venue", "source": "gate", **fields},
    )
    return admission_of(payload)


def admission_of(payload: dict) -> dict:
    return factories.envelope(CHECKIN_ADMITTED, payload, producer="checkin")


def admitted(stack, registered: dict, **fields) -> dict:
    """A checkin.admitted event for a registered delegate through notify, a batch of its own;
    returns its payload."""
    envelope = admission(registered, **fields)
    stack.publish("notify.vip_alert", [envelope])
    return envelope["payload"]


def mails(stack, wanted: str) -> list:
    found = [
        message_from_bytes(p.read_bytes(), policy=policy.default) for p in stack.sink.messages()
    ]
    return [m for m in found if m["Message-ID"] == wanted]


def alert_key(payload: dict) -> str:
    day = datetime.fromisoformat(payload["at"]).astimezone(SHANGHAI).date()
    return vip.alert_key(payload["event_id"], payload["badge_id"], day)


def alert_id(payload: dict) -> str:
    return message_id(alert_key(payload), MAIL_DOMAIN)


def wait_for(stack, wanted: str, what: str):
    (mail,) = wait_until(lambda: mails(stack, wanted), 30, f"{what} (see {stack.worker_log})")
    return mail


def sms_naming(gateway, name: str) -> list[dict]:
    return [a for a in gateway.to(PHONE) if name in a["body"]["text"]]


def test_a_mayors_first_arrival_at_the_venue_alerts_protocol_once_by_mail_and_sms(stack, gateway):
    event = new_event(stack, name="Global Mayors' Forum 2023")
    mayor = register(
        stack,
        event,
        display_name="王小明",
        title="市长",
        delegation="Guangzhou",
        organisation="广州市人民政府",
        category="mayor",
        language="zh",
    )
    at = datetime.now(UTC).replace(microsecond=0)
    first = admitted(stack, mayor, gate="VIP", at=at.isoformat())

    mail = wait_for(stack, alert_id(first), "the VIP alert")

    local = at.astimezone(SHANGHAI)
    assert mail["To"].addresses[0].addr_spec == PROTOCOL
    assert mail["Subject"] == f"VIP arrival: 王小明市长, VIP gate, {local:%H:%M}"
    assert mail["Content-Language"] == "en"
    for body in (mail.get_body(("plain",)), mail.get_body(("html",))):
        text = body.get_content()
        for shown in ("王小明", "市长", "Guangzhou", "广州市人民政府", "Mayor or governor",
                      "VIP gate", "Venue", f"{local:%H:%M}", "Asia/Shanghai"):  # fmt: skip
            assert shown in text, shown
    (sms,) = wait_until(lambda: sms_naming(gateway, "王小明"), 30, "the VIP SMS")
    assert sms["body"]["text"].startswith("VIP arrival: 王小明市长 (Guangzhou) [Mayor or governor]")
    assert sms["authorization"] == f"Bearer {TOKEN}"

    # The same event again, a hall door, a re-entry after lunch, a delegate at the venue: none
    # alerts. A second VIP behind them (the solo worker takes tasks in order) marks the end.
    stack.publish("notify.vip_alert", [admission_of(first)])
    admitted(
        stack, mayor, gate="Hall A", area="plenary", at=(at + timedelta(minutes=5)).isoformat()
    )
    # The re-entry an hour later, or before midnight in Guangzhou if that comes first (a new
    # day there is a new first arrival).
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), SHANGHAI)
    reentry = min(at + timedelta(hours=1), at + (midnight - at) / 2)
    admitted(stack, mayor, gate="North", at=reentry.isoformat())
    delegate = register(stack, event, display_name="Ana Delegate", category="delegate")
    plain = admitted(stack, delegate, at=at.isoformat())
    guest = register(stack, event, display_name="Zoë Guest", title="Ambassador", category="vip")
    wait_for(stack, alert_id(admitted(stack, guest, at=at.isoformat())), "the second alert")
    wait_until(lambda: sms_naming(gateway, "Zoë Guest"), 30, "the second SMS")

    assert len(mails(stack, alert_id(first))) == 1
    assert len(sms_naming(gateway, "王小明")) == 1
    assert mails(stack, alert_id(plain)) == []
    with stack.sessions() as session:
        rows = session.scalars(
            select(Notification).where(Notification.delegate_id == mayor["delegate"]["id"])
        ).all()
        arrival = session.scalar(select(Arrival).where(Arrival.badge_id == first["badge_id"]))
    alerts = {r.channel: r for r in rows if r.kind.startswith("vip-arrival")}
    assert set(alerts) == {"email", "sms"}
    assert all(r.state == SENT and r.recipient in (PROTOCOL, PHONE) for r in alerts.values())
    assert alerts["sms"].message_id == sms["id"]
    assert (arrival.venue_scan_id, as_utc(arrival.first_at)) == (first["scan_id"], at)


def test_an_admission_synced_hours_later_counts_but_pages_nobody(stack, gateway):
    event = new_event(stack)
    mayor = register(stack, event, display_name="Late Mayor", category="mayor")
    stale = admitted(stack, mayor, source="offline", at=(utcnow() - timedelta(hours=3)).isoformat())
    guest = register(stack, event, display_name="Barrier Guest", category="vip")
    wait_for(stack, alert_id(admitted(stack, guest, at=utcnow().isoformat())), "the barrier")

    assert mails(stack, alert_id(stale)) == [] and sms_naming(gateway, "Late Mayor") == []
    with stack.sessions() as session:
        assert session.scalar(select(Arrival).where(Arrival.badge_id == stale["badge_id"]))


def test_a_batch_alerts_each_vip_once_past_a_malformed_envelope_and_again_changes_nothing(
    stack, gateway
):
    event = new_event(stack)
    mayors = [
        register(stack, event, display_name=f"Batch Mayor {n}", category="mayor") for n in (1, 2)
    ]
    guest = register(stack, event, display_name="Batch Guest", category="delegate")
    at = utcnow().replace(microsecond=0).isoformat()
    first, second, plain = (admission(r, at=at) for r in (*mayors, guest))
    broken = {**first, "event_id": str(uuid.uuid4()), "payload": {"badge_id": 1}}
    batch = [first, broken, plain, second]

    stack.publish("notify.vip_alert", batch)
    for envelope in (first, second):
        wait_for(stack, alert_id(envelope["payload"]), "each VIP's alert")
    arrivals_before = arrival_rows(stack, event)
    stack.publish("notify.vip_alert", batch)  # a redelivery of the whole batch
    barrier = register(stack, event, display_name="Batch Barrier", category="vip")
    wait_for(stack, alert_id(admitted(stack, barrier, at=at)), "the barrier")

    for n, envelope in enumerate((first, second), start=1):
        assert len(mails(stack, alert_id(envelope["payload"]))) == 1
        assert len(sms_naming(gateway, f"Batch Mayor {n}")) == 1
    assert mails(stack, alert_id(plain["payload"])) == []
    # Each admission noted once, as its badge's first at the venue; nothing for the malformed.
    assert arrivals_before == {
        (e["payload"]["badge_id"], e["payload"]["scan_id"]) for e in (first, second, plain)
    }
    after = {row for row in arrival_rows(stack, event) if row[0] != barrier["badge"]["id"]}
    assert after == arrivals_before
    # The malformed envelope is logged (at each delivery) by its id and type, nothing more.
    log = stack.worker_log.read_text().splitlines()
    skipped = [line for line in log if broken["event_id"] in line]
    assert len(skipped) == 2
    assert all("skipped: malformed" in line and CHECKIN_ADMITTED in line for line in skipped)
    assert not any("Batch Mayor" in line for line in skipped)


def test_the_redrive_sends_a_vip_alert_that_was_left_failed(stack):
    mayor = register(stack, new_event(stack), display_name="Redriven Mayor", category="mayor")
    envelope = admission(mayor, at=utcnow().replace(microsecond=0).isoformat())
    long_ago = utcnow() - timedelta(minutes=30)
    with stack.sessions.begin() as session:
        session.add(
            Notification(
                idempotency_key=alert_key(envelope["payload"]),
                event_type=CHECKIN_ADMITTED,
                kind=vip.ALERT,
                recipient=PROTOCOL,
                language="en",
                state=FAILED,
                attempts=1,
                last_error="ConnectionRefusedError: [Errno 111] Connection refused",
                envelope=envelope,  # the task's arguments, as the alert recorded them
                created_at=long_ago,
                updated_at=long_ago,
            )
        )

    stack.app.send_task("notify.redrive_stalled")

    mail = wait_for(stack, alert_id(envelope["payload"]), "the redriven alert")
    assert mail["Subject"].startswith("VIP arrival: Redriven Mayor")


def arrival_rows(stack, event: dict) -> set[tuple[int, int | None]]:
    """(badge, the scan that was its first at the venue) of every arrival noted for an event."""
    with stack.sessions() as session:
        found = session.scalars(select(Arrival).where(Arrival.event_id == event["id"])).all()
    return {(row.badge_id, row.venue_scan_id) for row in found}


def test_each_ended_event_day_sends_the_organisers_one_digest_per_category(stack):
    event = new_event(stack, name=f"Digest Forum {uuid.uuid4().hex[:6]}",
                      starts_on="2023-12-07", ends_on="2023-12-09")  # fmt: skip
    mayors = [register(stack, event, category="mayor") for _ in range(2)]
    register(stack, event, category="mayor", status="pending")
    delegate = register(stack, event, category="delegate")
    register(stack, event, category="delegate", status="waitlisted")
    day_one = datetime(2023, 12, 7, 1, 30, tzinfo=UTC)  # 09:30 in Guangzhou
    admitted(stack, mayors[0], at=day_one.isoformat())
    admitted(stack, mayors[0], area="plenary", at=(day_one + timedelta(hours=1)).isoformat())
    admitted(stack, delegate, at=day_one.isoformat())
    admitted(stack, mayors[1], at=(day_one + timedelta(days=1)).isoformat())  # day two

    # Day one ends at 16:00 UTC; beat (here: the test) looks a little later.
    stack.app.send_task("notify.send_due_digests", args=("2023-12-07T16:30:00+00:00",))
    key = digest_key(event["id"], date(2023, 12, 7))
    mail = wait_for(stack, message_id(key, MAIL_DOMAIN), "the digest")

    assert mail["To"].addresses[0].addr_spec == ORGANISER
    assert mail["Subject"] == f"{event['name']}, day 1 (Thu 7 Dec 2023): 2 arrived, 5 registered"
    text = mail.get_body(("plain",)).get_content()
    lines = {line.split("  ")[0]: line.split()[-6:] for line in text.splitlines() if "  " in line}
    # arrived that day, so far, registered, confirmed, pending, waitlisted
    assert lines["Mayor or governor"] == ["1", "1", "3", "2", "1", "0"]
    assert lines["Delegate"] == ["1", "1", "2", "1", "0", "1"]
    assert lines["VIP guest"] == ["0"] * 6
    assert lines["Total"] == ["2", "2", "5", "3", "1", "1"]
    html = mail.get_body(("html",)).get_content()
    assert ">Mayor or governor</th>" in html and ">Total</th>" in html

    # Beat again: the day has its digest, nothing new is scheduled for it.
    stack.app.send_task("notify.send_due_digests", args=("2023-12-07T16:45:00+00:00",))
    stack.app.send_task("notify.send_due_digests", args=("2023-12-07T16:50:00+00:00",))
    barrier = new_event(stack)
    guest = register(stack, barrier, category="vip")
    wait_for(stack, alert_id(admitted(stack, guest, at=utcnow().isoformat())), "the barrier")
    assert len(mails(stack, message_id(key, MAIL_DOMAIN))) == 1


# --- in-process: the hook for other channels, and no PROTOCOL_EMAIL ------------------------


@pytest.fixture
def outlet(database_url, tmp_path):
    settings = Settings.from_env({"NOTIFY_DATABASE_URL": database_url, "VAR_DIR": str(tmp_path)})
    notify.migrate(settings)
    engine = make_engine(database_url)
    sent = []
    yield Outlet(make_sessions(engine), sent.append, "Rollcall <a@rollcall.test>",
                 lambda *_: None, utcnow), sent  # fmt: skip
    engine.dispose()


def test_vip_arrived_listeners_hear_of_each_first_arrival_even_without_a_protocol_address(outlet):
    outlet, sent = outlet
    heard, texts = [], []
    # Only this test's listener: notify's tasks module, once another test imported it, adds
    # its own (webhooks, on the worker's database), which is not what is tested here.
    others = vip._listeners[:]
    vip._listeners.clear()
    vip.on_arrival(heard.append)
    protocol = vip.Protocol(frozenset({"mayor"}), email=None, phone=PHONE)
    payload = factories.checkin(area="venue", category="mayor", registration_id=None)
    envelope = admission_of(payload)
    hall = factories.checkin(**{**payload, "scan_id": payload["scan_id"] + 1, "area": "plenary"})
    try:
        results = []
        # The same batch twice (a retry), then the same badge at a hall door.
        for admissions in ([envelope], [envelope], [admission_of(hall)]):
            admitted = [parse(e) for e in admissions]
            for noted in arrivals.note_arrivals(outlet.sessions, admitted):
                results.append(vip.alert(noted, outlet, protocol, texts.append))
    finally:
        vip._listeners[:] = others

    assert results == ["alerted (no PROTOCOL_EMAIL)"] * 2 + [vip.NOTED]
    assert sent == []  # no address, no mail
    assert [f.key for f in heard] == [heard[0].key] * 2  # a retry hears it again: same key
    fact = heard[0]
    assert (fact.name, fact.badge_id, fact.gate, fact.area) == (
        "",
        payload["badge_id"],
        "North",
        "venue",
    )
    assert fact.payload()["type"] == "vip.arrived"
    assert texts[0]["to"] == PHONE and texts[0]["text"].startswith(
        f"VIP arrival: badge {payload['badge_id']}"
    )


def test_in_one_batch_only_a_badges_first_admission_at_the_venue_alerts(outlet):
    outlet, _sent = outlet
    protocol = vip.Protocol(frozenset({"mayor"}), email=None)
    entry = factories.checkin(area="venue", category="mayor", registration_id=None)
    again = {**entry, "scan_id": entry["scan_id"] + 1}
    hall = {**entry, "scan_id": entry["scan_id"] + 2, "area": "plenary"}
    other = factories.checkin(event_id=entry["event_id"], area="venue", category="delegate")
    batch = [parse(admission_of(p)) for p in (entry, other, again, hall)]
    others = vip._listeners[:]
    vip._listeners.clear()  # only what this test hears (see the test above)
    try:
        noted = arrivals.note_arrivals(outlet.sessions, batch)
        results = [vip.alert(a, outlet, protocol, lambda _sms: None) for a in noted]
    finally:
        vip._listeners[:] = others

    assert results == ["alerted (no PROTOCOL_EMAIL)", vip.NOTED, vip.NOT_FIRST, vip.NOTED]
    assert [a.first for a in noted] == [True, True, False, False]


# PostgreSQL only: SQLite has one writer at a time, so no insert there waits on another.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_batch_takes_the_arrival_row_a_concurrent_worker_inserted_first(outlet, database_url):
    outlet, _sent = outlet
    taken, new = (factories.checkin(event_id=factories.unique_id(), area="venue") for _ in "ab")
    other = outlet.sessions()  # another worker, its transaction open
    other.begin()
    at = datetime.fromisoformat(taken["at"])
    other.add(
        Arrival(
            event_id=taken["event_id"],
            badge_id=taken["badge_id"],
            category="mayor",
            day=at.date(),
            first_at=at,
            venue_scan_id=taken["scan_id"] - 1,
        )  # fmt: skip
    )
    other.flush()
    batch = [parse(admission_of(payload)) for payload in (new, taken)]
    try:
        with ThreadPoolExecutor(1) as pool:
            noting = pool.submit(arrivals.note_arrivals, outlet.sessions, batch)
            wait_until(lambda: waiting_on_a_lock(outlet), 10, "the batch to wait for that insert")
            other.commit()
            noted = noting.result(timeout=30)
    finally:
        other.close()

    # The other worker's scan was the badge's first; the rest of the batch is noted all the same.
    assert [(a.payload["badge_id"], a.first) for a in noted] == [
        (new["badge_id"], True),
        (taken["badge_id"], False),
    ]


def waiting_on_a_lock(outlet) -> bool:
    with outlet.sessions() as session:
        waiting = text(
            "select count(*) from pg_stat_activity"
            " where wait_event_type = 'Lock' and datname = current_database()"
        )
        return session.execute(waiting).scalar_one() > 0


# Regression (the morning of a 200,000-badge rehearsal, autovacuum off as on this machine): the
# batch's lookup of its arrival rows took the index on (event, day) and read every arrival of
# the day, as long as the planner counted the table's rows as none.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_arrival_lookup_stays_on_its_own_index_as_the_day_fills(outlet, database_url):
    outlet, _sent = outlet
    event_id = factories.unique_id()
    for _ in range(4):  # a busy morning's batches
        batch = [factories.checkin(event_id=event_id, area="venue") for _ in range(500)]
        arrivals.note_arrivals(outlet.sessions, [parse(admission_of(p)) for p in batch])
    day = datetime.fromisoformat(batch[0]["at"]).date()
    with outlet.sessions() as session:
        plan = session.execute(
            text(
                "EXPLAIN SELECT id FROM notify_arrivals"
                " WHERE (event_id, badge_id, day) IN ((:e, 1, :d), (:e, 2, :d))"
            ),
            {"e": event_id, "d": day},
        )
        assert "uq_notify_arrivals_event_id_badge_id_day" in "\n".join(r for (r,) in plan)
