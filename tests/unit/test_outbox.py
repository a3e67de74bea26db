"""The transactional outbox on a real SQLite file: written with the change, relayed in order,
held back (in order) while publishing fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, MetaData, event, insert, select
from sqlalchemy.orm import Session

from shared.db import make_engine
from shared.events import (
    BATCH_LIMITS,
    BATCHED,
    CHECKIN_ADMITTED,
    CHECKIN_EXITED,
    DELEGATE_REGISTERED,
    EVENT_CREATED,
    NOTIFY_ARRIVAL,
    NOTIFY_DELEGATE,
    NOTIFY_WEBHOOKS,
    RECORD_ARRIVAL,
    REPLICA,
    SUBSCRIBERS,
    Checkin,
    DelegateChanged,
    Envelope,
    EventAnnounced,
    parse,
)
from shared.outbox import BATCH, GATHER, Outbox, outbox_table, pause
from tests.support.factories import checkin, event_announced, registered_envelope

pytestmark = pytest.mark.unit

# The outbox takes payloads as the change made them: loaded values (dates, datetimes).


def event_created() -> dict:
    return EventAnnounced().load(event_announced())


def delegate_registered() -> dict:
    return DelegateChanged().load(registered_envelope()["payload"])


def checkin_admitted() -> dict:
    return Checkin().load(checkin())


@dataclass
class RecordingPublish:
    """A broker that accepts everything, except (optionally) any message holding the event of
    one sequence number, for every task or for one."""

    fail_on: int | None = None
    fail_task: str | None = None
    sent: list[tuple[str, int, str]] = field(default_factory=list)  # an item an envelope
    envelopes: list[dict] = field(default_factory=list)
    batches: list[tuple[str, list[int]]] = field(default_factory=list)  # (task, sequences)

    def __call__(self, task_name: str, message: dict | list[dict]) -> None:
        envelopes = message if isinstance(message, list) else [message]
        refused_task = self.fail_task in (None, task_name)
        if refused_task and any(e["sequence"] == self.fail_on for e in envelopes):
            raise ConnectionError(f"broker refused event {self.fail_on}")
        if isinstance(message, list):
            self.batches.append((task_name, [e["sequence"] for e in envelopes]))
        self.sent.extend((task_name, e["sequence"], e["type"]) for e in envelopes)
        self.envelopes.extend(envelopes)


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def outbox(engine) -> Outbox:
    metadata = MetaData()
    table = outbox_table(metadata, "test_outbox")
    metadata.create_all(engine)
    return Outbox(table, producer="registration")


def add(engine: Engine, outbox: Outbox, *events: tuple[str, dict]) -> list[str]:
    """Commit events in one transaction; returns their event ids."""
    with Session(engine) as session, session.begin():
        return [outbox.add(session, event_type, payload) for event_type, payload in events]


def rows(engine: Engine, outbox: Outbox) -> list:
    with engine.connect() as connection:
        query = select(outbox.table).order_by(outbox.table.c.sequence)
        return connection.execute(query).all()


# --- writing ---------------------------------------------------------------------------------


def test_event_added_in_a_committed_transaction_is_pending(engine, outbox):
    [event_id] = add(engine, outbox, (EVENT_CREATED, event_created()))

    [row] = rows(engine, outbox)
    assert row.event_id == event_id
    assert (row.type, row.sequence, row.attempts) == (EVENT_CREATED, 1, 0)
    assert row.published_at is None
    assert outbox.pending(engine) == 1


def test_event_added_in_a_rolled_back_transaction_leaves_nothing(engine, outbox):
    with Session(engine) as session:
        session.begin()
        outbox.add(session, EVENT_CREATED, event_created())
        session.rollback()

    assert rows(engine, outbox) == []
    assert outbox.pending(engine) == 0


def test_event_added_in_a_transaction_that_fails_leaves_nothing(engine, outbox):
    with pytest.raises(RuntimeError), Session(engine) as session, session.begin():
        outbox.add(session, EVENT_CREATED, event_created())
        raise RuntimeError("the change this event announces failed")

    assert rows(engine, outbox) == []


def test_each_event_gets_its_own_id_and_the_next_sequence(engine, outbox):
    ids = add(engine, outbox, *[(EVENT_CREATED, event_created())] * 3)

    assert len(set(ids)) == 3
    assert [row.sequence for row in rows(engine, outbox)] == [1, 2, 3]


# --- relaying --------------------------------------------------------------------------------


def three_kinds(engine, outbox) -> None:
    add(
        engine,
        outbox,
        (EVENT_CREATED, event_created()),
        (DELEGATE_REGISTERED, delegate_registered()),
        (DELEGATE_REGISTERED, delegate_registered()),
    )


def test_relay_publishes_in_sequence_order_to_every_subscriber(engine, outbox):
    three_kinds(engine, outbox)
    publish = RecordingPublish()

    assert outbox.relay_once(engine, publish) == 3

    expected = [
        *[(task, 1, EVENT_CREATED) for task in SUBSCRIBERS[EVENT_CREATED]],
        *[(task, 2, DELEGATE_REGISTERED) for task in SUBSCRIBERS[DELEGATE_REGISTERED]],
        *[(task, 3, DELEGATE_REGISTERED) for task in SUBSCRIBERS[DELEGATE_REGISTERED]],
    ]
    assert sorted(publish.sent) == sorted(expected)
    # Each subscriber hears of the events in sequence order (the replica's in one message).
    for task in {task for task, _, _ in expected}:
        assert [seq for t, seq, _ in publish.sent if t == task] == sorted(
            seq for t, seq, _ in expected if t == task
        )
    assert sorted(publish.batches) == sorted([(NOTIFY_DELEGATE, [2, 3]), (REPLICA, [1, 2, 3])])


def test_relay_marks_what_it_published_and_a_second_round_publishes_nothing(engine, outbox):
    three_kinds(engine, outbox)
    outbox.relay_once(engine, RecordingPublish())
    again = RecordingPublish()

    assert outbox.relay_once(engine, again) == 0

    assert again.sent == []
    assert outbox.pending(engine) == 0
    assert all(row.published_at is not None and row.attempts == 1 for row in rows(engine, outbox))


def test_relay_of_an_empty_outbox_publishes_nothing(engine, outbox):
    publish = RecordingPublish()

    assert outbox.relay_once(engine, publish) == 0
    assert publish.sent == []


def test_failed_publish_holds_back_that_event_and_every_later_one(engine, outbox):
    add(engine, outbox, *[(DELEGATE_REGISTERED, delegate_registered()) for _ in range(4)])
    failing = RecordingPublish(fail_on=2)

    assert outbox.relay_once(engine, failing) == 1

    assert {sequence for _, sequence, _ in failing.sent} == {1}
    first, failed, *later = rows(engine, outbox)
    assert first.published_at is not None
    assert failed.published_at is None
    assert failed.attempts == 1
    assert "broker refused event 2" in failed.last_error
    # Later events were not tried at all: they wait, untouched, behind the failed one.
    assert [(row.published_at, row.attempts, row.last_error) for row in later] == [
        (None, 0, None),
        (None, 0, None),
    ]
    assert outbox.pending(engine) == 3


def test_a_later_round_publishes_the_held_back_events_in_order(engine, outbox):
    add(engine, outbox, *[(EVENT_CREATED, event_created()) for _ in range(4)])
    outbox.relay_once(engine, RecordingPublish(fail_on=2))
    outbox.relay_once(engine, RecordingPublish(fail_on=2))
    recovered = RecordingPublish()

    assert outbox.relay_once(engine, recovered) == 3

    assert list(dict.fromkeys(sequence for _, sequence, _ in recovered.sent)) == [2, 3, 4]
    assert outbox.pending(engine) == 0
    assert rows(engine, outbox)[1].attempts == 3  # two failures, then the success


def test_event_refused_by_one_subscriber_goes_again_to_all_of_them(engine, outbox):
    # At least once: the subscriber that had accepted it gets it again, and dedupes on the id.
    add(engine, outbox, (DELEGATE_REGISTERED, delegate_registered()))
    [alone] = [t for t in SUBSCRIBERS[DELEGATE_REGISTERED] if t not in BATCHED]
    partly = RecordingPublish(fail_on=1, fail_task=NOTIFY_DELEGATE)

    assert outbox.relay_once(engine, partly) == 0
    again = RecordingPublish()
    assert outbox.relay_once(engine, again) == 1

    assert sorted(partly.sent) == sorted([(alone, 1, DELEGATE_REGISTERED),
                                          (REPLICA, 1, DELEGATE_REGISTERED)])  # fmt: skip
    assert sorted(again.sent) == sorted(
        (task, 1, DELEGATE_REGISTERED) for task in SUBSCRIBERS[DELEGATE_REGISTERED]
    )
    assert partly.envelopes[0]["event_id"] == again.envelopes[0]["event_id"]


def test_event_type_without_subscribers_is_marked_published(engine, outbox, monkeypatch):
    monkeypatch.setitem(SUBSCRIBERS, CHECKIN_EXITED, ())  # a fact nobody listens to
    add(engine, outbox, (CHECKIN_EXITED, checkin_admitted()), (EVENT_CREATED, event_created()))
    publish = RecordingPublish()

    assert outbox.relay_once(engine, publish) == 2

    assert sorted(publish.sent) == sorted((t, 2, EVENT_CREATED) for t in SUBSCRIBERS[EVENT_CREATED])
    assert outbox.pending(engine) == 0


def test_relay_takes_at_most_one_batch_a_round(engine, outbox):
    add(engine, outbox, *[(CHECKIN_EXITED, checkin_admitted()) for _ in range(5)])

    assert outbox.relay_once(engine, RecordingPublish(), batch=2) == 2
    assert outbox.pending(engine) == 3


# --- batched subscribers --------------------------------------------------------------------


def admissions(engine, outbox, count: int) -> None:
    add(engine, outbox, *[(CHECKIN_ADMITTED, checkin_admitted()) for _ in range(count)])


def one_at_a_time(publish: RecordingPublish) -> list[tuple[str, int]]:
    """The messages of one envelope each: (task, sequence)."""
    batched = {(task, seq) for task, seqs in publish.batches for seq in seqs}
    return [(task, seq) for task, seq, _ in publish.sent if (task, seq) not in batched]


def test_a_round_sends_each_batched_subscriber_one_message_with_its_envelopes_in_order(
    engine, outbox
):
    assert {RECORD_ARRIVAL, NOTIFY_ARRIVAL} == BATCHED & set(SUBSCRIBERS[CHECKIN_ADMITTED])
    admissions(engine, outbox, 3)
    add(engine, outbox, (CHECKIN_EXITED, checkin_admitted()))  # no batched subscriber
    admissions(engine, outbox, 2)
    publish = RecordingPublish()

    assert outbox.relay_once(engine, publish) == 6

    admitted = [1, 2, 3, 5, 6]
    assert sorted(publish.batches) == [(NOTIFY_ARRIVAL, admitted), (RECORD_ARRIVAL, admitted)]
    # Everyone else still gets one message an event, in order.
    assert one_at_a_time(publish) == [(NOTIFY_WEBHOOKS, sequence) for sequence in range(1, 7)]
    assert outbox.pending(engine) == 0


def test_a_failed_batch_leaves_its_events_unpublished_and_the_next_round_sends_them(engine, outbox):
    admissions(engine, outbox, 3)
    refused = RecordingPublish(fail_on=1, fail_task=RECORD_ARRIVAL)

    assert outbox.relay_once(engine, refused) == 0

    assert [(row.published_at, row.attempts) for row in rows(engine, outbox)[1:]] == [
        (None, 0),
        (None, 0),
    ]
    held = rows(engine, outbox)[0]
    assert held.published_at is None and held.attempts == 1
    assert "broker refused event 1" in held.last_error
    again = RecordingPublish()
    assert outbox.relay_once(engine, again) == 3
    assert sorted(again.batches) == [(NOTIFY_ARRIVAL, [1, 2, 3]), (RECORD_ARRIVAL, [1, 2, 3])]
    assert outbox.pending(engine) == 0


def test_a_batch_holds_only_the_events_before_one_that_failed(engine, outbox):
    admissions(engine, outbox, 4)
    failing = RecordingPublish(fail_on=3, fail_task=NOTIFY_WEBHOOKS)

    assert outbox.relay_once(engine, failing) == 2

    assert sorted(failing.batches) == [(NOTIFY_ARRIVAL, [1, 2]), (RECORD_ARRIVAL, [1, 2])]
    assert [row.published_at is not None for row in rows(engine, outbox)] == [
        True,
        True,
        False,
        False,
    ]
    again = RecordingPublish()
    assert outbox.relay_once(engine, again) == 2
    assert sorted(again.batches) == [(NOTIFY_ARRIVAL, [3, 4]), (RECORD_ARRIVAL, [3, 4])]


def test_a_batch_over_its_subscribers_limit_goes_in_several_messages_in_order(
    engine, outbox, monkeypatch
):
    monkeypatch.setitem(BATCH_LIMITS, NOTIFY_DELEGATE, 2)
    add(engine, outbox, *[(DELEGATE_REGISTERED, delegate_registered()) for _ in range(5)])
    failing = RecordingPublish(fail_on=4, fail_task=NOTIFY_DELEGATE)

    assert outbox.relay_once(engine, failing) == 2  # the second message held 3 and 4

    mails = [seqs for task, seqs in failing.batches if task == NOTIFY_DELEGATE]
    assert mails == [[1, 2]]
    again = RecordingPublish()
    assert outbox.relay_once(engine, again) == 3
    assert [seqs for task, seqs in again.batches if task == NOTIFY_DELEGATE] == [[3, 4], [5]]
    assert [seqs for task, seqs in again.batches if task == REPLICA] == [[3, 4, 5]]


def test_a_round_marks_its_published_events_with_one_statement(engine, outbox):
    admissions(engine, outbox, 5)
    updates = []

    def count_updates(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", count_updates)
    try:
        assert outbox.relay_once(engine, RecordingPublish()) == 5
    finally:
        event.remove(engine, "before_cursor_execute", count_updates)

    assert len(updates) == 1
    assert all(row.published_at is not None and row.attempts == 1 for row in rows(engine, outbox))


def test_republish_sends_batched_subscribers_one_message_a_page(engine, outbox):
    admissions(engine, outbox, 5)
    outbox.relay_once(engine, RecordingPublish())
    again = RecordingPublish()

    assert outbox.republish(engine, again, since=datetime(2000, 1, 1, tzinfo=UTC), batch=3) == 5

    assert sorted(again.batches) == [
        (NOTIFY_ARRIVAL, [1, 2, 3]),
        (NOTIFY_ARRIVAL, [4, 5]),
        (RECORD_ARRIVAL, [1, 2, 3]),
        (RECORD_ARRIVAL, [4, 5]),
    ]


# --- the envelope ----------------------------------------------------------------------------


def test_published_envelope_loads_with_the_envelope_schema(engine, outbox):
    [event_id] = add(engine, outbox, (DELEGATE_REGISTERED, delegate_registered()))
    publish = RecordingPublish()
    outbox.relay_once(engine, publish)

    loaded = Envelope().load(publish.envelopes[0])

    assert loaded["event_id"] == uuid.UUID(event_id)
    assert loaded["producer"] == "registration"
    assert loaded["sequence"] == 1
    assert loaded["occurred_at"].tzinfo is not None
    assert loaded["occurred_at"].utcoffset().total_seconds() == 0


def test_envelope_payload_parses_back_to_what_was_added(engine, outbox):
    added = checkin_admitted()
    add(engine, outbox, (CHECKIN_ADMITTED, added))
    [row] = rows(engine, outbox)

    _, payload = parse(outbox.envelope(row))

    assert payload == added


def test_envelope_of_a_row_with_a_naive_time_is_given_utc(engine, outbox):
    # SQLite hands back naive datetimes; every one written here is UTC.
    with engine.begin() as connection:
        connection.execute(
            insert(outbox.table).values(
                event_id=str(uuid.uuid4()),
                type=EVENT_CREATED,
                version=1,
                occurred_at=datetime(2023, 12, 1, 9, 0),
                payload={},
                attempts=0,
            )
        )
    [row] = rows(engine, outbox)

    assert outbox.envelope(row)["occurred_at"] == "2023-12-01T09:00:00+00:00"


def test_a_relay_goes_on_after_a_full_round_gathers_after_a_partial_one_and_idles_after_none():
    assert pause(BATCH, interval=0.2) == 0.0  # more are waiting
    assert pause(7, interval=0.2) == GATHER < 0.2  # a steady stream: let a round's worth gather
    assert pause(7, interval=0.01) == 0.01  # never longer than the idle wait
    assert pause(0, interval=0.2) == 0.2
