"""checkin's Celery worker: `celery -A services.checkin.worker worker -Q checkin`."""

from __future__ import annotations

from functools import cache

from sqlalchemy.orm import sessionmaker

from shared import db
from shared.celery_app import create_celery
from shared.config import Settings

settings = Settings.from_env()
app = create_celery("checkin", settings, include=("services.checkin.tasks",))


@cache
def sessions() -> sessionmaker:
    """One engine per worker process, made on first use (never at import, never before fork)."""
    return db.make_sessions(db.make_engine(settings.checkin_database_url))
