"""Notify's Celery app and beat schedule.

    celery -A services.notify.worker worker -Q notify --pool=prefork -c 4
    celery -A services.notify.worker beat

Importing this module reads settings and nothing else: the database engine is made lazily,
once in each worker process (after the fork), and the broker is reached only by Celery."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from celery.beat import PersistentScheduler
from celery.schedules import crontab
from sqlalchemy.orm import sessionmaker

from services.notify.mailer import SmtpMailer
from shared.celery_app import create_celery
from shared.config import Settings
from shared.db import make_engine, make_sessions

REDRIVE_EVERY = 60.0  # seconds

settings = Settings.from_env()
app = create_celery("notify", settings, include=("services.notify.tasks",))
# The system's one beat: it sends each service's periodic task by name (run exactly one).
app.conf.beat_schedule = {
    "redrive-stalled-notifications": {
        "task": "notify.redrive_stalled",
        "schedule": REDRIVE_EVERY,
        # A missed round is no loss: the next one finds the same rows.
        "options": {"expires": REDRIVE_EVERY},
    },
    "registration-purge-expired": {
        "task": "registration.purge_expired",
        # Daily: an event's personal data goes within a day of its retention period's end.
        "schedule": crontab(hour=3, minute=30),
        # A missed day is no loss: the next run finds the same registrations.
        "options": {"expires": 24 * 3600},
    },
}
app.conf.beat_schedule_filename = str(settings.var_dir / "notify-beat-schedule")
app.conf.beat_scheduler = "services.notify.worker:Scheduler"


class Scheduler(PersistentScheduler):
    """Celery's own scheduler, which also makes the folder its schedule file lives in."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()


@dataclass(frozen=True)
class Resources:
    sessions: sessionmaker
    mailer: SmtpMailer


_resources: dict[int, Resources] = {}


def resources() -> Resources:
    """This process's database sessions and mailer, made on first use; a forked child
    makes its own rather than share its parent's connections."""
    pid = os.getpid()
    if pid not in _resources:
        _resources.clear()
        engine = make_engine(settings.notify_database_url)
        _resources[pid] = Resources(sessions=make_sessions(engine), mailer=SmtpMailer(settings))
    return _resources[pid]
