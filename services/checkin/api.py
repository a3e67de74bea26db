"""The gate's HTTP API: scan a badge, sync an offline queue, fetch the offline badge list,
learn the device's gate; and the organisers' headcount."""

from __future__ import annotations

import functools

from flask import request
from flask_smorest import Blueprint

from services.checkin import access, audit, live, offline, resources, scanning
from services.checkin.badge_list import offline_list
from services.checkin.headcount import headcount
from services.checkin.schemas import (
    BatchIn,
    BatchOut,
    DeviceOut,
    HeadcountOut,
    OfflineListOut,
    OfflineListQuery,
    ScanIn,
    ScanOut,
)
from shared.access import bearer_digest, bearer_required
from shared.errors import ErrorBody, Forbidden

blp = Blueprint("checkin", __name__, url_prefix="/api/v1", description="Gates and headcount")
BEARER = [{"bearer": []}]
BATCH_BODY_BYTES = 4 * 1024 * 1024  # 5,000 queued scans


def larger_body(limit: int):
    """Let one view take a larger body than the service's default (read before parsing)."""

    def decorate(view):
        @functools.wraps(view)
        def allowed(*args, **kwargs):
            request.max_content_length = max(limit, request.max_content_length or 0)
            return view(*args, **kwargs)

        return allowed

    return decorate


@blp.post("/scans")
@bearer_required
@blp.arguments(ScanIn)
@blp.response(200, ScanOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(404, schema=ErrorBody)
@blp.doc(security=BEARER)
def post_scan(data: dict):
    """Scan a badge at this scanner's gate (into its area, or another `area` of the event).
    Every scan gets an answer (`result`) and is logged; `passes` says green or red. An
    admission is durable before it is answered."""
    r = resources()
    with r.db.sessions.begin() as session:
        device = access.scanning_device(session, bearer_digest())
        outcome = scanning.scan(
            session, r.verifier, device.place, data["token"], data["direction"], data["area"],
            actor=device.actor,
        )  # fmt: skip
    if outcome.result.passes:  # committed: the dashboards may look
        live.changed(device.place.event_slug)
    return outcome


@blp.post("/scans/batch")
@bearer_required
@larger_body(BATCH_BODY_BYTES)
@blp.arguments(BatchIn)
@blp.response(200, BatchOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(404, schema=ErrorBody)
@blp.doc(security=BEARER)
def post_batch(data: dict):
    """Sync a scanner's offline queue (up to 5,000 scans, each with the device's own id and
    clock). Idempotent: a scan sent again is answered as the first time, not applied again.
    Scans are judged at their device time; two admissions without an exit between become a
    conflict record (the earlier stands). Answers come in the order sent."""
    r = resources()
    with r.db.reads() as session:
        gate, token = access.device(session, bearer_digest())
        gate_id, slug, actor = gate.id, gate.event_slug, f"{token.role}:{token.label}"
    queue = [
        offline.QueuedScan(str(s["id"]), s["token"], s["direction"], s["scanned_at"], s["area"])
        for s in data["scans"]
    ]
    results, applied = offline.sync(r.db.sessions, r.verifier, gate_id, queue, actor)
    if applied:
        live.changed(slug)
    return {"results": results, "applied": applied, "replayed": len(queue) - applied}


@blp.get("/device")
@bearer_required
@blp.response(200, DeviceOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.doc(security=BEARER)
def get_device():
    """The event, gate and area this scanner token is bound to, and its role."""
    with resources().db.reads() as session:
        gate, token = access.device(session, bearer_digest())
        return {
            "event": gate.event_slug,
            "gate": gate.name,
            "area": gate.area.code,
            "area_name": gate.area.name,
            "role": token.role,
        }


@blp.get("/events/<slug>/badges/offline")
@bearer_required
@blp.arguments(OfflineListQuery, location="query")
@blp.response(200, OfflineListOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(404, schema=ErrorBody)
@blp.doc(security=BEARER)
def get_offline_list(query: dict, slug: str):
    """Everything a scanner of this event needs to go on offline: the badge verification
    keys and every badge (version, status, name, category, areas it may enter); `since` gives
    only the badges changed after an earlier list. The download is in the audit trail."""
    r = resources()
    with r.db.sessions.begin() as session:
        actor = access.staff(session, bearer_digest(), slug, ("scanner", "supervisor"))
        if actor.role == access.ORGANISER:
            raise Forbidden("forbidden", "This endpoint needs a scanner token of this event.")
        event = scanning.event_of(session, slug)
        listed = offline_list(session, event, r.verify_keys, query["since"])
        audit.record(session, actor, "offline_list", badges=len(listed["badges"]))
        return listed


@blp.get("/events/<slug>/headcount")
@bearer_required
@blp.response(200, HeadcountOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(404, schema=ErrorBody)
@blp.doc(security=BEARER)
def get_headcount(slug: str):
    """Registered, arrived and inside now: in total (distinct badges, any area), by area (with
    capacity and level ok / warning at 90 % / alarm at 100 %), by gate, category and country."""
    with resources().db.reads() as session:
        event = access.organizer_event(session, bearer_digest(), slug)
        return headcount(session, event)
