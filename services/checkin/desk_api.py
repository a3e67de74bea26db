"""Supervisors and organisers at the desk: find a delegate, check them in by hand, undo a
wrong check-in, look at and resolve offline-sync conflicts, close the day, read the audit."""

from __future__ import annotations

from flask_smorest import Blueprint

from services.checkin import access, audit, closing, desk, live, resources
from services.checkin.api import BEARER
from services.checkin.scanning import event_of
from services.checkin.schemas import (
    AuditOut,
    AuditQuery,
    CloseDayIn,
    CloseDayOut,
    ConflictOut,
    ConflictsOut,
    ConflictsQuery,
    ManualCheckinIn,
    ResolveIn,
    ScanOut,
    SearchOut,
    SearchQuery,
    UndoIn,
    UndoOut,
)
from shared.access import bearer_digest, bearer_required
from shared.db import utcnow
from shared.errors import ErrorBody

blp = Blueprint("checkin_desk", __name__, url_prefix="/api/v1/events", description="The desk")
DESK = ("supervisor",)


def documented(view):
    for status in (401, 403, 404, 409):
        view = blp.alt_response(status, schema=ErrorBody)(view)
    return blp.doc(security=BEARER)(view)


@blp.get("/<slug>/badges")
@bearer_required
@blp.arguments(SearchQuery, location="query")
@blp.response(200, SearchOut)
@documented
def search(query: dict, slug: str):
    """Find badges by part of a name (any script and case, or its Latin transliteration) or by
    badge or registration number: supervisors and organisers; every search is audited."""
    with resources().db.sessions.begin() as session:
        actor = access.staff(session, bearer_digest(), slug, DESK)
        event = event_of(session, slug)
        return {"results": desk.search(session, actor, event, query["q"], query["limit"])}


@blp.post("/<slug>/checkins")
@bearer_required
@blp.arguments(ManualCheckinIn)
@blp.response(200, ScanOut)
@documented
def manual_checkin(data: dict, slug: str):
    """Check a delegate in (or out) by hand, with the reason: judged like a scan, at the
    supervisor's gate or the `area` an organiser names; logged and audited."""
    with resources().db.sessions.begin() as session:
        actor = access.staff(session, bearer_digest(), slug, DESK)
        event = event_of(session, slug)
        outcome = desk.check_in(
            session, actor, event, data["badge_id"], data["reason"], data["area"],
            data["direction"],
        )  # fmt: skip
    if outcome.result.passes:
        live.changed(slug)
    return outcome


@blp.post("/<slug>/scans/<id:scan_id>/undo")
@bearer_required
@blp.arguments(UndoIn)
@blp.response(201, UndoOut)
@documented
def undo(data: dict, slug: str, scan_id: int):
    """Take a wrong admission back (organisers): a compensating entry in the scan log (nothing
    is deleted); presence is derived again without it."""
    with resources().db.sessions.begin() as session:
        actor = access.staff(session, bearer_digest(), slug, ())
        undone = desk.undo(session, actor, event_of(session, slug), scan_id, data["reason"])
    live.changed(slug)
    return undone


@blp.get("/<slug>/conflicts")
@bearer_required
@blp.arguments(ConflictsQuery, location="query")
@blp.response(200, ConflictsOut)
@documented
def list_conflicts(query: dict, slug: str):
    """Double admissions found when offline scanners synced (`resolved=false` for the open
    ones): which admission stands, which counted as already inside."""
    with resources().db.reads() as session:
        access.staff(session, bearer_digest(), slug, DESK)
        return {"conflicts": desk.conflicts(session, event_of(session, slug), query["resolved"])}


@blp.post("/<slug>/conflicts/<id:conflict_id>/resolve")
@bearer_required
@blp.arguments(ResolveIn)
@blp.response(200, ConflictOut)
@documented
def resolve_conflict(data: dict, slug: str, conflict_id: int):
    """Mark a conflict as looked at, with a note."""
    with resources().db.sessions.begin() as session:
        actor = access.staff(session, bearer_digest(), slug, DESK)
        resolved = desk.resolve(session, actor, event_of(session, slug), conflict_id, data["note"])
    live.changed(slug)
    return resolved


@blp.post("/<slug>/close-day")
@bearer_required
@blp.arguments(CloseDayIn)
@blp.response(200, CloseDayOut)
@documented
def close_day(data: dict, slug: str):
    """Check out everyone still inside who entered before `before` (default now), as the
    nightly `checkin.close_day` does at the end of the event's local day (organisers)."""
    r = resources()
    with r.db.sessions.begin() as session:
        actor = access.staff(session, bearer_digest(), slug, ())
        event = event_of(session, slug)
        audit.record(session, actor, "close_day", before=(data["before"] or utcnow()).isoformat())
    closed = closing.close_event_day(r.db.sessions, event.id, data["before"] or utcnow())
    if closed:
        live.changed(slug)
    return {"checked_out": closed}


@blp.get("/<slug>/audit")
@bearer_required
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditOut)
@documented
def get_audit(query: dict, slug: str):
    """checkin's audit trail, newest first (organisers): searches, offline lists, check-ins by
    hand, undos, resolutions, day closes."""
    with resources().db.reads() as session:
        access.staff(session, bearer_digest(), slug, ())
        return {"entries": audit.entries(session, slug, query["limit"], query["before"])}
