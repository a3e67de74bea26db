"""The notify worker for real: redis-server, a Celery worker process, the SMTP sink, and a
database. Events go in through the broker; mails come out as .eml files."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from services.notify.delivery import idempotency_key
from services.notify.messages import BADGE_MAIL, message_id
from services.notify.models import FAILED, SENT, Notification
from shared.db import utcnow
from tests.conftest import fresh_database
from tests.support.factories import event_info, registered_envelope
from tests.support.notify_stack import MAIL_DOMAIN, notify_stack
from tests.support.processes import (
    wait_until,
)

pytestmark = pytest.mark.integration

TASK = "notify.delegate_message"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def notify_database(request, tmp_path_factory) -> Iterator[str]:
    """A fresh database of each kind for this module (PostgreSQL as the root conftest finds it)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("notify-db"), request) as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory, notify_database):
    with notify_stack(tmp_path_factory.mktemp("notify"), notify_database) as running:
        yield running


def mails_with_id(stack, wanted: str) -> list:
    mails = [
        message_from_bytes(p.read_bytes(), policy=policy.default) for p in stack.sink.messages()
    ]
    return [m for m in mails if m["Message-ID"] == wanted]


def wait_for_mail(stack, envelope: dict):
    """The one mail for this event's badge, once it has arrived."""
    wanted = message_id(idempotency_key(envelope["event_id"], BADGE_MAIL), MAIL_DOMAIN)
    mails = wait_until(
        lambda: mails_with_id(stack, wanted), 25, f"badge mail {wanted} (see {stack.worker_log})"
    )
    assert len(mails) == 1
    return mails[0]


def notification(stack, envelope: dict) -> Notification | None:
    key = idempotency_key(envelope["event_id"], BADGE_MAIL)
    with stack.sessions() as session:
        return session.scalar(select(Notification).where(Notification.idempotency_key == key))


def decoded_attachment(mail) -> str:
    attachment, _pdf = list(mail.iter_attachments())
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(attachment.get_content())))
    return attachment.get_filename(), code.text


def test_a_registration_mails_the_badge_once_even_when_the_event_is_delivered_twice(stack, caplog):
    caplog.set_level(logging.INFO, logger="rollcall.smtp_sink")
    envelope = registered_envelope(
        language="zh",
        display_name="Σίμος Ρούσσος 张伟",
        event=event_info(name="Global Mayors' Forum 2023"),
    )
    badge = envelope["payload"]["badge"]

    stack.publish(TASK, envelope)
    mail = wait_for_mail(stack, envelope)

    assert mail["Subject"] == "您的Global Mayors' Forum 2023参会证件"
    assert mail["Content-Language"] == "zh-Hans"
    assert mail["To"].addresses[0].display_name == "Σίμος Ρούσσος 张伟"
    assert decoded_attachment(mail) == (f"badge-{badge['id']}.png", badge["token"])

    # The same event again (a relay retry, a redelivery), then a different one behind it:
    # the solo worker takes tasks in order, so once the second mail is here the repeat is done.
    stack.publish(TASK, envelope)
    barrier = registered_envelope(language="en")
    stack.publish(TASK, barrier)
    wait_for_mail(stack, barrier)

    wanted = message_id(idempotency_key(envelope["event_id"], BADGE_MAIL), MAIL_DOMAIN)
    assert len(mails_with_id(stack, wanted)) == 1
    row = notification(stack, envelope)
    assert (row.state, row.attempts, row.message_id) == (SENT, 1, wanted)
    sink_lines = [r.getMessage() for r in caplog.records if r.name == "rollcall.smtp_sink"]
    assert sink_lines, "the sink logs one line per mail"
    assert not any("@" in line or "Σίμος" in line for line in sink_lines)


def test_a_badge_mail_that_meets_a_closed_smtp_server_arrives_once_the_server_is_back(stack):
    envelope = registered_envelope(language="en", display_name="José Ángel Núñez")
    stack.sink.stop()
    try:
        stack.publish(TASK, envelope)
        row = wait_until(
            lambda: (n := notification(stack, envelope)) and n.state == FAILED and n,
            15,
            "the first attempt to fail",
        )
        assert row.last_error.startswith("ConnectionRefusedError")
        assert "example.org" not in row.last_error
    finally:
        stack.sink.start()

    mail = wait_for_mail(stack, envelope)

    assert mail["To"].addresses[0].display_name == "José Ángel Núñez"
    row = wait_until(lambda: (n := notification(stack, envelope)).state == SENT and n, 5, "sent")
    assert row.attempts >= 2 and row.last_error is None


def test_the_redrive_job_sends_a_notification_that_was_left_failed(stack):
    envelope = registered_envelope(language="en", display_name="Zoë Ångström")
    long_ago = utcnow() - timedelta(minutes=30)
    with stack.sessions.begin() as session:
        session.add(
            Notification(
                idempotency_key=idempotency_key(envelope["event_id"], BADGE_MAIL),
                event_type="delegate.registered",
                kind=BADGE_MAIL,
                recipient=envelope["payload"]["delegate"]["email"],
                language="en",
                state=FAILED,
                attempts=1,
                last_error="ConnectionRefusedError: [Errno 111] Connection refused",
                envelope=envelope,
                created_at=long_ago,
                updated_at=long_ago,
            )
        )

    stack.app.send_task("notify.redrive_stalled")
    mail = wait_for_mail(stack, envelope)

    assert decoded_attachment(mail)[1] == envelope["payload"]["badge"]["token"]
    row = wait_until(lambda: (n := notification(stack, envelope)).state == SENT and n, 5, "sent")
    assert row.attempts == 2
