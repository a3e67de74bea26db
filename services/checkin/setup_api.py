"""Organisers set up an event's areas, its gates, and the device tokens at them."""

from __future__ import annotations

from flask_smorest import Blueprint

from services.checkin import access, areas, resources
from services.checkin.api import BEARER
from services.checkin.models import ScannerToken
from services.checkin.schemas import (
    AreaIn,
    AreaOut,
    AreaPatch,
    DeviceTokenOut,
    GateIn,
    GateOut,
    GatePatch,
    TokenIn,
    TokenOut,
)
from shared.access import bearer_digest, bearer_required, digest
from shared.errors import ErrorBody

blp = Blueprint(
    "checkin_setup", __name__, url_prefix="/api/v1/events", description="Areas, gates, devices"
)
ERRORS = (401, 403, 404, 409)


def documented(view):
    for status in ERRORS:
        view = blp.alt_response(status, schema=ErrorBody)(view)
    return blp.doc(security=BEARER)(view)


def _gates(session, slug: str, gates) -> list[dict]:
    counts = areas.token_counts(session, slug)
    return [
        {"id": g.id, "name": g.name, "area": g.area.code, "tokens": counts.get(g.id, {})}
        for g in gates
    ]


@blp.get("/<slug>/areas")
@bearer_required
@blp.response(200, AreaOut(many=True))
@documented
def list_areas(slug: str):
    """The event's areas: the venue (`everyone`) and the halls and rooms inside it."""
    with resources().db.reads() as session:
        access.organizer_event(session, bearer_digest(), slug)
        return areas.areas_of(session, slug)


@blp.post("/<slug>/areas")
@bearer_required
@blp.arguments(AreaIn)
@blp.response(201, AreaOut)
@documented
def create_area(data: dict, slug: str):
    """Add an area. Categories name the areas they may enter by `code` (registration's
    `Category.areas`); an `everyone` area admits every valid badge."""
    with resources().db.sessions.begin() as session:
        access.organizer_event(session, bearer_digest(), slug)
        return areas.create_area(session, slug, **data)


@blp.patch("/<slug>/areas/<code>")
@bearer_required
@blp.arguments(AreaPatch)
@blp.response(200, AreaOut)
@documented
def update_area(data: dict, slug: str, code: str):
    """Rename an area, change its capacity (null: none), or whether everyone may enter."""
    with resources().db.sessions.begin() as session:
        access.organizer_event(session, bearer_digest(), slug)
        return areas.update_area(session, areas.area_by_code(session, slug, code), data)


@blp.get("/<slug>/gates")
@bearer_required
@blp.response(200, GateOut(many=True))
@documented
def list_gates(slug: str):
    """The event's gates, the area each belongs to, and how many device tokens each has."""
    with resources().db.reads() as session:
        access.organizer_event(session, bearer_digest(), slug)
        return _gates(session, slug, areas.gates_of(session, slug))


@blp.post("/<slug>/gates")
@bearer_required
@blp.arguments(GateIn)
@blp.response(201, GateOut)
@documented
def create_gate(data: dict, slug: str):
    """Add a gate to an area."""
    with resources().db.sessions.begin() as session:
        access.organizer_event(session, bearer_digest(), slug)
        area = areas.area_by_code(session, slug, data["area"])
        return _gates(session, slug, [areas.add_gate(session, slug, data["name"], area)])[0]


@blp.patch("/<slug>/gates/<id:gate_id>")
@bearer_required
@blp.arguments(GatePatch)
@blp.response(200, GateOut)
@documented
def update_gate(data: dict, slug: str, gate_id: int):
    """Rename a gate or move it to another area (its devices follow)."""
    with resources().db.sessions.begin() as session:
        access.organizer_event(session, bearer_digest(), slug)
        gate = areas.gate_of(session, slug, gate_id)
        area = areas.area_by_code(session, slug, data["area"]) if "area" in data else None
        return _gates(session, slug, [areas.update_gate(session, gate, data.get("name"), area)])[0]


@blp.post("/<slug>/gates/<id:gate_id>/tokens")
@bearer_required
@blp.arguments(TokenIn)
@blp.response(201, TokenOut)
@documented
def issue_token(data: dict, slug: str, gate_id: int):
    """A device token for the gate, shown once: a `scanner` scans only; a `supervisor` also
    finds delegates and checks them in by hand."""
    with resources().db.sessions.begin() as session:
        access.organizer_event(session, bearer_digest(), slug)
        gate = areas.gate_of(session, slug, gate_id)
        token = areas.issue_scanner_token(session, gate, data["label"], data["role"])
        public_id = areas.token_id(session.get(ScannerToken, digest(token)))
        return {**data, "id": public_id, "token": token, "gate": gate.name, "area": gate.area.code}


@blp.get("/<slug>/gates/<id:gate_id>/tokens")
@bearer_required
@blp.response(200, DeviceTokenOut(many=True))
@documented
def list_tokens(slug: str, gate_id: int):
    """The gate's device tokens (id, label, role, when issued); the tokens themselves were
    shown once, when issued, and are not kept."""
    with resources().db.sessions() as session:
        access.organizer_event(session, bearer_digest(), slug)
        gate = areas.gate_of(session, slug, gate_id)
        return [
            {"id": areas.token_id(t), "label": t.label, "role": t.role, "created_at": t.created_at}
            for t in areas.device_tokens(session, gate)
        ]


@blp.delete("/<slug>/gates/<id:gate_id>/tokens/<token_id>")
@bearer_required
@blp.response(204)
@documented
def revoke_token(slug: str, gate_id: int, token_id: str):
    """Revoke a lost or stolen device's token: its next request is refused (401). The gate's
    other devices go on; issue the device a new token to bring it back."""
    with resources().db.sessions.begin() as session:
        access.organizer_event(session, bearer_digest(), slug)
        areas.revoke_scanner_token(session, areas.gate_of(session, slug, gate_id), token_id)
