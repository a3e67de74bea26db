"""shared.db's statement helpers for batches, on each kind of database: many rows inserted with
their ids in order, and IN over a long list of values (ANY over an array on PostgreSQL); and
the outbox's row-and-its-event (one statement on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Integer, MetaData, String, Table, select

from shared.db import Database, among, insert_returning_ids
from shared.events import CHECKIN_REJECTED
from shared.outbox import Outbox, outbox_table

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("size", Integer, nullable=False),
)

events = Outbox(outbox_table(metadata, "things_outbox"), "test")


def _database(url: str) -> Database:
    db = Database.at(url)
    metadata.create_all(db.engine)
    return db


def test_insert_returning_ids_gives_each_row_its_own_id_in_order(empty_database_url):
    db = _database(empty_database_url)
    rows = [{"name": f"thing {n}", "size": n} for n in range(1, 1201)]
    with db.sessions.begin() as session:
        first = insert_returning_ids(session, things, rows[:1])
        many = insert_returning_ids(session, things, rows[1:])
        assert insert_returning_ids(session, things, []) == []
    ids = first + many
    assert len(set(ids)) == 1200
    assert ids == sorted(ids), "the ids follow the order of the rows"
    with db.sessions.begin() as session:
        stored = dict(session.execute(select(things.c.id, things.c.size)).all())
    assert [stored[i] for i in ids] == list(range(1, 1201))
    db.engine.dispose()


def test_among_matches_what_in_matches_for_a_long_list(empty_database_url):
    db = _database(empty_database_url)
    with db.sessions.begin() as session:
        insert_returning_ids(session, things, [{"name": f"t{n}", "size": n} for n in range(600)])
    wanted = list(range(0, 600, 3)) + [10_000, -1]  # and values no row has
    with db.sessions.begin() as session:
        sizes = set(
            session.scalars(select(things.c.size).where(among(session, things.c.size, wanted)))
        )
        names = set(
            session.scalars(
                select(things.c.name).where(among(session, things.c.name, ["t3", "t4", "zz"]))
            )
        )
        none = list(session.scalars(select(things.c.id).where(among(session, things.c.id, []))))
    assert sizes == set(range(0, 600, 3))
    assert names == {"t3", "t4"}
    assert none == []
    db.engine.dispose()


def test_a_row_and_the_event_naming_its_id_are_written_together(empty_database_url):
    db = _database(empty_database_url)
    at = datetime(2023, 12, 7, 1, 30, tzinfo=UTC)
    refused = {"event_id": 7, "badge_id": None, "scan_id": None, "gate": "North 北门",
               "area": "venue", "result": "invalid", "source": "gate", "at": at}  # fmt: skip
    with db.sessions.begin() as session:
        ids = [
            events.add_naming(
                session, things, {"name": f"t{n}", "size": n}, CHECKIN_REJECTED, refused, "scan_id"
            )
            for n in range(3)
        ]
    with db.sessions.begin() as session:
        sizes = dict(session.execute(select(things.c.id, things.c.size)).all())
        written = session.execute(select(events.table).order_by(events.table.c.sequence)).all()

    assert [sizes[i] for i in ids] == [0, 1, 2]
    assert [row.payload["scan_id"] for row in written] == ids
    assert all(row.type == CHECKIN_REJECTED and row.published_at is None for row in written)
    assert written[0].payload == {**refused, "scan_id": ids[0], "at": "2023-12-07T01:30:00+00:00"}
    assert len({row.event_id for row in written}) == 3
    db.engine.dispose()
