"""Sending one webhook delivery: claim it, POST the signed body, record the attempt, and say
what comes next (sent, a retry after a backoff with jitter, or dead after the last attempt).

Each attempt is its own short transaction around the HTTP call, as mail delivery is. A claim
takes the row only in the state and attempt count it was read in, so two copies of a task
(a redelivery, a redrive) never send one attempt twice; a copy that finds the row's retry not
yet due leaves it to the copy that scheduled it."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from services.notify import webhooks
from services.notify.models import (
    DEAD,
    FAILED,
    QUEUED,
    REJECTED,
    SENDING,
    SENT,
    Notification,
    Webhook,
    WebhookAttempt,
)
from shared.db import as_utc, utcnow
from shared.errors import Conflict, NotFound

# Longer than one POST can take (WEBHOOK_TIMEOUT): a row still "sending" after it was left
# by a worker that died mid-attempt, and may be taken again.
SENDING_LEASE = timedelta(minutes=5)
# A task may arrive a little before its countdown is over (clocks, the broker's timer).
EARLY = timedelta(seconds=1)
USER_AGENT = "Rollcall-Webhooks/1"

# (url, body, headers, timeout) → the HTTP status; raises OSError when there is no answer.
Post = Callable[[str, bytes, dict, float], int]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    delay: float  # seconds before the second attempt; doubles each time
    max_delay: float

    def backoff(self, attempts: int) -> float:
        """The wait after `attempts` failed attempts: exponential, capped, with jitter (between
        half and all of it), so endpoints coming back are not hit by every sender at once."""
        ceiling = min(self.max_delay, self.delay * 2 ** (attempts - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Outcome:
    state: str
    retry_in: float | None = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 3xx is an answer, not a new address
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def http_post(url: str, body: bytes, headers: dict, timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(64 * 1024)  # drained, never stored: it may hold anything
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def describe(exc: BaseException) -> str:
    """A short description of a failed POST: the error class and reason, never the URL."""
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, OSError | TimeoutError):
        return f"{type(reason).__name__}: {str(reason)[:200]}"
    return type(reason).__name__


def attempt(
    sessions: sessionmaker,
    delivery_id: int,
    keys: webhooks.Secrets,
    policy: RetryPolicy,
    post: Post = http_post,
    timeout: float = 10.0,
) -> Outcome:
    """Make the next attempt at delivery `delivery_id`, if one is due now."""
    with sessions.begin() as session:
        claimed = _claim(session, delivery_id)
        if isinstance(claimed, Outcome):
            return claimed
        row, hook = claimed
        url, series, number = hook.url, row.series, row.attempts
        body = json.dumps(row.envelope["body"], ensure_ascii=False, separators=(",", ":"))
        secret = keys.secret(hook.secret_nonce)
        event_id, event_type = row.envelope["body"]["event_id"], row.event_type
    raw = body.encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Rollcall-Event-Id": event_id,
        "Rollcall-Event-Type": event_type,
        webhooks.SIGNATURE_HEADER: webhooks.signature(secret, raw),
    }
    started, clock = utcnow(), time.monotonic()
    status, error = None, None
    try:
        status = post(url, raw, headers, timeout)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except Exception as exc:  # no answer at all (refused, timed out, TLS): try again later
        error = describe(exc)
    duration = int((time.monotonic() - clock) * 1000)
    with sessions.begin() as session:
        session.add(
            WebhookAttempt(
                notification_id=delivery_id,
                series=series,
                number=number,
                at=started,
                duration_ms=duration,
                status_code=status,
                error=error,
            )
        )
        return _settle(session, delivery_id, number, error, policy)


def _claim(session: Session, delivery_id: int):
    """(row, webhook) taken for an attempt, or the Outcome that says why not."""
    row = session.get(Notification, delivery_id)
    if row is None or row.channel != webhooks.CHANNEL:
        return Outcome("unknown")
    now = utcnow()
    leased = row.state == SENDING and as_utc(row.updated_at) < now - SENDING_LEASE
    if row.state not in (QUEUED, FAILED) and not leased:
        return Outcome(row.state)
    if row.next_attempt_at is not None and now + EARLY < as_utc(row.next_attempt_at):
        return Outcome("not due")
    hook = session.get(Webhook, row.webhook_id)
    why = None
    if hook is None or hook.deleted_at is not None:
        why = "the webhook was deleted"
    elif not row.envelope.get("body"):
        why = "the delegate's personal data was erased"
    if why:
        _set(session, delivery_id, state=REJECTED, last_error=why, next_attempt_at=None)
        return Outcome(REJECTED)
    n = Notification
    taken = session.execute(
        update(n)
        .where(n.id == delivery_id, n.state == row.state, n.attempts == row.attempts)
        .values(state=SENDING, attempts=n.attempts + 1, updated_at=now)
    ).rowcount
    if not taken:
        return Outcome("in progress")
    session.refresh(row)
    return row, hook


def _settle(session: Session, delivery_id: int, number: int, error, policy) -> Outcome:
    now = utcnow()
    if error is None:
        _set(session, delivery_id, state=SENT, sent_at=now, last_error=None, next_attempt_at=None)
        return Outcome(SENT)
    if number >= policy.max_attempts:
        _set(session, delivery_id, state=DEAD, last_error=error, next_attempt_at=None)
        return Outcome(DEAD)
    wait = policy.backoff(number)
    due = now + timedelta(seconds=wait)
    _set(session, delivery_id, state=FAILED, last_error=error, next_attempt_at=due)
    return Outcome(FAILED, wait)


def _set(session: Session, delivery_id: int, **values) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == delivery_id)
        .values(updated_at=utcnow(), **values)
    )


def replay(session: Session, event_id: int, delivery_id: int) -> Notification:
    """Send a dead delivery again: a new series of attempts, the same event id (receivers
    dedupe on it) and body. The caller enqueues the delivery task after committing."""
    row = session.get(Notification, delivery_id)
    if row is None or row.channel != webhooks.CHANNEL or row.event_id != event_id:
        raise NotFound("not_found", "This event has no such webhook delivery.")
    if row.state != DEAD:
        raise Conflict("not_dead", f"Only a dead delivery is replayed; this one is {row.state}.")
    hook = session.get(Webhook, row.webhook_id)
    if hook is None or hook.deleted_at is not None:
        raise Conflict("webhook_deleted", "Its webhook was deleted; register the endpoint again.")
    if not row.envelope.get("body"):
        raise Conflict("erased", "The delegate's personal data was erased; nothing to send.")
    row.state, row.attempts, row.series = QUEUED, 0, row.series + 1
    row.last_error, row.next_attempt_at, row.updated_at = None, None, utcnow()
    session.flush()
    return row
