"""Every message a delegate should get, once, in their language, for real: the registration
service (in-process, on its own database) makes the events through its API, its relay hands
notify's share to a real Celery worker over a real Redis, and the mails arrive at the SMTP sink.
Redelivered events send nothing new; an erasure leaves no address in notify's tables; the
reminders the day before go out once."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta
from email import message_from_bytes, policy

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from services.notify.delivery import idempotency_key
from services.notify.messages import (
    APPROVED,
    BADGE_KINDS,
    BADGE_MAIL,
    CANCELLED,
    PROMOTED,
    RECEIVED,
    REISSUED,
    REJECTED,
    REMINDER,
    WAITLISTED,
    message_id,
)
from services.notify.models import KnownDelegate, KnownEvent, Notification
from services.notify.reminders import reminder_key, window
from shared import events as ev
from shared.events import queue_of
from shared.manage_links import ManageLinks, manage_url
from tests.conftest import fresh_database, make_settings
from tests.integration.conftest import bearer, delegate
from tests.support.factories import registered_envelope
from tests.support.notify_stack import (
    MAIL_DOMAIN,
    MANAGE_LINK_KEY,
    REGISTRATION_URL,
    notify_stack,
)
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration

LANGUAGE = {"en": "en", "zh": "zh-Hans"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def notify_database(request, tmp_path_factory):
    with fresh_database(request.param, tmp_path_factory.mktemp("notify-db"), request) as url:
        yield url


@pytest.fixture
def stack(tmp_path_factory, notify_database):
    """A notify stack for each test: each test's forum is a fresh registration database, whose
    ids start again at 1, and notify (rightly) takes ids as registration's, unique for good."""
    with notify_stack(tmp_path_factory.mktemp("notify"), notify_database) as running:
        with running.engine.begin() as connection:
            for table in (Notification, KnownDelegate, KnownEvent):
                connection.execute(table.__table__.delete())
        yield running


@pytest.fixture
def database_url(tmp_path):
    """Registration's database: SQLite is enough here (notify's runs on both kinds)."""
    return f"sqlite:///{tmp_path / 'rollcall.db'}"


@pytest.fixture
def settings(tmp_path, database_url, redis_url, badge_keys):
    """The forum's settings, with the manage-link key the notify worker holds too."""
    from services import checkin, notify, registration

    settings = make_settings(
        tmp_path, database_url, redis_url, badge_keys, MANAGE_LINK_KEY=MANAGE_LINK_KEY
    )
    for service in (registration, checkin, notify):
        service.migrate(settings)
    return settings


class Congress:
    """A future event of our own in the in-process registration service, and what its relay
    has handed to notify so far."""

    def __init__(self, forum, stack, starts_on: date):
        self.forum, self.stack = forum, stack
        self.slug = f"notify-{uuid.uuid4().hex[:8]}"
        body = {
            "slug": self.slug,
            "name": "Urban Futures Summit",
            "venue": "Pazhou Exhibition Hall",
            "timezone": "Asia/Shanghai",
            "starts_on": starts_on.isoformat(),
            "ends_on": (starts_on + timedelta(days=2)).isoformat(),
            "categories": [
                {"code": "mayor", "label": "Mayor", "colour": "#b3261e"},
                {"code": "media", "label": "Media", "needs_approval": True},
                {"code": "speaker", "label": "Speaker", "capacity": 1},
            ],
        }
        answer = forum.registration.post(
            "/api/v1/events", json=body, headers=bearer(forum.organizer_token)
        )
        assert answer.status_code == 201, answer.get_json()
        self.organizer = bearer(answer.get_json()["organizer_token"])
        self.sent = 0

    def register(self, **fields) -> dict:
        answer = self.forum.registration.post(
            f"/api/v1/events/{self.slug}/registrations", json=delegate(**fields)
        )
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()

    def act(self, registration: dict, action: str, body: dict | None = None, as_delegate=False):
        headers = bearer(registration["manage_token"]) if as_delegate else self.organizer
        answer = self.forum.registration.post(
            f"/api/v1/registrations/{registration['id']}/{action}", json=body or {}, headers=headers
        )
        assert answer.status_code == 200, answer.get_json()

    def relay(self) -> list[tuple[str, dict]]:
        """Hand every event registration has written since the last call to notify, as the
        relay does; returns notify's (task, envelope) pairs among them."""
        self.forum.replicate()
        batch = self.forum.published[self.sent :]
        self.sent = len(self.forum.published)
        ours = [(task, envelope) for task, envelope in batch if queue_of(task) == "notify"]
        for task, envelope in ours:
            self.stack.publish(task, envelope)
        # The messages' tasks; the webhook task (no endpoints here) sends nothing.
        return [(task, envelope) for task, envelope in ours if task != ev.NOTIFY_WEBHOOKS]

    def envelope(self, envelopes: list[dict], person: dict, event_type: str) -> dict:
        (found,) = [
            e
            for e in envelopes
            if e["type"] == event_type and e["payload"]["delegate"]["id"] == person["id"]
        ]
        return found


