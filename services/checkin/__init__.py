"""checkin: the gates. Keeps its own replica of every badge, admits each badge once, logs every
scan, and keeps the live headcount. Owns its database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from shared import db
from shared.badges import BadgeVerifier, verifier_from
from shared.config import Settings
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_checkin"


@dataclass(frozen=True)
class Resources:
    db: db.Database
    verifier: BadgeVerifier


def migrate(settings: Settings) -> None:
    db.migrate(settings.checkin_database_url, MIGRATIONS, VERSION_TABLE)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    database = db.Database.at(settings.checkin_database_url)
    app, api = create_service_app(__name__, "Rollcall check-in", settings, database)
    app.extensions["checkin"] = Resources(database, verifier_from(settings))

    from services.checkin.api import blp

    api.register_blueprint(blp)
    return app


def resources() -> Resources:
    return current_app.extensions["checkin"]
