"""Database engines and migrations, the same for every service: SQLite or PostgreSQL."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

# Each service declares its own `Base(DeclarativeBase)` with these, so its metadata (and its
# migrations) hold only its own tables, and constraint names are predictable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
TYPE_ANNOTATIONS = {datetime: DateTime(timezone=True)}
_WRITES = "rollcall_writes"
# A pooled connection idle for longer than this is pinged before it is handed out.
PING_AFTER = 1.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every one stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here; everything else is taken as given."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_size=5, max_overflow=10, hide_parameters=True)
        _ping_when_idle(engine)
        return engine
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # hide_parameters: a logged database error must not carry names and addresses with it.
    engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    # Several processes write one SQLite file: WAL lets readers go on beside a writer, and a
    # writing transaction takes the write lock at BEGIN (IMMEDIATE), so one that reads, then
    # writes, waits its turn instead of failing with "database is locked" half-way.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        writes = connection.get_execution_options().get(_WRITES, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before handing it out only when it sat idle for PING_AFTER.

    `pool_pre_ping` pings before every checkout: a round-trip on every scan, for a connection
    that a request gave back a moment ago. One idle longer (the server may have restarted, or
    the network cut it, meanwhile) is still pinged, and a dead one replaced unseen. A
    connection that dies in the moment between two requests fails its statement instead: the
    request answers 503 (try again, shared/web.py) and SQLAlchemy, seeing a disconnect,
    replaces every connection of the pool."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record):
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _handed_out(dbapi_connection, record, _proxy):
        if time.monotonic() - record.info.get("returned_at", float("-inf")) < PING_AFTER:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool connects anew, up to three times
            raise DisconnectionError("the database connection was lost") from exc


def for_writes(engine: Engine) -> Engine:
    """The engine for transactions that write: on SQLite they take the write lock at BEGIN."""
    return engine.execution_options(**{_WRITES: True})


# Tables at least twice the size they had when last analyzed (or never analyzed, and not
# empty): the file's size is known at once, where the statistics views lag by a second or more.
_STALE_STATISTICS = text(
    "SELECT c.relname FROM unnest(CAST(:tables AS text[])) AS t(name)"
    " JOIN pg_class c ON c.oid = to_regclass(t.name)"
    " WHERE pg_relation_size(c.oid) > 2 * c.relpages * current_setting('block_size')::int"
)


def refresh_statistics(session: Session, *tables: str) -> list[str]:
    """ANALYZE those of `tables` that have doubled since they were last analyzed, as PostgreSQL
    advises after a bulk load; returns them. Without it the planner goes on planning for a new
    table as if it were empty (an import into a new event: the check for an address already
    registered read every registration of the event through an index on event_id). Once it has
    statistics, the planner scales them to the table's size, so a table that grows to n rows is
    analyzed about log2(n) times. Autovacuum does this too when it is on and its turn comes; a
    bulk load does not wait for it. PostgreSQL only (SQLite's planner keeps no statistics unless
    asked)."""
    if not on_postgresql(session):
        return []
    stale = list(session.scalars(_STALE_STATISTICS, {"tables": list(tables)}))
    for table in stale:
        session.execute(text(f'ANALYZE "{table}"'))
    return stale


def on_postgresql(session: Session) -> bool:
    """Whether the session's database is PostgreSQL (else SQLite, the only other kind)."""
    return session.get_bind().dialect.name == "postgresql"


def upsert_insert(session: Session, table: Table):
    """An INSERT in the session's database's own dialect, which takes ON CONFLICT (DO NOTHING,
    DO UPDATE): PostgreSQL and SQLite spell it alike."""
    return (postgresql if on_postgresql(session) else sqlite).insert(table)


# Ids for `n` new rows of a table with a serial `id`, drawn from its sequence, in order.
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n) ORDER BY 1"
)


def insert_returning_ids(session: Session, table: Table, rows: list[dict]) -> list[int]:
    """Insert `rows` into `table` (its `id` a serial) in the caller's transaction, in order;
    returns their new ids in the same order. Many rows on PostgreSQL draw their ids from the
    sequence first and go as one pipelined executemany: the alternative, SQLAlchemy's INSERT …
    VALUES of hundreds of rows with RETURNING, is a statement of hundreds of kilobytes that
    psycopg parses anew every time (its cache keeps statements under 4 KB), ~0.1 s for 500
    scans, a fifth of an offline sync's time."""
    if not rows:
        return []
    if len(rows) > 1 and on_postgresql(session):
        ids = list(session.scalars(_NEXT_IDS, {"table": table.name, "n": len(rows)}))
        session.execute(
            insert(table), [{**row, "id": id_} for row, id_ in zip(rows, ids, strict=True)]
        )
        return ids
    return list(session.scalars(_returning_ids(table), rows if len(rows) > 1 else rows[0]))


@functools.cache
def _returning_ids(table: Table):
    """INSERT … RETURNING id, made once a table (a live scan inserts one row through it)."""
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


def among(session: Session, column: ColumnElement, values: Iterable) -> ColumnElement[bool]:
    """`column IN values`, written on PostgreSQL as `column = ANY(:values)`: one array parameter
    however many values, where IN has one placeholder each, and a statement naming a chunk's
    500 badges is too long for psycopg's cache of parsed statements (parsed anew each time)."""
    values = list(values)
    if on_postgresql(session):
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def make_sessions(engine: Engine, *, readonly: bool = False) -> sessionmaker:
    """Sessions for work that writes (the default), or that only reads: on SQLite a reading
    transaction does not take the write lock, so it never holds up a writer."""
    return sessionmaker(engine if readonly else for_writes(engine), expire_on_commit=False)


@dataclass(frozen=True)
class Database:
    """A service's database: its engine, and sessions for writing and for reading."""

    engine: Engine
    sessions: sessionmaker
    reads: sessionmaker

    @classmethod
    def at(cls, url: str) -> Database:
        engine = make_engine(url)
        return cls(engine, make_sessions(engine), make_sessions(engine, readonly=True))

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))


def alembic_config(url: str, migrations: Path, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    config.attributes["version_table"] = version_table
    return config


def migrate(url: str, migrations: Path, version_table: str) -> None:
    """Bring the database at `url` to the newest revision in `migrations`."""
    command.upgrade(alembic_config(url, migrations, version_table), "head")


def run_migrations(context, metadata) -> None:
    """The body of every service's alembic env.py."""
    config = context.config
    version_table = config.attributes.get("version_table") or config.get_main_option(
        "version_table"
    )
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.dbapi_connection
        if sqlite:
            # A batch migration rebuilds a table (copy, drop, rename); with foreign keys
            # enforced, dropping a table others refer to fails. Off outside the transaction
            # (SQLite ignores the pragma inside one), and every reference checked after.
            raw.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            render_as_batch=sqlite,
        )
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            raw.execute("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"the migration left broken references: {broken[:5]}")
    engine.dispose()
