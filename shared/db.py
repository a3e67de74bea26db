"""Database engines and migrations, the same for every service: SQLite or PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

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
        return create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True
        )
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


def for_writes(engine: Engine) -> Engine:
    """The engine for transactions that write: on SQLite they take the write lock at BEGIN."""
    return engine.execution_options(**{_WRITES: True})


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
