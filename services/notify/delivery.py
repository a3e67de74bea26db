"""Send once: a row per message owed, claimed before sending and marked sent after, each step
in its own transaction, so a redelivered event never sends a second mail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from services.notify.mailer import MailRejected, describe
from services.notify.messages import BADGE_MAIL, badge_mail, language_of
from services.notify.models import (
    FAILED,
    QUEUED,
    REJECTED,
    SENDING,
    SENT,
    Notification,
)
from shared.db import utcnow
from shared.events import Envelope

log = logging.getLogger(__name__)

# Longer than any one SMTP hand-over (a few round trips of SMTP_TIMEOUT): a row still
# "sending" after this was left by a worker that died mid-send.
SENDING_LEASE = timedelta(minutes=5)
# Longer than a task's own retries with backoff take, so the redrive never races them.
STALL_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 20

ALREADY_SENT, IN_PROGRESS, SKIPPED = "already sent", "in progress", "skipped"

Send = Callable[[EmailMessage], None]


def idempotency_key(event_id: object, kind: str) -> str:
    return f"{event_id}/{kind}"


def send_badge_mail(
    envelope: dict, payload: dict, *, sessions: sessionmaker, send: Send, mail_from: str
) -> str:
    """Send the badge e-mail for a loaded `delegate.registered` event unless it was sent
    already; returns what happened ("sent", "already sent", "in progress", "skipped")."""
    event_id = envelope["event_id"]
    badge = payload["badge"]
    if badge is None or badge["status"] != "active":  # no badge yet, or a void one
        log.info("badge mail for event %s skipped: badge not active", event_id)
        return SKIPPED
    key = idempotency_key(event_id, BADGE_MAIL)
    delegate = payload["delegate"]
    note_id = _record(
        sessions,
        Notification(
            idempotency_key=key,
            event_type=envelope["type"],
            kind=BADGE_MAIL,
            recipient=delegate["email"],
            language=language_of(delegate["language"]),
            envelope=Envelope().dump(envelope),
        ),
    )
    state = _claim(sessions, note_id)
    if state is not None:
        log.info("badge mail for event %s: %s", event_id, state)
        return ALREADY_SENT if state == SENT else IN_PROGRESS
    try:
        message = badge_mail(payload, mail_from=mail_from, idempotency_key=key, now=utcnow())
        send(message)
    except (ValueError, MailRejected) as exc:  # retrying would give the same answer
        _finish(sessions, note_id, REJECTED, error=describe(exc))
        raise
    except Exception as exc:
        _finish(sessions, note_id, FAILED, error=describe(exc))
        raise
    _finish(sessions, note_id, SENT, message_id=message["Message-ID"])
    log.info("badge mail for event %s sent", event_id)
    return SENT


def _record(sessions: sessionmaker, row: Notification) -> int:
    """Insert the row unless one with its key exists; the id of the row either way."""
    find = select(Notification.id).where(Notification.idempotency_key == row.idempotency_key)
    try:
        with sessions.begin() as session:
            found = session.scalar(find)
            if found is not None:
                return found
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:  # another worker inserted it between our select and insert
        with sessions.begin() as session:
            return session.scalar(find)


def _claim(sessions: sessionmaker, note_id: int) -> str | None:
    """Take the row for sending; None if taken, else the state that stopped us."""
    now = utcnow()
    n = Notification
    claimable = or_(
        n.state.in_((QUEUED, FAILED)),
        and_(n.state == SENDING, n.updated_at < now - SENDING_LEASE),
    )
    with sessions.begin() as session:
        taken = session.execute(
            update(n)
            .where(n.id == note_id, claimable)
            .values(state=SENDING, attempts=n.attempts + 1, updated_at=now)
        ).rowcount
        if taken:
            return None
        return session.scalar(select(n.state).where(n.id == note_id))


def _finish(
    sessions: sessionmaker,
    note_id: int,
    state: str,
    *,
    error: str | None = None,
    message_id: str | None = None,
) -> None:
    now = utcnow()
    values = {"state": state, "updated_at": now, "last_error": error}
    if state == SENT:
        values.update(sent_at=now, message_id=message_id)
    with sessions.begin() as session:
        session.execute(update(Notification).where(Notification.id == note_id).values(**values))


def redrive_stalled(
    sessions: sessionmaker,
    enqueue: Callable[[str, dict], None],
    now: datetime | None = None,
    limit: int = 100,
) -> int:
    """Hand messages stuck unsent (queued or failed for STALL_AFTER, or sending past the
    lease) back to their task via `enqueue(kind, envelope)`; returns how many."""
    now = now or utcnow()
    n = Notification
    stalled = or_(
        and_(n.state.in_((QUEUED, FAILED)), n.updated_at < now - STALL_AFTER),
        and_(n.state == SENDING, n.updated_at < now - SENDING_LEASE),
    )
    with sessions.begin() as session:
        rows = session.scalars(
            select(n)
            .where(stalled, n.attempts < MAX_ATTEMPTS)
            .order_by(n.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            enqueue(row.kind, row.envelope)
            # Touched, so the next round leaves it alone while its task waits in the queue.
            row.updated_at = now
            if row.state == SENDING:
                row.state, row.last_error = FAILED, "sending lease ran out"
    if rows:
        log.info("redrove %d stalled notification(s)", len(rows))
    return len(rows)
