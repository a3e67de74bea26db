"""Offline sync: a scanner that lost the network queued its scans with its own clock and sends
them in a batch when it is back.

- Idempotent: each scan carries the device's id for it; a scan seen before is answered from
  the log as it was the first time, never applied again.
- In time order: a queued scan is judged at the moment it happened (its device time, never
  later than now), against every movement the log holds, not just the newest state. Presence
  is then derived again from the log (presence.replay), so it does not depend on the order in
  which devices come back.
- Conflicts are kept, not hidden: two admissions of one badge to one area without an exit
  between them (two offline gates each let it in) make a `Conflict` record: the earlier
  admission stands, the later counts as already inside.
- One transaction per chunk of scans, taking the badges' row locks in id order (PostgreSQL),
  so live scans, undos and other syncs of the same badges wait their turn, without deadlock.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Row, select
from sqlalchemy.orm import Session, sessionmaker

from services.checkin import presence, scanning
from services.checkin.admission import Direction, Result, Source, message
from services.checkin.areas import area_by_code
from services.checkin.models import Area, Conflict, Gate, Presence, ReplicaBadge, Scan
from services.checkin.models import outbox as events
from services.checkin.presence import ENTER, LEAVE, Movement, State
from services.checkin.scanning import BADGE_COLUMNS, LogEntry
from shared.badges import BadgeClaim, BadgeVerifier
from shared.db import among, as_utc, utcnow

CHUNK = 500
_PROVISIONAL = 10**15  # orders a queued scan after every logged one of the same moment


@dataclass(frozen=True)
class QueuedScan:
    client_id: str
    token: str
    direction: Direction
    occurred_at: datetime
    area: str | None = None


def sync(
    sessions: sessionmaker,
    verifier: BadgeVerifier,
    gate_id: int,
    scans: list[QueuedScan],
    actor: str,
    chunk: int = CHUNK,
) -> tuple[list[dict], int]:
    """Apply a device's queue; returns an answer per scan (in the order given) and how many
    were applied now (the rest had been applied before)."""
    answers: dict[str, dict] = {}
    applied = 0
    unique = list({s.client_id: s for s in reversed(scans)}.values())[::-1]
    for start in range(0, len(unique), chunk):
        with sessions.begin() as session:
            gate = session.get(Gate, gate_id)
            known, logged, conflicts = _apply_chunk(
                session, verifier, gate, unique[start : start + chunk], actor
            )
            applied += len(logged)
            # The scans logged now can only be in the conflicts found now.
            conflicts.update(_conflicts_of(session, [r.id for r in known.values()]))
            answers.update(_answers(session, {**known, **logged}, conflicts))
    return [answers[s.client_id] for s in scans], applied


def answer(session: Session, row: Scan, conflict_id: int | None = None) -> dict:
    """A logged scan as the device is told about it: the same every time it asks."""
    return _answers(session, {row.client_id: row}, {row.id: conflict_id})[row.client_id]


def _answers(
    session: Session,
    rows: dict[str, Scan | Row | LogEntry],
    conflicts: dict[int, int] | None = None,
) -> dict[str, dict]:
    """`answer` for a chunk of logged scans: their badges, areas, gates and conflicts are
    loaded with one query each, not one a scan."""
    scans = list(rows.values())
    if conflicts is None:
        conflicts = _conflicts_of(session, [r.id for r in scans])
    badges = _by_id(session, BADGE_COLUMNS, ReplicaBadge.badge_id, {r.badge_id for r in scans})
    areas = _by_id(session, [Area], Area.id, {r.area_id for r in scans})
    gates = _by_id(session, [Gate], Gate.id, {r.gate_id for r in scans})
    answers = {}
    for client_id, row in rows.items():
        badge = badges.get(row.badge_id)
        area, gate = areas.get(row.area_id), gates.get(row.gate_id)
        answers[client_id] = {
            "id": row.client_id,
            "result": Result(row.result),
            "message": row.message,
            "gate": gate.name if gate else None,
            "area": area.code if area else None,
            "scanned_at": as_utc(row.scanned_at),
            "occurred_at": as_utc(row.occurred_at),
            "badge": badge if badge is not None and badge.event_id == row.event_id else None,
            "inside_since": as_utc(row.inside_since) if row.inside_since else None,
            "inside_gate": row.inside_gate,
            "conflict": conflicts.get(row.id),
        }
    return answers


def _by_id(session: Session, what, column, ids: set) -> dict:
    """`what` (a model, or columns) of the rows whose `column` is among `ids`, by that id."""
    ids.discard(None)
    if not ids:
        return {}
    query = select(*what).where(among(session, column, ids))
    found = session.scalars(query) if len(what) == 1 else session.execute(query)
    return {getattr(r, column.key): r for r in found}


@dataclass
class _Item:
    """One queued scan on its way into the log."""

    scan: QueuedScan
    place: scanning.Place
    claim: BadgeClaim | None
    at: datetime
    provisional: int
    result: Result | None = None
    why: str | None = None
    inside_since: datetime | None = None
    inside_gate: str | None = None


def _apply_chunk(
    session: Session, verifier: BadgeVerifier, gate: Gate, scans: list[QueuedScan], actor: str
) -> tuple[dict[str, Row], dict[str, LogEntry], dict[int, int]]:
    """Log the chunk's scans not logged before; (those logged before, those logged now, scan
    id → conflict for those logged now), the scans by their device ids."""
    ids = [s.client_id for s in scans]
    logged_before = select(Scan.__table__).where(among(session, Scan.client_id, ids))
    known = {r.client_id: r for r in session.execute(logged_before)}
    todo = [s for s in scans if s.client_id not in known]
    if not todo:
        return known, {}, {}
    now = utcnow()
    event = scanning.event_of(session, gate.event_slug)
    rules = scanning.categories_of(session, event)
    places: dict[str | None, scanning.Place] = {}
    claims = {s.client_id: scanning.verify(verifier, s.token) for s in todo}
    badge_ids = sorted({c.badge_id for c in claims.values() if c is not None})
    # Locks in badge order: two syncs (or a sync and a live scan) never wait in a circle.
    badges = {
        b.badge_id: b
        for b in session.execute(
            select(*BADGE_COLUMNS)
            .where(among(session, ReplicaBadge.badge_id, badge_ids))
            .order_by(ReplicaBadge.badge_id)
            .with_for_update()
        )
    }
    stored = {
        (badge_id, area_id)
        for badge_id, area_id in session.execute(
            select(Presence.badge_id, Presence.area_id)
            .where(among(session, Presence.badge_id, badge_ids))
            .order_by(Presence.badge_id, Presence.area_id)
            .with_for_update()
        )
    }
    logged: dict[tuple[int, int], list[Movement]] = defaultdict(list)
    for move in presence.movements(session, among(session, Scan.badge_id, badge_ids)):
        logged[(move.badge_id, move.area_id)].append(move)

    items: list[_Item] = []
    groups: dict[tuple[int, int], list[_Item]] = defaultdict(list)
    position = {client_id: i for i, client_id in enumerate(ids)}
    ordered = sorted(todo, key=lambda s: (_utc(s.occurred_at, now), position[s.client_id]))
    for index, queued in enumerate(ordered):
        if queued.area not in places:
            area = area_by_code(session, gate.event_slug, queued.area) if queued.area else gate.area
            places[queued.area] = scanning.Place.of(event, area, gate)
        claim = claims[queued.client_id]
        badge = badges.get(claim.badge_id) if claim else None
        if badge is not None and badge.event_id != claim.event_id:
            badge = None
        item = _Item(
            queued, places[queued.area], claim, _utc(queued.occurred_at, now),
            _PROVISIONAL + index,
        )  # fmt: skip
        refused = scanning.refuse(session, item.place, claim, badge, queued.direction, rules=rules)
        if refused:
            item.result, item.why = refused
        else:  # presence decides, in time order, below
            groups[(claim.badge_id, item.place.area_id)].append(item)
        items.append(item)

    found: list[tuple[tuple[int, int], int, int]] = []  # (badge, area), winner, loser
    finals = {
        key: _settle_group(session, key, event.id, logged[key], groups[key], found)
        for key in sorted(groups)
    }
    rows = {}
    for item in items:  # in time order, so the log's ids follow it
        text = message(
            item.result, gate=item.inside_gate, since=item.inside_since,
            timezone=item.place.timezone, reason=item.why,
        )  # fmt: skip
        rows[item.provisional] = scanning.log_row(
            item.place, item.claim, item.scan.direction, item.result, text, Source.OFFLINE,
            now, item.at, client_id=item.scan.client_id, actor=actor,
            inside=(item.inside_since, item.inside_gate),
        )  # fmt: skip
    scanning.write_log(session, list(rows.values()))

    def real(scan_id: int) -> int:
        return rows[scan_id].id if scan_id >= _PROVISIONAL else scan_id

    conflicts = [
        Conflict(
            event_id=event.id,
            badge_id=key[0],
            area_id=key[1],
            kind="double_admission",
            winner_scan_id=real(winner),
            loser_scan_id=real(loser),
        )  # fmt: skip
        for key, winner, loser in dict.fromkeys(found)
    ]
    session.add_all(conflicts)
    presence.store_many(
        session, {key: final for key, final in finals.items() if final is not None or key in stored}
    )
    events.add_many(
        session,
        (
            scanning.admission_event(row, badges[row.badge_id], item.place.area.code, gate.name)
            if item.result.passes
            else scanning.rejection_event(row, item.place.area.code, gate.name)
            for item in items
            for row in (rows[item.provisional],)
        ),
    )
    session.flush()
    return known, {row.client_id: row for row in rows.values()}, _first_conflicts(conflicts)


def _settle_group(
    session: Session,
    key: tuple[int, int],
    event_id: int,
    logged: list[Movement],
    items: list[_Item],
    found: list,
) -> State | None:
    """Judge one badge's queued scans at one area at their moments, among the logged
    movements; returns the presence they all add up to."""
    moves = list(logged)
    last = max(((m.at, m.scan_id) for m in moves), default=None)
    tail = presence.replay(moves).get(key)  # the state after every move so far
    for item in items:
        in_order = last is None or (item.at, item.provisional) > last
        # The usual case, a scan later than everything logged, needs no replay.
        before = set() if in_order else _effective_entries(moves)
        state = copy.copy(tail) if in_order else _state_at(moves, item.at, item.provisional)
        gate_id = item.place.gate_id
        kind = None
        if item.scan.direction is Direction.OUT:
            inside = state is not None and state.inside
            item.result, kind = (Result.EXITED, LEAVE) if inside else (Result.NOT_INSIDE, None)
        elif state is not None and state.inside:
            item.result = Result.ALREADY_INSIDE
            item.inside_since = state.last_in_at
            item.inside_gate = scanning.gate_name(session, state.last_gate_id)
            if state.last_gate_id != gate_id:  # another gate let it in: both showed green
                found.append((key, state.entry_scan_id, item.provisional))
        else:
            item.result, kind = Result.ADMITTED, ENTER
        if kind is not None:
            moves.append(Movement(item.provisional, *key, event_id, kind, item.at, gate_id))
            # An admission slipped in before a later one with no exit between: that later one
            # no longer began a visit, it met a badge already inside.
            if not in_order:
                lost = before - _effective_entries(moves)
                found.extend((key, item.provisional, scan_id) for scan_id in lost)
            tail = (
                presence.replay(moves).get(key) if not in_order else presence.step(tail, moves[-1])
            )
            last = max(last, (item.at, item.provisional)) if last else (item.at, item.provisional)
    return tail


def _utc(moment: datetime, now: datetime) -> datetime:
    """A device's time in UTC, and never later than now: a clock running fast does not put a
    scan after the live scans that follow it."""
    return min(as_utc(moment).astimezone(UTC), now)


def _state_at(moves: Iterable[Movement], at: datetime, scan_id: int) -> State | None:
    earlier = [m for m in moves if (m.at, m.scan_id) < (at, scan_id)]
    states = presence.replay(earlier)
    return next(iter(states.values()), None)


def _effective_entries(moves: list[Movement]) -> set[int]:
    """The admissions that began a visit (the others met a badge already inside)."""
    began, state = set(), None
    for move in sorted(moves, key=lambda m: (m.at, m.scan_id)):
        was_inside = state is not None and state.inside
        state = presence.step(state, move)
        if move.kind == ENTER and not was_inside:
            began.add(move.scan_id)
    return began


def _conflicts_of(session: Session, scan_ids: list[int]) -> dict[int, int]:
    """scan id → the conflict it is part of (the first, when several)."""
    if not scan_ids:
        return {}
    return _first_conflicts(
        session.scalars(
            select(Conflict)
            .where(
                among(session, Conflict.winner_scan_id, scan_ids)
                | among(session, Conflict.loser_scan_id, scan_ids)
            )
            .order_by(Conflict.id)
        )
    )


def _first_conflicts(conflicts: Iterable[Conflict]) -> dict[int, int]:
    """scan id → the first of `conflicts` (in id order) each scan is part of."""
    found: dict[int, int] = {}
    for conflict in conflicts:
        found.setdefault(conflict.winner_scan_id, conflict.id)
        found.setdefault(conflict.loser_scan_id, conflict.id)
    return found
