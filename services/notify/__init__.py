"""Notify: turns domain events into messages (first of all the badge e-mail), each sent once.

Runs as Celery workers on queue "notify" plus Celery beat; see `services.notify.worker`."""

from __future__ import annotations

from pathlib import Path

from shared.config import Settings
from shared.db import migrate as _migrate

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_notify"


def migrate(settings: Settings) -> None:
    """Bring notify's database (`NOTIFY_DATABASE_URL`) to the newest revision."""
    _migrate(settings.notify_database_url, MIGRATIONS, VERSION_TABLE)
