"""Scratch PostgreSQL databases for the test suite, the benchmark and the fault suite: made on
the server of an admin URL (empty, or a copy of a migrated template), dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql


def _plain(url: str) -> str:
    """The URL as psycopg takes it (SQLAlchemy's driver suffix removed)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_database(admin_url: str, prefix: str, template_url: str | None = None) -> str:
    """A new database beside `admin_url`'s, named `prefix_<random>`, copied from the database
    of `template_url` when given (which nobody may be connected to); returns its URL."""
    admin_url = _plain(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template_url:
        template = sql.Identifier(template_url.rsplit("/", 1)[1])
        statement = sql.SQL("{} TEMPLATE {}").format(statement, template)
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(statement)
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of `url`, closing whatever is still connected to it."""
    name = sql.Identifier(url.rsplit("/", 1)[1])
    with psycopg.connect(_plain(admin_url), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@contextmanager
def scratch_database(admin_url: str, prefix: str, template_url: str | None = None) -> Iterator[str]:
    """`create_database`, dropped when the block ends."""
    url = create_database(admin_url, prefix, template_url)
    try:
        yield url
    finally:
        drop_database(admin_url, url)
