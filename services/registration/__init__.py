"""registration: events, delegates and their badges. Owns its database; announces every change
through its outbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from shared import db
from shared.badges import BadgeSigner, signer_from
from shared.config import Settings
from shared.manage_links import ManageLinks, links_from
from shared.ratelimit import RateLimit, guard
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"
# The endpoints that take a delegate's manage token (a secret from a mail): counted per
# address (MANAGE_RATE_LIMIT) on top of the limit on failed tokens.
MANAGE_ENDPOINTS = {
    *(f"registration.{name}" for name in (
        "get_registration", "correct_registration", "cancel_registration", "download_data",
        "erase_registration")),
    "badges.badge_qr", "badges.badge_document",
    *(f"delegations.{name}" for name in (
        "get_delegation", "update_delegation", "add_member", "correct_member",
        "substitute_member", "remove_member")),
}  # fmt: skip
VERSION_TABLE = "alembic_version_registration"


@dataclass(frozen=True)
class Resources:
    db: db.Database
    signer: BadgeSigner
    links: ManageLinks


def migrate(settings: Settings) -> None:
    db.migrate(settings.registration_database_url, MIGRATIONS, VERSION_TABLE)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    database = db.Database.at(settings.registration_database_url)
    app, api = create_service_app(__name__, "Rollcall registration", settings, database)
    app.extensions["registration"] = Resources(
        database, signer_from(settings), links_from(settings)
    )
    guard(app).limit({"registration.register"}, _registration_limit(settings))
    guard(app).limit(MANAGE_ENDPOINTS, RateLimit("manage", settings.manage_rate_limit))

    from services.registration import api as public
    from services.registration import (
        badges_api,
        bulk_api,
        delegations_api,
        feed_api,
        organiser_api,
    )
    from services.registration.pages import bp as pages

    api.register_blueprint(public.blp)
    api.register_blueprint(organiser_api.blp)
    api.register_blueprint(badges_api.blp)
    api.register_blueprint(bulk_api.blp)
    api.register_blueprint(delegations_api.blp)
    api.register_blueprint(feed_api.blp)  # for other services' replicas: FEED_TOKEN only
    app.register_blueprint(pages)  # HTML pages: plain Flask, not in the OpenAPI document
    return app


def _registration_limit(settings: Settings) -> RateLimit:
    """Registrations per minute from one address: a mayor's office registering its whole
    delegation stays well within it; a script flooding fake delegates does not."""
    return RateLimit("register", settings.registration_rate_limit)


def resources() -> Resources:
    return current_app.extensions["registration"]
