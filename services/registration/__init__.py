"""registration: events, delegates and their badges. Owns its database; announces every change
through its outbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis
from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from shared import db
from shared.badges import BadgeSigner, signer_from
from shared.config import Settings
from shared.web import create_service_app, health_blueprint

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_registration"


@dataclass
class Resources:
    engine: Engine
    sessions: sessionmaker  # for work that writes
    reads: sessionmaker  # for work that only reads
    signer: BadgeSigner


def migrate(settings: Settings) -> None:
    db.migrate(settings.registration_database_url, MIGRATIONS, VERSION_TABLE)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app, api = create_service_app(__name__, "Rollcall registration", settings)
    engine = db.make_engine(settings.registration_database_url)
    app.extensions["registration"] = Resources(
        engine=engine,
        sessions=db.make_sessions(engine),
        reads=db.make_sessions(engine, readonly=True),
        signer=signer_from(settings),
    )
    broker = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=1)
    app.register_blueprint(
        health_blueprint({"database": lambda: db.ping(engine), "redis": broker.ping})
    )

    from services.registration.api import blp

    api.register_blueprint(blp)
    return app


def resources() -> Resources:
    return current_app.extensions["registration"]
