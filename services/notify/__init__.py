"""Notify: turns domain events into messages (first of all the badge e-mail), each sent once,
and sends them to the organisers' webhooks.

Runs as Celery workers on queue "notify" plus Celery beat (see `services.notify.worker`), and
a small web API for organisers (`create_app`: webhooks, dead letters, the notification log)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from celery import Celery
from flask import Flask, current_app

from services.notify.webhooks import Secrets, secrets_from
from shared import db
from shared.celery_app import create_celery
from shared.config import Settings
from shared.web import create_service_app
from shared.webhook_watch import WebhookWatch

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_notify"


def migrate(settings: Settings) -> None:
    """Bring notify's database (`NOTIFY_DATABASE_URL`) to the newest revision."""
    db.migrate(settings.notify_database_url, MIGRATIONS, VERSION_TABLE)


@dataclass(frozen=True)
class Resources:
    db: db.Database
    secrets: Secrets
    celery: Celery  # sends only: a replayed delivery's task
    watch: WebhookWatch  # tells the relays which events an endpoint wants


def create_app(settings: Settings | None = None) -> Flask:
    """Notify's web API: organisers' webhooks, their dead letters, and the notification log."""
    from services.notify import api  # its views ask this module for `resources()`

    settings = settings or Settings.from_env()
    database = db.Database.at(settings.notify_database_url)
    app, smorest = create_service_app(__name__, "Rollcall notify", settings, database)
    app.extensions["notify"] = Resources(
        database,
        secrets_from(settings),
        create_celery("notify-api", settings),
        WebhookWatch.at(settings.redis_url),
    )
    smorest.register_blueprint(api.blp)
    return app


def resources() -> Resources:
    return current_app.extensions["notify"]
