"""The transactional outbox: write an event in the same transaction as the change it announces,
then a relay publishes it to every subscriber's queue and marks it published.

The outbox table is the producer's durable, ordered log of events; its `sequence` lets a
consumer notice a gap. Redis is only the fast path: when it is down, rows wait here.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import (
    ARRAY,
    JSON,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from shared.db import as_utc, for_writes, insert_returning_ids, on_postgresql
from shared.events import BATCH_LIMITS, BATCHED, ENVELOPE_VERSION, SUBSCRIBERS, payload_schema

log = logging.getLogger(__name__)

BATCH = 200  # events a relay round publishes at most
GATHER = 0.05  # seconds a relay lets events gather after a round that was not full


Publish = Callable[[str, dict | list[dict]], None]
"""Send one message to a subscriber task, by task name: an envelope, or for a batched task
(shared.events.BATCHED) a list of envelopes; raise if it was not accepted."""


def outbox_table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("sequence", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("type", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("payload", JSON, nullable=False),
        Column("published_at", DateTime(timezone=True), index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text),
    )


@functools.cache
def _naming(outbox: Table, table: Table, key: str):
    """`Outbox.add_naming`'s statement, made once: the row inserted in a CTE, and the event
    inserted from it, its payload given the row's id under `key` (jsonb_set)."""
    inserted = (
        insert(table)
        .values(
            {c.name: bindparam(f"row_{c.name}", type_=c.type) for c in table.c if c.name != "id"}
        )
        .returning(table.c.id)
        .cte("inserted")
    )
    given = {c.name: bindparam(f"event_{c.name}", type_=c.type) for c in outbox.c}
    payload = func.jsonb_set(
        cast(given["payload"], JSONB), bindparam("event_key", type_=ARRAY(Text)),
        func.to_jsonb(inserted.c.id),
    )  # fmt: skip
    columns = ["event_id", "type", "version", "occurred_at", "payload", "attempts"]
    values = [given[name] for name in columns[:4]] + [cast(payload, JSON), given["attempts"]]
    return (
        insert(outbox)
        .from_select(columns, select(*values).select_from(inserted))
        .returning(outbox.c.payload[key].as_integer())
    )


class Outbox:
    def __init__(self, table: Table, producer: str):
        self.table = table
        self.producer = producer

    def add(self, session: Session, event_type: str, payload: dict) -> str:
        """Record an event in the caller's transaction; returns its event id."""
        return self.add_many(session, [(event_type, payload)])[0]

    def add_many(self, session: Session, events: Iterable[tuple[str, dict]]) -> list[str]:
        """Record events, in this order, in the caller's transaction with one statement (an
        offline sync announces thousands at once); returns their event ids."""
        now = datetime.now(UTC)
        rows = [self._row(event_type, payload, now) for event_type, payload in events]
        if rows:
            session.execute(insert(self.table), rows if len(rows) > 1 else rows[0])
        return [row["event_id"] for row in rows]

    def add_naming(
        self, session: Session, table: Table, row: dict, event_type: str, payload: dict, key: str
    ) -> int:
        """Insert `row` into `table` (every column but its serial `id`) and record the event
        announcing it, whose payload names the new id under `key`, in the caller's
        transaction; returns the id. On PostgreSQL that is one statement (a live scan's log
        row and its event: a round trip less on the busiest path), elsewhere two."""
        if not on_postgresql(session):
            new_id = insert_returning_ids(session, table, [row])[0]
            self.add(session, event_type, {**payload, key: new_id})
            return new_id
        event = self._row(event_type, {**payload, key: 0}, datetime.now(UTC))
        values = {f"row_{name}": value for name, value in row.items()}
        values |= {f"event_{name}": value for name, value in event.items()}
        return session.scalar(_naming(self.table, table, key), {**values, "event_key": [key]})

    @staticmethod
    def _row(event_type: str, payload: dict, now: datetime) -> dict:
        return {
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "version": ENVELOPE_VERSION,
            "occurred_at": now,
            "payload": payload_schema(event_type).dump(payload),
            "attempts": 0,
        }

    def envelope(self, row) -> dict:
        return {
            "event_id": row.event_id,
            "type": row.type,
            "producer": self.producer,
            "sequence": row.sequence,
            "occurred_at": as_utc(row.occurred_at).isoformat(),
            "version": row.version,
            "payload": row.payload,
        }

    def relay_once(self, engine: Engine, publish: Publish, batch: int = BATCH) -> int:
        """Publish pending events in order; returns how many were published.

        Rows are locked (`SKIP LOCKED` on PostgreSQL) so several relays share the work. An
        event is marked only once every subscriber's message for it was accepted by the broker
        (for a batched task, the round's one message holding it); a failure leaves it, and
        everything after it, for the next round. The round's published rows are marked with one
        statement.
        """
        t = self.table
        with for_writes(engine).begin() as connection:
            rows = connection.execute(
                select(t)
                .where(t.c.published_at.is_(None))
                .order_by(t.c.sequence)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            done, error = self._publish(rows, publish)
            if done:
                connection.execute(
                    update(t)
                    .where(t.c.sequence.in_([row.sequence for row in rows[:done]]))
                    .values(published_at=datetime.now(UTC), attempts=t.c.attempts + 1)
                )
            if error is not None:
                held = rows[done].sequence
                log.warning("relay: event %s not published yet: %s", held, error)
                connection.execute(
                    update(t)
                    .where(t.c.sequence == held)
                    .values(attempts=t.c.attempts + 1, last_error=str(error)[:500])
                )
        return done

    def republish(self, engine: Engine, publish: Publish, since: datetime, batch: int = 500) -> int:
        """Publish again every event published since `since`, in order; returns how many.

        For a broker that lost what it held (Redis restarted without persistence): the rows
        stay marked published, and every consumer takes an event once (by event id), so an
        event it had already taken changes nothing. A failure raises: the caller starts over."""
        t = self.table
        after, count = 0, 0
        while True:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(t)
                    .where(t.c.published_at >= since, t.c.sequence > after)
                    .order_by(t.c.sequence)
                    .limit(batch)
                ).all()
            if not rows:
                return count
            _done, error = self._publish(rows, publish)
            if error is not None:
                raise error
            count += len(rows)
            after = rows[-1].sequence

    def _publish(self, rows: list, publish: Publish) -> tuple[int, Exception | None]:
        """Send the messages for `rows` (in sequence order): one per event to most subscribers,
        one holding all the rows' envelopes bound for it to a batched one (BATCHED), or several
        holding at most its limit each (BATCH_LIMITS). Returns
        how many rows, from the first, had every message accepted, and the error that stopped
        the next one (None when all were).

        A row that fails stops the rows after it, and batches hold only the rows before it. A
        batch that fails ends the published rows at its first one: batches sent after it leave
        that row and the later ones out; one sent before it may hold a few of them, which go
        again next round (consumers take an event once).
        """
        envelopes = [self.envelope(row) for row in rows]
        done, error = len(rows), None
        batches: dict[str, list[int]] = {}
        for i, envelope in enumerate(envelopes):
            try:
                for task_name in SUBSCRIBERS.get(envelope["type"], ()):
                    if task_name in BATCHED:
                        batches.setdefault(task_name, []).append(i)
                    else:
                        publish(task_name, envelope)
            except Exception as exc:
                done, error = i, exc
                break
        for task_name, held in batches.items():
            held = [i for i in held if i < done]
            size = BATCH_LIMITS.get(task_name) or len(held) or 1
            for start in range(0, len(held), size):
                chunk = held[start : start + size]
                try:
                    publish(task_name, [envelopes[i] for i in chunk])
                except Exception as exc:
                    done, error = chunk[0], exc
                    break
        return done, error

    def pending(self, engine: Engine) -> int:
        t = self.table
        with engine.connect() as connection:
            query = select(func.count()).select_from(t).where(t.c.published_at.is_(None))
            return connection.execute(query).scalar_one()


