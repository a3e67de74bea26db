"""Notify's Celery app and beat schedule.

    celery -A services.notify.worker worker -Q notify --pool=prefork -c 4
    celery -A services.notify.worker beat

Importing this module reads settings and nothing else: the database engine is made lazily,
once in each worker process (after the fork), and the broker is reached only by Celery."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import redis
from celery.beat import PersistentScheduler
from celery.schedules import crontab
from sqlalchemy.orm import sessionmaker

from services.notify.dispatch import Outlet
from services.notify.mailer import SmtpMailer
from services.notify.throttle import Throttle
from shared.celery_app import create_celery
from shared.config import Settings
from shared.db import make_engine, make_sessions, utcnow
from shared.manage_links import links_from, manage_url

REDRIVE_EVERY = 60.0  # seconds
# Reminders open at 10:00 in each event's zone; every five minutes is prompt enough, and a
# round finds only delegates without a reminder row, so rounds cost little.
REMINDERS_EVERY = 300.0

settings = Settings.from_env()
# Badge PDFs subset their fonts with fontTools, which narrates every glyph table at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)
app = create_celery("notify", settings, include=("services.notify.tasks",))
# The system's one beat: it sends each service's periodic task by name (run exactly one).
app.conf.beat_schedule = {
    "redrive-stalled-notifications": {
        "task": "notify.redrive_stalled",
        "schedule": REDRIVE_EVERY,
        # A missed round is no loss: the next one finds the same rows.
        "options": {"expires": REDRIVE_EVERY},
    },
    "send-due-reminders": {
        "task": "notify.send_due_reminders",
        "schedule": REMINDERS_EVERY,
        # A missed round is no loss: the next one finds the same delegates.
        "options": {"expires": REMINDERS_EVERY},
    },
    "send-due-digests": {
        "task": "notify.send_due_digests",
        # The organiser digest goes once an event's local day is over; frequent runs catch
        # every time zone's midnight, and a run finds only days without a digest.
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 15 * 60},
    },
    "checkin-close-day": {
        "task": "checkin.close_day",
        # Checks out whoever is still inside once their event's local day is over; frequent
        # runs catch every time zone's midnight, and a run with nothing to close is cheap.
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 15 * 60},
    },
    "checkin-catch-up": {
        "task": "checkin.catch_up",
        # Repairs the badge replica from registration's change feed when a message was lost;
        # a run reads only the feed's last few minutes (services/checkin/catch_up.py).
        "schedule": 60.0,
        "options": {"expires": 60},
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
    outlet: Outlet


_resources: dict[int, Resources] = {}


def resources() -> Resources:
    """This process's database sessions, mailer (throttled when NOTIFY_MAIL_RATE is set) and
    manage-link key, made on first use; a forked child makes its own rather than share its
    parent's connections."""
    pid = os.getpid()
    if pid not in _resources:
        _resources.clear()
        sessions = make_sessions(make_engine(settings.notify_database_url))
        mailer = SmtpMailer(settings)
        send = mailer.send
        if settings.notify_mail_rate > 0:
            client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
            send = Throttle(client, settings.notify_mail_rate).wrap(send)
        links = links_from(settings)

        def link_for(delegate_id: int, nonce: str | None) -> str | None:
            if not nonce:  # a snapshot from before manage links were derived
                return None
            return manage_url(settings.registration_url, delegate_id, links.token(nonce))

        outlet = Outlet(sessions, send, settings.mail_from, link_for, utcnow)
        _resources[pid] = Resources(sessions=sessions, mailer=mailer, outlet=outlet)
    return _resources[pid]
