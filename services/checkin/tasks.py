"""checkin's tasks: thin, named, idempotent."""

from __future__ import annotations

import logging
from functools import cache

import redis
from sqlalchemy.exc import IntegrityError, OperationalError

from services.checkin import catch_up, closing, replica
from services.checkin.worker import app, sessions, settings
from shared.events import REPLICA, parse_batch

log = logging.getLogger(__name__)
# After a gap, wait this long for the missing event (workers apply events in parallel, so it
# is often just behind), then catch up from registration's feed.
GAP_GRACE = 30
CATCH_UP_PLANNED = "checkin:catch-up-planned"


@app.task(
    name=REPLICA,
    # A lost database connection, or a concurrent worker applying the same event first
    # (its row makes the retry a no-op).
    autoretry_for=(OperationalError, IntegrityError),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=20,
)
def apply_registration_event(envelopes: list[dict] | dict) -> int:
    """Apply registration's events (a batch: shared.events.BATCHED) to the badge replica in
    one transaction, in order, each once; returns how many were new. When the event before
    the batch is missing, catch up from registration's feed shortly. A malformed envelope is
    logged and left out; a retry takes the whole batch again, which changes nothing twice."""
    events = parse_batch(envelopes, REPLICA)
    sequences = {loaded["sequence"] for loaded, _payload in events}
    with sessions().begin() as session:
        applied = [loaded for loaded, payload in events if replica.apply(session, loaded, payload)]
        gaps = [
            loaded["sequence"] - 1
            for loaded in applied
            if loaded["sequence"] - 1 not in sequences
            and catch_up.gap_before(session, loaded["producer"], loaded["sequence"])
        ]
    if gaps:
        log.warning("registration events %s missing", ", ".join(map(str, gaps)))
        _catch_up_soon()
    return len(applied)


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=1)


def _catch_up_soon() -> None:
    """One catch-up GAP_GRACE from now, however many workers notice gaps meanwhile (a burst of
    events applied in parallel arrives out of order often)."""
    try:
        if _redis().set(CATCH_UP_PLANNED, "1", nx=True, ex=GAP_GRACE):
            catch_up_with_feed.apply_async(countdown=GAP_GRACE, expires=GAP_GRACE + 60)
    except redis.RedisError as error:  # the periodic catch-up repairs it all the same
        log.warning("catch-up not planned: %s", error)


@app.task(
    name="checkin.catch_up",
    # registration unreachable (URLError is an OSError), or its database busy
    autoretry_for=(OSError, OperationalError),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def catch_up_with_feed() -> dict[str, int]:
    """Apply whatever registration's change feed has that the replica missed (a lost message);
    run periodically and after a gap in the sequence. Harmless to run often."""
    result = catch_up.catch_up(sessions(), catch_up.http_fetch(settings))
    return {"seen": result.seen, "applied": result.applied, "through": result.through}


@app.task(
    name="checkin.close_day",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=10,
)
def close_day() -> dict[str, int]:
    """Check out everyone still inside whose event's local day has ended; harmless to run
    often (only entries from before today, local time, are closed)."""
    return closing.close_day(sessions())
