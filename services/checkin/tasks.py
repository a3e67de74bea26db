"""checkin's tasks: thin, named, idempotent."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, OperationalError

from services.checkin import closing, replica
from services.checkin.worker import app, sessions
from shared.events import parse


@app.task(
    name="checkin.apply_registration_event",
    # A lost database connection, or a concurrent worker applying the same event first
    # (its row makes the retry a no-op).
    autoretry_for=(OperationalError, IntegrityError),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=20,
)
def apply_registration_event(envelope: dict) -> bool:
    """Apply one of registration's events to the badge replica, once."""
    loaded, payload = parse(envelope)
    with sessions().begin() as session:
        return replica.apply(session, loaded, payload)


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
