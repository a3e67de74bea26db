"""Notify's mailer against a real SMTP server (aiosmtpd on loopback): a batch's mails over one
connection, a new connection when the server ends the held one, and a batch of delegates'
messages in which one is refused for good and one must wait."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from rollcall.processes import free_port
from services import notify
from services.notify import dispatch
from services.notify.delivery import ALREADY_SENT, IN_PROGRESS, SKIPPED
from services.notify.dispatch import NOTHING, Outlet
from services.notify.mailer import MailDeferred, SmtpMailer
from services.notify.models import REJECTED, SENT
from shared.config import Settings
from shared.db import make_engine, make_sessions, utcnow
from shared.events import DELEGATE_CONFIRMED, DELEGATE_REGISTERED, DELEGATE_UPDATED, parse
from tests.support.factories import (
    badge_info,
    delegate_info,
    envelope,
    event_info,
    registered_envelope,
)

pytestmark = pytest.mark.integration


class Server:
    """Counts the messages each SMTP session delivers; refuses the envelope with 421 (closing
    the session, as RFC 5321 has it) once a session has delivered `per_session`."""

    def __init__(self, per_session: int | None = None):
        self.per_session = per_session
        self.delivered: Counter[int] = Counter()  # session → messages
        self.subjects: list[str] = []
        self.recipients: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused-"):
            return "550 No such user here"
        if address.startswith("later-"):
            return "451 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.per_session and self.delivered[id(session)] >= self.per_session:
            return "421 Too many messages in this session, closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.delivered[id(session)] += 1
        subject = next(line for line in envelope.content.splitlines() if line.startswith(b"Subj"))
        self.subjects.append(subject.decode().removeprefix("Subject: "))
        self.recipients.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


@pytest.fixture
def port() -> int:
    return free_port()


@contextmanager
def serving(handler: Server, port: int) -> Iterator[Controller]:
    """An SMTP server on loopback for the `with` block."""
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def mailer(port: int) -> SmtpMailer:
    settings = dataclasses.replace(Settings.from_env(), smtp_host="127.0.0.1", smtp_port=port)
    return SmtpMailer(settings)


def message(n: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@rollcall.test", "b@example.org", f"mail {n}"
    mail.set_content("Your badge.")
    return mail


def test_mails_sent_within_one_connection_share_it_and_others_get_their_own(port):
    server, smtp = Server(), mailer(port)
    with serving(server, port):
        with smtp.one_connection():
            for n in range(5):
                smtp.send(message(n))
        smtp.send(message(5))
        smtp.send(message(6))
    assert sorted(server.delivered.values()) == [1, 1, 5]
    assert server.subjects == [f"mail {n}" for n in range(7)]


def test_a_server_that_takes_only_so_many_a_session_gets_the_rest_on_new_ones(port):
    server, smtp = Server(per_session=2), mailer(port)
    with serving(server, port), smtp.one_connection():
        for n in range(5):
            smtp.send(message(n))
    assert sorted(server.delivered.values()) == [1, 2, 2]
    assert server.subjects == [f"mail {n}" for n in range(5)]  # each once, in order


def test_a_server_restarted_between_two_mails_takes_the_second_on_a_new_connection(port):
    first, second, smtp = Server(), Server(), mailer(port)
    with smtp.one_connection():
        with serving(first, port):
            smtp.send(message(1))
        # The held connection died with that server.
        with serving(second, port):
            smtp.send(message(2))
        # Nobody listening now: the mail is deferred, not lost, and the next one tries anew.
        with pytest.raises(MailDeferred):
            smtp.send(message(3))
    assert (first.subjects, second.subjects) == (["mail 1"], ["mail 2"])


@pytest.fixture
def delegate_outlet(port, database_url, tmp_path) -> Iterator[tuple[Outlet, SmtpMailer]]:
    """Notify's outlet for delegates' messages on a migrated database, sending through the
    mailer that talks to the test's SMTP server on `port`."""
    settings = Settings.from_env({"NOTIFY_DATABASE_URL": database_url, "VAR_DIR": str(tmp_path)})
    notify.migrate(settings)
    engine = make_engine(database_url)
    smtp = mailer(port)
    outlet = Outlet(make_sessions(engine), smtp.send, "Rollcall <a@rollcall.test>",
                    lambda *_: None, utcnow)  # fmt: skip
    yield outlet, smtp
    engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_batch_sends_the_rest_past_a_refused_and_a_deferred_mail_then_retries_once(
    port, delegate_outlet
):
    server = Server()
    outlet, smtp = delegate_outlet
    addresses = ["one@example.org", "refused-two@example.org", "later-three@example.org",
                 "four@example.org"]  # fmt: skip
    batch = [parse(registered_envelope(email=address)) for address in addresses]
    with serving(server, port):
        with smtp.one_connection(), pytest.raises(MailDeferred):
            dispatch.delegates_changed(batch, outlet)
        # The task's retry: the sent are not sent again, the refused stays refused.
        server.handle_RCPT = accepting_everyone
        with smtp.one_connection():
            again = dispatch.delegates_changed(batch, outlet)
    assert again == [ALREADY_SENT, REJECTED, SENT, ALREADY_SENT]
    assert sorted(server.delivered.values()) == [1, 2]  # one connection a batch
    to = [address for address in addresses if not address.startswith("refused")]
    assert sorted(server.recipients) == sorted(to)


