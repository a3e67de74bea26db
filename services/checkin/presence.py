"""Presence per badge and area, and the scan log it is derived from.

A live scan changes presence with one conditional upsert
(`INSERT … ON CONFLICT (badge_id, area_id) DO UPDATE … WHERE NOT inside RETURNING`): of any
number of gates scanning one badge into one area at once, the database lets exactly one flip
it to inside. Everything else (offline scans synced late, an undo) recomputes the row by
replaying the log, under the row locks, so presence is always what `replay` of the log says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.checkin.admission import Result
from services.checkin.models import Presence, Scan
from shared.db import as_utc, on_postgresql, upsert_insert

ENTER, LEAVE = "enter", "leave"


@dataclass(frozen=True)
class Movement:
    """A scan-log row as far as presence cares: who moved where, when, through which gate."""

    scan_id: int
    badge_id: int
    area_id: int
    event_id: int
    kind: str  # enter, leave
    at: datetime
    gate_id: int | None


@dataclass
class State:
    """One badge's presence in one area, as the `presence` row holds it."""

    event_id: int
    inside: bool
    first_in_at: datetime
    first_gate_id: int | None
    last_in_at: datetime
    last_gate_id: int | None
    last_out_at: datetime | None = None
    # The admission that began the current (or last) visit: what a second one collides with.
    entry_scan_id: int | None = None

    def row(self) -> tuple:
        return (
            self.inside,
            self.first_in_at,
            self.first_gate_id,
            self.last_in_at,
            self.last_gate_id,
            self.last_out_at,
        )


def step(state: State | None, move: Movement) -> State | None:
    """The state after one movement: an entry while inside and an exit while outside change
    nothing (the first is a double admission, recorded as a conflict where it arises)."""
    if move.kind == ENTER:
        if state is None:
            return State(
                move.event_id,
                True,
                move.at,
                move.gate_id,
                move.at,
                move.gate_id,
                None,
                move.scan_id,
            )
        if not state.inside:
            state.inside, state.last_in_at, state.last_gate_id = True, move.at, move.gate_id
            state.entry_scan_id = move.scan_id
        return state
    if state is not None and state.inside:
        state.inside, state.last_out_at = False, move.at
    return state


def replay(moves: Iterable[Movement]) -> dict[tuple[int, int], State]:
    """Presence of every (badge, area) from movements in log order (`occurred_at`, id)."""
    states: dict[tuple[int, int], State] = {}
    for move in sorted(moves, key=lambda m: (as_utc(m.at), m.scan_id)):
        key = (move.badge_id, move.area_id)
        state = step(states.get(key), move)
        if state is not None:
            states[key] = state
    return states


def movements(session: Session, *where) -> list[Movement]:
    """The log's admissions and exits (matching `where`), without the ones taken back."""
    undone = select(Scan.undoes_scan_id).where(Scan.undoes_scan_id.is_not(None))
    rows = session.execute(
        select(Scan.id, Scan.badge_id, Scan.area_id, Scan.event_id, Scan.result, Scan.occurred_at)
        .add_columns(Scan.gate_id)
        .where(
            Scan.result.in_([Result.ADMITTED.value, Result.EXITED.value]),
            Scan.badge_id.is_not(None),
            Scan.area_id.is_not(None),
            Scan.id.not_in(undone),
            *where,
        )
    ).all()
    return [
        Movement(
            r.id,
            r.badge_id,
            r.area_id,
            r.event_id,
            ENTER if r.result == Result.ADMITTED.value else LEAVE,
            as_utc(r.occurred_at),
            r.gate_id,
        )
        for r in rows
    ]


def rebuild(session: Session, event_id: int) -> int:
    """Throw away an event's presence and derive it again from the scan log; returns how many
    rows it wrote. Live presence always equals what this writes."""
    states = replay(movements(session, Scan.event_id == event_id))
    session.execute(delete(Presence).where(Presence.event_id == event_id))
    session.add_all(_row(badge_id, area_id, s) for (badge_id, area_id), s in states.items())
    session.flush()
    return len(states)


def recompute(session: Session, badge_id: int, area_id: int) -> State | None:
    """Derive one badge's presence in one area again from the log (the caller holds the
    badge's lock), and store it."""
    moves = movements(session, Scan.badge_id == badge_id, Scan.area_id == area_id)
    state = replay(moves).get((badge_id, area_id))
    store(session, badge_id, area_id, state)
    return state


def store(session: Session, badge_id: int, area_id: int, state: State | None) -> None:
    key = and_(Presence.badge_id == badge_id, Presence.area_id == area_id)
    if state is None:
        session.execute(delete(Presence).where(key))
        return
    values = {
        "event_id": state.event_id,
        "inside": state.inside,
        "first_in_at": state.first_in_at,
        "first_gate_id": state.first_gate_id,
        "last_in_at": state.last_in_at,
        "last_gate_id": state.last_gate_id,
        "last_out_at": state.last_out_at,
    }
    statement = (
        upsert_insert(session, Presence.__table__)
        .values(badge_id=badge_id, area_id=area_id, **values)
        .on_conflict_do_update(index_elements=["badge_id", "area_id"], set_=values)
    )
    session.execute(statement)