def mails(stack) -> list:
    return [
        message_from_bytes(p.read_bytes(), policy=policy.default) for p in stack.sink.messages()
    ]


def by_message_id(stack, wanted: set[str]) -> dict[str, list]:
    found: dict[str, list] = {}
    for mail in mails(stack):
        if mail["Message-ID"] in wanted:
            found.setdefault(mail["Message-ID"], []).append(mail)
    return found


def wait_for(stack, wanted: set[str], what: str) -> dict[str, list]:
    return wait_until(
        lambda: (found := by_message_id(stack, wanted)).keys() == wanted and found,
        40,
        f"{what} (see {stack.worker_log})",
    )


def mid(envelope: dict, kind: str) -> str:
    return message_id(idempotency_key(envelope["event_id"], kind), MAIL_DOMAIN)


def barrier(stack) -> None:
    """A message queued behind everything published so far: once it is here, the solo worker
    has handled all of that."""
    last = registered_envelope()
    stack.publish("notify.delegate_message", last)
    wait_for(stack, {mid(last, BADGE_MAIL)}, "the barrier mail")


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def check_badge(mail, envelope: dict) -> None:
    """PNG and PDF attached; the QR (inline and attached) holds this event's badge token; the
    PDF opens and prints the name."""
    badge, name = envelope["payload"]["badge"], envelope["payload"]["delegate"]["display_name"]
    png, pdf = list(mail.iter_attachments())
    assert (png.get_filename(), pdf.get_filename()) == (
        f"badge-{badge['id']}.png",
        f"badge-{badge['id']}.pdf",
    )
    inline = mail.get_body(("related",)).get_payload()[1]
    for image in (png, inline):
        (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
        assert code.text == badge["token"]
    page = PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text()
    assert name.split()[0] in page


def manage_link(envelope: dict) -> str | None:
    person = envelope["payload"]["delegate"]
    nonce = person.get("manage_nonce")
    if not nonce:
        return None
    token = ManageLinks(bytes.fromhex(MANAGE_LINK_KEY)).token(nonce)
    return manage_url(REGISTRATION_URL, person["id"], token)


def test_each_message_arrives_once_in_the_delegates_language_and_a_redelivery_sends_nothing(
    forum, stack
):
    congress = Congress(forum, stack, date.today() + timedelta(days=400))
    anna = congress.register(given_name="Anna", family_name="Lindqvist", category="mayor")
    bo = congress.register(given_name="博", family_name="李", category="media", language="zh")
    cam = congress.register(given_name="Cam", family_name="Nguyen", category="media")
    dai = congress.register(given_name="岱", family_name="王", category="speaker", language="zh")
    eve = congress.register(given_name="Eve", family_name="Okafor", category="speaker")
    congress.act(bo, "approve")
    congress.act(cam, "reject", {"reason": "Accreditation could not be verified."})
    congress.act(dai, "cancel", {"reason": "Schedule conflict."}, as_delegate=True)  # Eve moves up
    congress.act(anna, "badge/reissue")
    handed = congress.relay()
    envelopes = [envelope for _task, envelope in handed]

    expected = {  # (who, event, message kind, language)
        (anna["id"], ev.DELEGATE_REGISTERED): (BADGE_MAIL, "en"),
        (anna["id"], ev.BADGE_REISSUED): (REISSUED, "en"),
        (bo["id"], ev.DELEGATE_REGISTERED): (RECEIVED, "zh"),
        (bo["id"], ev.DELEGATE_CONFIRMED): (APPROVED, "zh"),
        (cam["id"], ev.DELEGATE_REGISTERED): (RECEIVED, "en"),
        (cam["id"], ev.DELEGATE_REJECTED): (REJECTED, "en"),
        (dai["id"], ev.DELEGATE_REGISTERED): (BADGE_MAIL, "zh"),
        (dai["id"], ev.DELEGATE_CANCELLED): (CANCELLED, "zh"),
        (eve["id"], ev.DELEGATE_REGISTERED): (WAITLISTED, "en"),
        (eve["id"], ev.DELEGATE_CONFIRMED): (PROMOTED, "en"),
    }
    people = {p["id"]: p for p in (anna, bo, cam, dai, eve)}
    owed = {}
    for (person_id, event_type), (kind, language) in expected.items():
        envelope = congress.envelope(envelopes, people[person_id], event_type)
        owed[mid(envelope, kind)] = (envelope, kind, language)

    arrived = wait_for(stack, set(owed), "ten messages")

    for message_id_, (envelope, kind, language) in owed.items():
        (mail,) = arrived[message_id_]
        person = envelope["payload"]["delegate"]
        assert mail["To"].addresses[0].addr_spec == person["email"], kind
        assert mail["Content-Language"] == LANGUAGE[language], kind
        assert mail.get_body(("html",)) is not None, kind
        text = text_of(mail)
        link = manage_link(envelope)
        assert link and link in text, kind
        if kind in BADGE_KINDS:
            check_badge(mail, envelope)
        else:
            assert list(mail.iter_attachments()) == [], kind
    # The link works: its token is the delegate's manage token.
    link = manage_link(congress.envelope(envelopes, anna, ev.DELEGATE_REGISTERED))
    token = link.split("#token=", 1)[1]
    own = forum.registration.get(f"/api/v1/registrations/{anna['id']}", headers=bearer(token))
    assert own.status_code == 200, own.get_json()
    assert "Accreditation could not be verified." in text_of(
        arrived[mid(congress.envelope(envelopes, cam, ev.DELEGATE_REJECTED), REJECTED)][0]
    )
    assert "原因：Schedule conflict." in text_of(
        arrived[mid(congress.envelope(envelopes, dai, ev.DELEGATE_CANCELLED), CANCELLED)][0]
    )

    # The relay retries, the broker redelivers: every event again, then a barrier behind them.
    for task, envelope in handed:
        stack.publish(task, envelope)
    barrier(stack)

    again = by_message_id(stack, set(owed))
    assert {m: len(found) for m, found in again.items()} == dict.fromkeys(owed, 1)
    with stack.sessions() as session:
        rows = session.scalars(
            select(Notification).where(Notification.delegate_id.in_(list(people)))
        ).all()
    assert sorted(r.message_id for r in rows) == sorted(owed)
    assert {(r.state, r.attempts) for r in rows} == {("sent", 1)}


def test_an_erasure_leaves_no_address_or_name_in_notifys_tables(forum, stack):
    congress = Congress(forum, stack, date.today() + timedelta(days=400))
    person = congress.register(
        given_name="Zoë", family_name="Ångström-Lévis", email=f"zoe-{uuid.uuid4().hex[:8]}@x.org"
    )
    (registered,) = [e for _t, e in congress.relay() if e["type"] == ev.DELEGATE_REGISTERED]
    wait_for(stack, {mid(registered, BADGE_MAIL)}, "the badge mail")

    congress.act(person, "erase", as_delegate=True)
    (task, erased), *_checkin = [(t, e) for t, e in congress.relay()]
    assert (task, erased["type"]) == ("notify.forget_delegate", ev.DELEGATE_ERASED)

    def forgotten():
        with stack.sessions() as session:
            row = session.get(KnownDelegate, person["id"])
            return row is not None and row.erased_at is not None and row

    row = wait_until(forgotten, 20, "notify to forget the delegate")
    assert (row.email, row.display_name, row.manage_nonce, row.badge_token) == (None,) * 4
    assert row.status == "confirmed" and row.category == "mayor"  # anonymous counts stay
    # The mail that went out is still counted, without whom it went to.
    with stack.sessions() as session:
        (note,) = session.scalars(
            select(Notification).where(Notification.delegate_id == person["id"])
        ).all()
    assert (note.kind, note.state, note.recipient, note.envelope) == (BADGE_MAIL, "sent", "", {})
    dump = _everything_in(stack)
    for personal in (person["email"], "Ångström", "Zoë"):
        assert personal not in dump

    # The registration redelivered after the erasure neither mails nor brings the data back.
    stack.publish("notify.delegate_message", registered)
    barrier(stack)
    assert (
        len(by_message_id(stack, {mid(registered, BADGE_MAIL)})[mid(registered, BADGE_MAIL)]) == 1
    )
    assert person["email"] not in _everything_in(stack)


def _everything_in(stack) -> str:
    """Every row of notify's tables, as text."""
    with stack.engine.connect() as connection:
        return "\n".join(
            repr(tuple(row))
            for table in (Notification, KnownDelegate, KnownEvent)
            for row in connection.execute(select(table.__table__))
        )


def test_reminders_go_the_day_before_to_confirmed_delegates_once_in_their_language(forum, stack):
    starts_on = date.today() + timedelta(days=30)
    congress = Congress(forum, stack, starts_on)
    anna = congress.register(given_name="Anna", family_name="Berg", category="mayor")
    wei = congress.register(given_name="伟", family_name="张", category="mayor", language="zh")
    gone = congress.register(given_name="Gone", family_name="Away", category="mayor")
    pending = congress.register(given_name="Pat", family_name="Ience", category="media")
    congress.act(gone, "cancel", as_delegate=True)
    envelopes = [envelope for _task, envelope in congress.relay()]
    registered = [congress.envelope(envelopes, p, ev.DELEGATE_REGISTERED) for p in (anna, wei)]
    wait_for(stack, {mid(e, BADGE_MAIL) for e in registered}, "the badge mails")
    event_id = registered[0]["payload"]["event"]["id"]
    opens, _closes = window(starts_on, "Asia/Shanghai")

    too_early = (opens - timedelta(minutes=1)).isoformat()
    stack.app.send_task("notify.send_due_reminders", kwargs={"now": too_early}, queue="notify")
    at_ten = (opens + timedelta(minutes=3)).isoformat()
    for _ in range(2):  # beat's next round finds nobody left to remind
        stack.app.send_task("notify.send_due_reminders", kwargs={"now": at_ten}, queue="notify")
    wanted = {
        message_id(reminder_key(event_id, p["id"]), MAIL_DOMAIN): (p, language)
        for p, language in ((anna, "en"), (wei, "zh"))
    }
    arrived = wait_for(stack, set(wanted), "two reminders")
    barrier(stack)

    for message_id_, (person, language) in wanted.items():
        (mail,) = by_message_id(stack, {message_id_})[message_id_]
        assert mail["Content-Language"] == LANGUAGE[language]
        assert mail["To"].addresses[0].addr_spec == person["email"]
        assert ("tomorrow" if language == "en" else "明天") in text_of(mail)
        assert arrived[message_id_]
    with stack.sessions() as session:
        reminded = session.scalars(
            select(Notification.delegate_id).where(
                Notification.kind == REMINDER,
                Notification.delegate_id.in_([anna["id"], wei["id"], gone["id"], pending["id"]]),
            )
        ).all()
    assert sorted(reminded) == sorted([anna["id"], wei["id"]])
