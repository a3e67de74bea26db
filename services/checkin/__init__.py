"""checkin: the gates. Keeps its own replica of every badge, admits each badge once, logs every
scan, and keeps the live headcount. Owns its database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from services.checkin.badge_list import public_keys
from shared import db
from shared.badges import BadgeVerifier, verifier_from
from shared.config import Settings
from shared.ratelimit import RateLimit, by_bearer, guard
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_checkin"


@dataclass(frozen=True)
class Resources:
    db: db.Database
    verifier: BadgeVerifier
    verify_keys: list[dict]


def migrate(settings: Settings) -> None:
    db.migrate(settings.checkin_database_url, MIGRATIONS, VERSION_TABLE)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    database = db.Database.at(settings.checkin_database_url)
    app, api = create_service_app(__name__, "Rollcall check-in", settings, database)
    verifier = verifier_from(settings)
    app.extensions["checkin"] = Resources(database, verifier, public_keys(settings))
    _limit_scans(app, settings)

    from services.checkin import api as gate_api
    from services.checkin import desk_api, setup_api

    for module in (gate_api, setup_api, desk_api):
        api.register_blueprint(module.blp)
    from services.checkin.scan_page import bp as scan_page

    app.register_blueprint(scan_page)  # the /scan page: plain Flask, not in the OpenAPI document

    from services.checkin import dashboard, live

    live.init_app(app, settings)
    api.register_blueprint(live.blp)
    app.register_blueprint(dashboard.bp)
    return app


def _limit_scans(app: Flask, settings: Settings) -> None:
    """Scans per minute per device token and per address: a busy gate scans about once a
    second; a stolen token or a script replaying QR codes is held back."""
    scans = {"checkin.post_scan", "checkin.post_batch"}
    per_device = RateLimit("scan-device", settings.scan_rate_limit)
    per_address = RateLimit("scan-address", settings.scan_address_rate_limit)
    guard(app).limit(scans, (per_device, by_bearer), per_address)


def resources() -> Resources:
    return current_app.extensions["checkin"]
