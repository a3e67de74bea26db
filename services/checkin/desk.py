"""The supervisor's desk: find a delegate who forgot the badge, check them in by hand with a
reason, take a wrong check-in back (organisers), and look at offline-sync conflicts. Every
look-up of personal data and every change is in the audit trail."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.checkin import audit, presence, scanning
from services.checkin.access import Actor
from services.checkin.admission import Direction, Result, Source
from services.checkin.areas import area_by_code
from services.checkin.models import Area, Conflict, Presence, ReplicaBadge, ReplicaEvent, Scan
from services.checkin.names import fold
from shared.badges import BadgeClaim
from shared.db import as_utc, utcnow
from shared.errors import Conflict as Clash
from shared.errors import Invalid, NotFound
from shared.events import CHECKIN_EXITED


def search(session: Session, actor: Actor, event: ReplicaEvent, q: str, limit: int) -> list:
    """Badges of the event whose name (any script, any case, or its Latin transliteration)
    contains `q`, or whose badge or registration number is `q`; the look-up is audited."""
    text = fold(q)
    if not text:
        raise Invalid(
            "validation_failed", "Type part of a name or a badge number.", {"q": ["Empty."]}
        )
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches = [ReplicaBadge.search_text.like(pattern, escape="\\")]
    if text.isdigit() and int(text) < 2**31:
        matches += [ReplicaBadge.badge_id == int(text), ReplicaBadge.registration_id == int(text)]
    badges = list(
        session.scalars(
            select(ReplicaBadge)
            .where(ReplicaBadge.event_id == event.id, or_(*matches))
            .order_by(ReplicaBadge.display_name, ReplicaBadge.badge_id)
            .limit(limit)
        )
    )
    inside = _inside_areas(session, [b.badge_id for b in badges])
    found = [b.badge_id for b in badges]
    audit.record(session, actor, "search", query=audit.redacted(q), badges=found)
    return [{"badge": b, "inside": inside.get(b.badge_id, [])} for b in badges]


def check_in(
    session: Session,
    actor: Actor,
    event: ReplicaEvent,
    badge_id: int,
    reason: str,
    area_code: str | None,
    direction: Direction,
) -> scanning.Outcome:
    """A movement by hand, for a delegate without their badge: judged like a scan of the
    badge's current version, at the supervisor's gate (or the area an organiser names)."""
    if area_code:
        area = area_by_code(session, event.slug, area_code)
    elif actor.gate is not None:
        area = actor.gate.area
    else:
        raise Invalid("validation_failed", "Name the area.", {"area": ["Required for organisers."]})
    badge = session.get(ReplicaBadge, badge_id, with_for_update=True)
    if badge is None or badge.event_id != event.id:
        raise NotFound("unknown_badge", "This event has no such badge.")
    claim = BadgeClaim(event.id, badge.badge_id, badge.version)
    place = scanning.Place.of(event, area, actor.gate)
    outcome = scanning.settle_now(
        session, place, claim, badge, direction, Source.MANUAL, reason=reason, actor=actor.name
    )
    audit.record(
        session, actor, "manual_checkin", badge_id=badge_id, area=area.code,
        direction=direction.value, result=outcome.result.value, scan_id=outcome.scan_id,
        reason=reason,
    )  # fmt: skip
    return outcome


def undo(session: Session, actor: Actor, event: ReplicaEvent, scan_id: int, reason: str) -> dict:
    """Take a wrong admission back with a compensating log entry (the admission stays in the
    log); presence is derived again without it."""
    admitted = session.get(Scan, scan_id)
    if admitted is None or admitted.event_id != event.id:
        raise NotFound("unknown_scan", "This event has no such scan.")
    if admitted.result != Result.ADMITTED.value:
        raise Clash("not_an_admission", "Only an admission can be undone.")
    badge = session.get(ReplicaBadge, admitted.badge_id, with_for_update=True)
    if session.scalar(select(Scan.id).where(Scan.undoes_scan_id == scan_id)) is not None:
        raise Clash("already_undone", "This admission has been undone already.")
    area = session.get(Area, admitted.area_id)
    before = presence.current(session, admitted.badge_id, area.id, lock=True)
    now = utcnow()
    row = Scan(
        gate_id=admitted.gate_id,
        area_id=area.id,
        event_id=event.id,
        badge_id=admitted.badge_id,
        badge_version=admitted.badge_version,
        direction=Direction.IN.value,
        result=Result.UNDONE.value,
        source=Source.UNDO.value,
        scanned_at=now,
        occurred_at=now,
        message=f"Admission {scan_id} taken back.",
        reason=reason,
        actor=actor.name,
        undoes_scan_id=scan_id,
    )
    session.add(row)
    session.flush()
    after = presence.recompute(session, admitted.badge_id, area.id)
    was_inside, is_inside = bool(before and before.inside), bool(after and after.inside)
    if was_inside and not is_inside and badge is not None:
        gate = scanning.gate_name(session, admitted.gate_id)
        scanning.announce(session, row, badge, area.code, gate, kind=CHECKIN_EXITED)
    audit.record(session, actor, "undo", scan_id=scan_id, undo_scan_id=row.id, reason=reason)
    return {
        "id": row.id,
        "undoes": scan_id,
        "badge_id": admitted.badge_id,
        "area": area.code,
        "inside": is_inside,
        "at": now,
        "reason": reason,
    }


def conflicts(session: Session, event: ReplicaEvent, resolved: bool | None) -> list[dict]:
    query = select(Conflict).where(Conflict.event_id == event.id)
    if resolved is not None:
        query = query.where(
            Conflict.resolved_at.is_not(None) if resolved else Conflict.resolved_at.is_(None)
        )
    return [_conflict(session, c) for c in session.scalars(query.order_by(Conflict.id))]


def resolve(
    session: Session, actor: Actor, event: ReplicaEvent, conflict_id: int, note: str
) -> dict:
    conflict = session.get(Conflict, conflict_id, with_for_update=True)
    if conflict is None or conflict.event_id != event.id:
        raise NotFound("unknown_conflict", "This event has no such conflict.")
    if conflict.resolved_at is not None:
        raise Clash("already_resolved", "This conflict has been resolved already.")
    conflict.resolved_at, conflict.resolved_by, conflict.resolution_note = (
        utcnow(),
        actor.name,
        note,
    )
    audit.record(session, actor, "conflict_resolved", conflict_id=conflict_id, note=note)
    session.flush()
    return _conflict(session, conflict)


def _conflict(session: Session, conflict: Conflict) -> dict:
    area = session.get(Area, conflict.area_id)
    return {
        "id": conflict.id,
        "kind": conflict.kind,
        "area": area.code,
        "badge": session.get(ReplicaBadge, conflict.badge_id),
        "winner": _scan(session, conflict.winner_scan_id),
        "loser": _scan(session, conflict.loser_scan_id),
        "detected_at": as_utc(conflict.detected_at),
        "resolved_at": as_utc(conflict.resolved_at) if conflict.resolved_at else None,
        "resolved_by": conflict.resolved_by,
        "note": conflict.resolution_note,
    }


def _scan(session: Session, scan_id: int) -> dict:
    row = session.get(Scan, scan_id)
    return {
        "id": row.id,
        "gate": scanning.gate_name(session, row.gate_id),
        "source": row.source,
        "result": row.result,
        "occurred_at": as_utc(row.occurred_at),
        "scanned_at": as_utc(row.scanned_at),
    }


def _inside_areas(session: Session, badge_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if badge_ids:
        for badge_id, code in session.execute(
            select(Presence.badge_id, Area.code)
            .join(Area, Area.id == Presence.area_id)
            .where(Presence.badge_id.in_(badge_ids), Presence.inside.is_(True))
        ):
            found.setdefault(badge_id, []).append(code)
    return found
