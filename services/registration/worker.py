"""registration's Celery app: its own housekeeping and the background imports, on its own
queue.

    celery -A services.registration.worker worker -Q registration --concurrency 2

Importing this module reads settings and nothing else: the database engine, the badge signer
and the manage links are made lazily, once in each worker process (after the fork). The worker
signs badges: an imported delegate who is confirmed gets one, so it holds BADGE_SIGNING_KEY
and MANAGE_LINK_KEY as the web service does (erasure voids badges and needs neither).

The system's one beat (with notify, `services.notify.worker`) sends `registration.purge_expired`
once a day, by name."""

from __future__ import annotations

from functools import cache

from sqlalchemy.orm import sessionmaker

from shared import db
from shared.badges import BadgeSigner, signer_from
from shared.celery_app import create_celery
from shared.config import Settings
from shared.manage_links import ManageLinks, links_from

PURGE_EXPIRED = "registration.purge_expired"
settings = Settings.from_env()
app = create_celery("registration", settings, include=("services.registration.tasks",))


@cache
def sessions() -> sessionmaker:
    """One engine per worker process, made on first use (never at import, never before fork)."""
    return db.make_sessions(db.make_engine(settings.registration_database_url))


@cache
def signer() -> BadgeSigner:
    """The badge signing key, read when a task first signs a badge (an import)."""
    return signer_from(settings)


@cache
def manage_links() -> ManageLinks:
    return links_from(settings)
