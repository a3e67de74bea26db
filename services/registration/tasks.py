"""registration's tasks: thin, named, idempotent."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from services.registration import erasure
from services.registration.worker import PURGE_EXPIRED, app, sessions


@app.task(
    name=PURGE_EXPIRED,
    acks_late=True,
    autoretry_for=(OperationalError,),  # the database was briefly away
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def purge_expired() -> int:
    """Erase the personal data of every event past its retention period (beat, daily);
    returns how many registrations were erased. Running it twice erases nothing twice."""
    return erasure.purge_expired(sessions())
