"""shared.db's statement helpers for batches, on each kind of database: many rows inserted with
their ids in order, and IN over a long list of values (ANY over an array on PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, select

from shared.db import Database, among, insert_returning_ids

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("size", Integer, nullable=False),
)


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
