"""registration's Celery app: its own housekeeping, on its own queue.

    celery -A services.registration.worker worker -Q registration --concurrency 1

Importing this module reads settings and nothing else: the database engine is made lazily,
once in each worker process (after the fork). The worker holds no badge signing key: erasure
voids badges and never signs one.

The system's one beat (with notify, `services.notify.worker`) sends `registration.purge_expired`
once a day, by name."""

from __future__ import annotations

from functools import cache

from sqlalchemy.orm import sessionmaker

from shared import db
from shared.celery_app import create_celery
from shared.config import Settings

PURGE_EXPIRED = "registration.purge_expired"
settings = Settings.from_env()
app = create_celery("registration", settings, include=("services.registration.tasks",))


@cache
def sessions() -> sessionmaker:
    """One engine per worker process, made on first use (never at import, never before fork)."""
    return db.make_sessions(db.make_engine(settings.registration_database_url))
