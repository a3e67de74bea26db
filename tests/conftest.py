"""Small composable fixtures: a private Redis, a database of each kind, settings pointing at
them, and apps built from those settings."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from rollcall import databases
from shared.badges import generate_keypair
from shared.config import Settings
from shared.db import Database
from tests.support.processes import start_redis, stop_process

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private, non-persistent redis-server for this test session."""
    url, process = start_redis()
    yield url
    stop_process(process)


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return str(exc).strip()


@pytest.fixture(scope="session")
def postgres() -> str:
    """The admin URL of a PostgreSQL server; tests make their own databases in it."""
    problem = _postgres_reachable()
    if problem:
        message = f"PostgreSQL at TEST_POSTGRES_URL={POSTGRES_URL} is not reachable: {problem}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


def create_postgres_database(admin_url: str) -> str:
    """A new, empty database on the server at `admin_url`; returns its URL."""
    return databases.create_database(admin_url, "rollcall_test")


drop_postgres_database = databases.drop_database


@contextmanager
def fresh_database(kind: str, directory: Path, request) -> Iterator[str]:
    """The URL of a new, empty database: a SQLite file in `directory`, or a database of its
    own on the PostgreSQL server (dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'rollcall.db'}"
        return
    admin = request.getfixturevalue("postgres")
    url = create_postgres_database(admin)
    try:
        yield url
    finally:
        drop_postgres_database(admin, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path) -> Iterator[str]:
    """A new, empty database of each kind (for tests of the migrations themselves)."""
    with fresh_database(request.param, tmp_path, request) as url:
        yield url


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory) -> Iterator:
    """A database of each kind with every service's migrations applied, made once a session
    (on first use) and copied for each test: migrating three services for every test would
    cost seconds a test."""
    from services import checkin, notify, registration

    made: dict[str, str] = {}

    def template(kind: str, admin: str | None = None) -> str:
        if kind not in made:
            if kind == "sqlite":
                url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'rollcall.db'}"
            else:
                url = create_postgres_database(admin)
            settings = Settings.from_env(
                {"DATABASE_URL": url, "VAR_DIR": str(tmp_path_factory.mktemp("var"))}
            )
            for service in (registration, checkin, notify):
                service.migrate(settings)
            made[kind] = url
        return made[kind]

    yield template
    if "postgresql" in made:
        drop_postgres_database(POSTGRES_URL, made["postgresql"])


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, migrated_templates) -> Iterator[str]:
    """One database for all three services (their tables do not overlap), of each kind,
    migrated to the newest revision: a copy of the session's template."""
    admin = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    template = migrated_templates(request.param, admin)
    if request.param == "sqlite":
        source = Path(template.removeprefix("sqlite:///"))
        target = tmp_path / "rollcall.db"
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        return
    url = databases.create_database(admin, "rollcall_test", template)
    try:
        yield url
    finally:
        drop_postgres_database(admin, url)


@pytest.fixture(scope="session")
def badge_keys() -> tuple[str, str]:
    return generate_keypair()


def make_settings(tmp_path, database_url: str, redis_url: str, badge_keys, **extra) -> Settings:
    private, public = badge_keys
    env = {
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BADGE_SIGNING_KEY": private,
        "BADGE_VERIFY_KEYS": public,
        # Every test calls from 127.0.0.1; the limits have tests of their own
        # (test_rate_limit.py, test_rate_limits_hold.py).
        "REGISTRATION_RATE_LIMIT": "0",
        "AUTH_FAILURE_LIMIT": "0",
        "MANAGE_RATE_LIMIT": "0",
        "SCAN_RATE_LIMIT": "0",
        "SCAN_ADDRESS_RATE_LIMIT": "0",
        **extra,
    }
    return Settings.from_env(env)


@pytest.fixture
def settings(tmp_path, database_url, redis_url, badge_keys) -> Settings:
    """Settings for one test, its database migrated (a copy of the migrated template)."""
    return make_settings(tmp_path, database_url, redis_url, badge_keys)


@pytest.fixture
def build_app():
    """`build_app(service, settings)`: a service's Flask app whose engine is closed afterwards."""
    apps = []

    def build(service, settings: Settings):
        app = service.create_app(settings)
        apps.append(app)
        return app

    yield build
    for app in apps:
        for resources in app.extensions.values():
            if isinstance(getattr(resources, "db", None), Database):
                resources.db.engine.dispose()