async def accepting_everyone(server, session, envelope, address, rcpt_options):
    envelope.rcpt_tos.append(address)
    return "250 OK"


def test_a_batch_taken_in_one_transaction_sends_each_message_once_in_order(port, delegate_outlet):
    """One delegate registered and approved in the same batch gets both mails, in order; an
    event delivered twice in the batch is mailed once; a change calling for no message sends
    none; a stale change behind a newer one of the same batch is given up; the batch again
    sends nothing more."""
    server = Server()
    outlet, smtp = delegate_outlet
    event = event_info()

    def change(event_type: str, delegate: dict, badge: bool = True) -> dict:
        payload = {"event": event, "delegate": delegate,
                   "badge": badge_info(event_id=event["id"]) if badge else None}  # fmt: skip
        return envelope(event_type, payload)

    ana = delegate_info(email="ana@example.org", status="pending")
    ben = delegate_info(email="ben@example.org")
    cai = delegate_info(email="cai@example.org")
    dee = delegate_info(email="dee@example.org", status="waitlisted")
    twice = change(DELEGATE_REGISTERED, ben)
    envelopes = [
        change(DELEGATE_REGISTERED, ana, badge=False),
        change(DELEGATE_CONFIRMED, {**ana, "revision": 2, "status": "confirmed"}),
        twice,
        change(DELEGATE_UPDATED, cai),
        twice,
        change(DELEGATE_CONFIRMED, {**dee, "revision": 2, "status": "confirmed"}),
        change(DELEGATE_REGISTERED, dee, badge=False),  # revision 1, arriving late
    ]
    batch = [parse(e) for e in envelopes]
    with serving(server, port):
        with smtp.one_connection():
            first = dispatch.delegates_changed(batch, outlet)
        with smtp.one_connection():
            again = dispatch.delegates_changed(batch, outlet)
    assert first == [SENT, SENT, SENT, NOTHING, IN_PROGRESS, SENT, SKIPPED]
    # Again: what was sent is not sent twice (Ana's first message is now behind her newer
    # change, so it is given up before its row is looked at).
    assert again == [SKIPPED, ALREADY_SENT, ALREADY_SENT, NOTHING, ALREADY_SENT, ALREADY_SENT,
                     SKIPPED]  # fmt: skip
    assert server.recipients == ["ana@example.org", "ana@example.org", "ben@example.org",
                                 "dee@example.org"]  # fmt: skip
