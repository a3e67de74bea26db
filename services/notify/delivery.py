"""Send once: a row per message owed, recorded and claimed before sending (a delegate's message
in the transaction that applies their change) and marked sent after, in a transaction of its
own, so a redelivered event or a retried task never sends a second mail.

The one window no sender can close (the SMTP server accepted the message and the worker died
before recording it) resends the same deterministic `Message-ID`, so the receiving side can
drop the repeat."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.notify.mailer import MailRejected, describe
from services.notify.models import FAILED, QUEUED, REJECTED, SENDING, SENT, Notification
from shared.config import Settings
from shared.db import among, insert_returning_ids, utcnow

log = logging.getLogger(__name__)


@functools.cache
def sending_lease() -> timedelta:
    """NOTIFY_SENDING_LEASE (5 min): longer than any one SMTP hand-over (a few round trips of
    SMTP_TIMEOUT, plus the wait for a token of the mail rate), so a row still "sending" after
    it was left by a worker that died; and longer than a task's own retries with backoff take,
    so the redrive never races them for a row queued or failed. Read once a process from its
    environment, as the worker's settings are."""
    return timedelta(seconds=Settings.from_env().notify_sending_lease)


MAX_ATTEMPTS = 20

ALREADY_SENT, IN_PROGRESS, SKIPPED = "already sent", "in progress", "skipped"

Send = Callable[[EmailMessage], None]


def idempotency_key(event_id: object, kind: str) -> str:
    """The key of the message of `kind` that the event `event_id` calls for."""
    return f"{event_id}/{kind}"


@dataclass(frozen=True)
class Owed:
    """A message owed: its key, what it is, to whom, and how its task is called again."""

    key: str
    kind: str
    event_type: str
    recipient: str
    language: str
    delegate_id: int | None
    task_args: dict  # kept as `envelope`: what the redrive hands back to the message's task

    def values(self) -> dict:
        """Its notification row's columns (the rest take their defaults)."""
        return {
            "idempotency_key": self.key,
            "event_type": self.event_type,
            "kind": self.kind,
            "delegate_id": self.delegate_id,
            "recipient": self.recipient,
            "language": self.language,
            "envelope": self.task_args,
        }

    def row(self) -> Notification:
        return Notification(**self.values())


def deliver(
    sessions: sessionmaker, owed: Owed, build: Callable[[], EmailMessage], send: Send
) -> str:
    """Send the message `build` makes unless it was sent already; returns what happened
    ("sent", "already sent", "in progress", or the final state that stopped it)."""
    note_id, _created = record(sessions, owed.row())
    return send_recorded(sessions, note_id, build, send, what=owed.key)


def send_recorded(
    sessions: sessionmaker,
    note_id: int,
    build: Callable[[], EmailMessage],
    send: Send,
    what: str = "",
) -> str:
    """Claim the recorded row `note_id`, build and send its message, record the outcome."""
    state = claim(sessions, note_id)
    if state is not None:
        return stopped(state, what or note_id)
    return send_claimed(sessions, note_id, build, send, what)


def send_claimed(
    sessions: sessionmaker,
    note_id: int,
    build: Callable[[], EmailMessage],
    send: Send,
    what: object = "",
) -> str:
    """Build and send the message of the row `note_id`, claimed for us; record the outcome."""
    try:
        message = build()
        send(message)
    except (ValueError, MailRejected) as exc:  # retrying would give the same answer
        _finish(sessions, note_id, REJECTED, error=describe(exc))
        raise
    except Exception as exc:
        _finish(sessions, note_id, FAILED, error=describe(exc))
        raise
    _finish(sessions, note_id, SENT, message_id=message["Message-ID"])
    log.info("notification %s sent", what or note_id)
    return SENT


def stopped(state: str, what: object) -> str:
    """What a claim that found the row `state` (sent, being sent, or given up) means."""
    log.info("notification %s: %s", what, state)
    return {SENT: ALREADY_SENT, SENDING: IN_PROGRESS}.get(state, state)