class BrokerMemory(Protocol):
    """Whether the broker still holds what was published to it (shared.celery_app)."""

    def forgot(self) -> bool: ...

    def remember(self) -> None: ...


def pause(published: int, interval: float) -> float:
    """How long the relay waits after a round that published `published` events: not at all
    after a full one (more are waiting); `GATHER` after a partial one, so that under a steady
    stream (a gate's admissions, a wave of registrations) each round, and each batched task it
    sends, carries the events of a twentieth of a second, not one or two (a round and a task
    cost the same whether they carry one event or fifty); `interval` when there was none."""
    if published >= BATCH:
        return 0.0
    return min(GATHER, interval) if published else interval


def run_relay(
    outbox: Outbox,
    engine: Engine,
    publish: Publish,
    ready: Callable[[], bool],
    interval: float,
    memory: BrokerMemory | None = None,
    window: timedelta = timedelta(hours=1),
) -> None:
    """Relay until SIGTERM/SIGINT: publish what is pending, wait `interval` when idle (and
    `GATHER` after a round that was not full, `pause`), and back off while the broker is
    unreachable (`ready()` false) so no lock is held for it.

    When the broker comes back without its data (`memory.forgot()`: Redis restarted empty),
    the tasks it held are gone, consumed or not: publish again every event of the last
    `window` (shared.relay.republish_window), then carry on.
    """
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("relay for %s started", outbox.producer)
    backoff = interval
    while not stop.is_set():
        try:
            if not ready():
                raise ConnectionError("broker unreachable")
            if memory is not None and memory.forgot():
                since = datetime.now(UTC) - window
                again = outbox.republish(engine, publish, since)
                memory.remember()
                log.warning(
                    "relay for %s: the broker had lost its queues; published again the %d "
                    "event(s) since %s",
                    outbox.producer, again, since.isoformat(timespec="seconds"),
                )  # fmt: skip
            published = outbox.relay_once(engine, publish)
            backoff = interval
        except Exception as exc:
            log.warning("relay for %s waiting: %s", outbox.producer, exc)
            backoff = min(backoff * 2, 5.0)
            stop.wait(backoff)
            continue
        if wait := pause(published, interval):
            stop.wait(wait)
    log.info("relay for %s stopped", outbox.producer)
