"""registration's tasks: thin, named, idempotent."""

from __future__ import annotations

import logging

from celery.signals import worker_ready
from sqlalchemy.exc import OperationalError

from services.registration import arrivals, erasure, import_jobs
from services.registration.worker import (
    PURGE_EXPIRED,
    app,
    manage_links,
    sessions,
    settings,
    signer,
)
from shared import db
from shared.events import RECORD_ARRIVAL, parse_batch

log = logging.getLogger(__name__)


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


@app.task(
    name=RECORD_ARRIVAL,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=10,
)
def record_arrival(envelopes: list[dict]) -> int:
    """Note delegates' first admissions (`checkin.admitted`, a batch: shared.events.BATCHED) in
    one transaction; returns how many delegates arrived. A malformed envelope is logged and
    left out; a redelivery changes nothing, so a retry takes the whole batch again."""
    admitted = parse_batch(envelopes, RECORD_ARRIVAL)
    with sessions().begin() as session:
        return arrivals.record(session, [(p["badge_id"], p["at"]) for _, p in admitted])


@app.task(
    name=import_jobs.TASK,
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=10,
)
def import_delegates(self, job_id: int) -> str:
    """Run an import job, or resume it where a run cut short left it; returns its state. A
    job finished already is left as it is; while another live run works on it, ask again."""
    try:
        return import_jobs.run(sessions(), signer(), manage_links(), job_id)
    except import_jobs.Busy as busy:
        raise self.retry(countdown=busy.retry_in, max_retries=100) from busy


@worker_ready.connect
def resume_imports(**_kwargs) -> None:
    """A starting worker sends every unfinished import job again: the message of one that a
    killed worker was running comes back only after the broker's visibility timeout (an hour),
    and a second message is harmless (the job runs once)."""
    engine = db.make_engine(settings.registration_database_url)  # this process's own, closed
    try:
        with db.make_sessions(engine, readonly=True).begin() as session:
            waiting = import_jobs.unfinished(session)
    except OperationalError:
        log.warning("could not look for unfinished import jobs", exc_info=True)
        return
    finally:
        engine.dispose()
    for job_id in waiting:
        import_delegates.apply_async((job_id,))
    if waiting:
        log.info("sent %d unfinished import job(s) again", len(waiting))