def give_up(sessions: sessionmaker, key: str, why: str) -> None:
    """Mark the message with `key`, if one was recorded and is not sent, as never to be sent
    (overtaken by a newer change, or its delegate erased), so the redrive leaves it alone."""
    with sessions.begin() as session:
        give_up_in(session, key, why)


def give_up_in(session: Session, key: str, why: str) -> None:
    """`give_up`, in the caller's transaction."""
    n = Notification
    session.execute(
        update(n)
        .where(n.idempotency_key == key, n.state.in_((QUEUED, FAILED)))
        .values(state=REJECTED, last_error=why, updated_at=utcnow())
    )
    log.info("notification %s not sent: %s", key, why)


def claim_recorded(session: Session, owed: list[Owed]) -> list[tuple[int, str | None]]:
    """In the caller's transaction: record the messages owed unless rows with their keys exist,
    and claim them for sending; for each, (its row's id, None) when claimed, else (its id, the
    state that stopped us). A few statements whatever the batch's size: the rows found by key,
    the missing inserted, all claimed in one UPDATE. A key owed twice is claimed for the first;
    the second finds it being sent. A concurrent worker inserting the same key makes this raise
    IntegrityError: run the transaction again (`replica.retrying_once`), which then finds it."""
    if not owed:
        return []
    n = Notification
    keys = [o.key for o in owed]
    ids = dict(
        session.execute(
            select(n.idempotency_key, n.id).where(among(session, n.idempotency_key, keys))
        ).all()
    )
    missing = list({o.key: o for o in owed if o.key not in ids}.values())
    rows = [dict(o.values(), state=QUEUED, attempts=0) for o in missing]
    ids.update(
        zip([o.key for o in missing], insert_returning_ids(session, n.__table__, rows), strict=True)
    )
    now = utcnow()
    taken = set(
        session.scalars(
            update(n)
            .where(among(session, n.id, set(ids.values())), _claimable(now))
            .values(state=SENDING, attempts=n.attempts + 1, updated_at=now)
            .returning(n.id)
        )
    )
    left = set(ids.values()) - taken
    found = select(n.id, n.state).where(among(session, n.id, left))
    states = dict(session.execute(found).all()) if left else {}
    claims = []
    for key in keys:
        note_id = ids[key]
        if note_id in taken:
            taken.discard(note_id)  # the first of the key's claims
            claims.append((note_id, None))
        else:
            claims.append((note_id, states.get(note_id, SENDING)))
    return claims


def record(sessions: sessionmaker, row: Notification) -> tuple[int, bool]:
    """Insert the row unless one with its key exists; (its id, whether it is new)."""
    find = select(Notification.id).where(Notification.idempotency_key == row.idempotency_key)
    try:
        with sessions.begin() as session:
            found = session.scalar(find)
            if found is not None:
                return found, False
            session.add(row)
            session.flush()
            return row.id, True
    except IntegrityError:  # another worker inserted it between our select and insert
        with sessions.begin() as session:
            return session.scalar(find), False


def claim(sessions: sessionmaker, note_id: int) -> str | None:
    """Take the row for sending, in a transaction of its own; None if taken, else the state
    that stopped us."""
    with sessions.begin() as session:
        return _claim(session, note_id)


def _claim(session: Session, note_id: int) -> str | None:
    """Take the row for sending; None if taken, else the state that stopped us."""
    now = utcnow()
    n = Notification
    taken = session.execute(
        update(n)
        .where(n.id == note_id, _claimable(now))
        .values(state=SENDING, attempts=n.attempts + 1, updated_at=now)
    ).rowcount
    if taken:
        return None
    return session.scalar(select(n.state).where(n.id == note_id))


def _claimable(now: datetime):
    """A row that may be taken for sending: queued, failed, or left "sending" past its lease."""
    n = Notification
    return or_(
        n.state.in_((QUEUED, FAILED)),
        and_(n.state == SENDING, n.updated_at < now - sending_lease()),
    )


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
    """Hand messages stuck unsent (queued, failed or sending for longer than the lease) back
    to their task via `enqueue(kind, task_args)`; returns how many."""
    now = now or utcnow()
    n = Notification
    stalled = and_(n.state.in_((QUEUED, FAILED, SENDING)), n.updated_at < now - sending_lease())
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
