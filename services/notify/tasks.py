"""Notify's tasks: thin, named, idempotent. Each parses its input and calls one function."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from services.notify import delivery
from services.notify.mailer import MailDeferred
from services.notify.messages import BADGE_MAIL
from services.notify.worker import app, resources, settings
from shared.events import parse, queue_of

# Worth another try: the SMTP server or the database is briefly away. Everything else (a
# malformed event, a 5xx refusal) would fail the same way again.
TRANSIENT = (MailDeferred, OperationalError)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
}

# Which task makes a message of each kind again, for the redrive.
TASK_FOR_KIND = {BADGE_MAIL: "notify.badge_mail"}


@app.task(name="notify.badge_mail", **RETRY)
def badge_mail(envelope: dict) -> str:
    """Send the badge e-mail once for a delegate who now holds an active badge (registered
    and confirmed, approved, promoted from the waitlist, or reissued)."""
    loaded, payload = parse(envelope)
    here = resources()
    return delivery.send_badge_mail(
        loaded, payload, sessions=here.sessions, send=here.mailer.send, mail_from=settings.mail_from
    )


@app.task(name="notify.redrive_stalled", acks_late=True)
def redrive_stalled() -> int:
    """Re-enqueue notifications stuck unsent for a while (run by beat every minute)."""
    return delivery.redrive_stalled(resources().sessions, _enqueue)


def _enqueue(kind: str, envelope: dict) -> None:
    task_name = TASK_FOR_KIND[kind]
    app.send_task(task_name, args=(envelope,), queue=queue_of(task_name))
