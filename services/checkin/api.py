"""The checkin HTTP API: scan a badge at a gate, read the headcount."""

from __future__ import annotations

from flask_smorest import Blueprint

from services.checkin import access, resources, scanning
from services.checkin.headcount import headcount
from services.checkin.schemas import DeviceOut, HeadcountOut, ScanIn, ScanOut
from shared.access import bearer_digest, bearer_required
from shared.errors import ErrorBody

blp = Blueprint("checkin", __name__, url_prefix="/api/v1", description="Gates and headcount")
_BEARER = [{"bearer": []}]


@blp.post("/scans")
@bearer_required
@blp.arguments(ScanIn)
@blp.response(200, ScanOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.doc(security=_BEARER)
def post_scan(data: dict):
    """Scan a badge at this scanner's gate. Every scan gets an answer (`result`) and is logged;
    `passes` says green or red. An admission is durable before it is answered."""
    r = resources()
    with r.db.sessions.begin() as session:
        gate = access.scanner_gate(session, bearer_digest())
        return scanning.scan(session, r.verifier, gate, data["token"], data["direction"])


@blp.get("/device")
@bearer_required
@blp.response(200, DeviceOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.doc(security=_BEARER)
def get_device():
    """The event and gate this scanner token is bound to."""
    with resources().db.reads() as session:
        gate = access.scanner_gate(session, bearer_digest())
        return {"event": gate.event_slug, "gate": gate.name}


@blp.get("/events/<slug>/headcount")
@bearer_required
@blp.response(200, HeadcountOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(404, schema=ErrorBody)
@blp.doc(security=_BEARER)
def get_headcount(slug: str):
    """Registered, arrived and inside now: in total, by gate and by category."""
    with resources().db.reads() as session:
        event = access.organizer_event(session, bearer_digest(), slug)
        return headcount(session, event)