def store_many(session: Session, states: dict[tuple[int, int], State | None]) -> None:
    """`store` for many (badge, area) keys at once: one DELETE and one batched upsert (an
    offline sync settles thousands of badges in a transaction)."""
    gone = [key for key, state in states.items() if state is None]
    if gone:
        session.execute(
            delete(Presence).where(tuple_(Presence.badge_id, Presence.area_id).in_(gone))
        )
    rows = [
        {"badge_id": badge_id, "area_id": area_id, "event_id": state.event_id,
         "inside": state.inside, "first_in_at": state.first_in_at,
         "first_gate_id": state.first_gate_id, "last_in_at": state.last_in_at,
         "last_gate_id": state.last_gate_id, "last_out_at": state.last_out_at}
        for (badge_id, area_id), state in states.items()
        if state is not None
    ]  # fmt: skip
    if not rows:
        return
    statement = upsert_insert(session, Presence.__table__)
    changed = {name: statement.excluded[name] for name in _STORED}
    session.execute(
        statement.on_conflict_do_update(index_elements=["badge_id", "area_id"], set_=changed), rows
    )


_STORED = (
    "event_id", "inside", "first_in_at", "first_gate_id", "last_in_at", "last_gate_id",
    "last_out_at",
)  # fmt: skip


def current(session: Session, badge_id: int, area_id: int, *, lock: bool = False) -> State | None:
    """The stored presence of one badge in one area (locked for the transaction on request)."""
    values = {"p_badge_id": badge_id, "p_area_id": area_id}
    row = session.execute(_CURRENT_LOCKED if lock else _CURRENT, values).first()
    if row is None:
        return None
    return State(
        row.event_id,
        row.inside,
        as_utc(row.first_in_at),
        row.first_gate_id,
        as_utc(row.last_in_at),
        row.last_gate_id,
        as_utc(row.last_out_at) if row.last_out_at else None,
    )


def enter(
    session: Session, badge_id: int, event_id: int, area_id: int, gate_id: int | None, now: datetime
) -> bool:
    """Flip the badge to inside the area unless it already is; True when this call did it."""
    values = {"p_badge_id": badge_id, "p_area_id": area_id, "p_event_id": event_id}
    values |= {"p_gate_id": gate_id, "p_now": now}
    return session.execute(_ENTER[_dialect_name(session)], values).first() is not None


def leave(session: Session, badge_id: int, area_id: int, now: datetime) -> bool:
    """Flip the badge to outside the area if it is inside; True when this call did it."""
    values = {"p_badge_id": badge_id, "p_area_id": area_id, "p_now": now}
    return session.execute(_LEAVE, values).first() is not None


def _enter_statement(dialect):
    """Built once per dialect, executed with parameters: a live scan runs it every time."""
    p = Presence.__table__
    gate, now = bindparam("p_gate_id"), bindparam("p_now", type_=p.c.last_in_at.type)
    return (
        dialect.insert(p)
        .values(
            badge_id=bindparam("p_badge_id"),
            area_id=bindparam("p_area_id"),
            event_id=bindparam("p_event_id"),
            inside=True,
            first_in_at=now,
            first_gate_id=gate,
            last_in_at=now,
            last_gate_id=gate,
        )  # fmt: skip
        .on_conflict_do_update(
            index_elements=[p.c.badge_id, p.c.area_id],
            set_={"inside": True, "last_in_at": now, "last_gate_id": gate},
            where=p.c.inside.is_(False),
        )
        .returning(p.c.badge_id)
    )


_ENTER = {"postgresql": _enter_statement(postgresql), "sqlite": _enter_statement(sqlite)}
_p = Presence.__table__.c  # plain columns: the ORM's statements cost a live scan more
_LEAVE = (
    update(Presence.__table__)
    .where(
        _p.badge_id == bindparam("p_badge_id"),
        _p.area_id == bindparam("p_area_id"),
        _p.inside.is_(True),
    )
    .values(inside=False, last_out_at=bindparam("p_now", type_=_p.last_out_at.type))
    .returning(_p.badge_id)
)
_CURRENT = select(Presence.__table__).where(
    _p.badge_id == bindparam("p_badge_id"), _p.area_id == bindparam("p_area_id")
)
_CURRENT_LOCKED = _CURRENT.with_for_update()


def _row(badge_id: int, area_id: int, state: State) -> Presence:
    return Presence(
        badge_id=badge_id,
        area_id=area_id,
        event_id=state.event_id,
        inside=state.inside,
        first_in_at=state.first_in_at,
        first_gate_id=state.first_gate_id,
        last_in_at=state.last_in_at,
        last_gate_id=state.last_gate_id,
        last_out_at=state.last_out_at,
    )


def _dialect_name(session: Session) -> str:
    return "postgresql" if on_postgresql(session) else "sqlite"
