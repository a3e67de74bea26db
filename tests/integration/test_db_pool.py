"""The connection pool on PostgreSQL: a connection given back a moment ago goes out again
without a ping (a round-trip saved on every scan); one idle longer is pinged, and a dead one
replaced unseen; one that died in between fails its statement once, and the pool heals."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from shared import db
from tests.conftest import create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(postgres):
    url = create_postgres_database(postgres)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()
    drop_postgres_database(postgres, url)


@pytest.fixture
def pings(engine, monkeypatch) -> list[object]:
    """Every ping the pool makes."""
    made: list[object] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection):
        made.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return made


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(postgres: str, pid: int) -> None:
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_connection_given_back_a_moment_ago_is_not_pinged(engine, pings):
    first = backend_pid(engine)  # a new connection: pinged once
    assert len(pings) == 1
    for _ in range(20):
        assert backend_pid(engine) == first
    assert len(pings) == 1


def test_an_idle_connection_whose_server_went_away_is_replaced_unseen(
    engine, pings, postgres, monkeypatch
):
    first = backend_pid(engine)
    terminate(postgres, first)
    monkeypatch.setattr(db, "PING_AFTER", 0.0)  # as if it had sat idle for long
    second = backend_pid(engine)  # no error: the ping found it dead, the pool connected anew
    assert second != first
    assert len(pings) >= 2


def test_a_connection_that_died_between_two_requests_fails_once_and_the_pool_heals(
    engine, pings, postgres
):
    first = backend_pid(engine)
    terminate(postgres, first)
    with pytest.raises(OperationalError) as lost:  # 503 "try again" for that one request
        backend_pid(engine)
    assert lost.value.connection_invalidated
    assert backend_pid(engine) != first
