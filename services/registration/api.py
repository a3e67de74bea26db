"""The public and delegate API: read an event, register, and (with the manage token) read,
correct or cancel one's own registration. Thin views: load a schema, call a use case."""

from __future__ import annotations

from flask_smorest import Blueprint

from services.registration import lifecycle, resources
from services.registration.access import registration_actor
from services.registration.event_setup import event_by_slug
from services.registration.schemas import (
    EventOut,
    OptionalReasonIn,
    RegistrationCreated,
    RegistrationIn,
    RegistrationOut,
    RegistrationPatch,
)
from shared.access import bearer_digest, bearer_required
from shared.errors import ErrorBody

blp = Blueprint("registration", __name__, url_prefix="/api/v1", description="Delegates register")
BEARER = [{"bearer": []}]


@blp.get("/events/<slug>")
@blp.response(200, EventOut)
@blp.alt_response(404, schema=ErrorBody)
def get_event(slug: str):
    """An event's public details and the categories one can register in."""
    with resources().db.reads() as session:
        event = event_by_slug(session, slug)
        _ = event.categories  # loaded while the session is open
        return event


@blp.post("/events/<slug>/registrations")
@blp.arguments(RegistrationIn)
@blp.response(201, RegistrationCreated)
@blp.alt_response(404, schema=ErrorBody)
@blp.alt_response(409, schema=ErrorBody)
@blp.alt_response(422, schema=ErrorBody)
def register(data: dict, slug: str):
    """Register a delegate. Depending on the category: confirmed with a badge (mailed at
    once), pending an organiser's approval, or waitlisted when full. Answers with the manage
    token, shown this once."""
    r = resources()
    with r.db.sessions.begin() as session:
        return lifecycle.register(session, r.signer, slug, data)


@blp.get("/registrations/<int:registration_id>")
@bearer_required
@blp.response(200, RegistrationOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.doc(security=BEARER)
def get_registration(registration_id: int):
    """One registration, for its delegate (manage token) or its event's organisers."""
    with resources().db.reads() as session:
        registration, _actor = registration_actor(session, bearer_digest(), registration_id)
        _ = registration.event, registration.badge
        return registration


@blp.patch("/registrations/<int:registration_id>")
@bearer_required
@blp.arguments(RegistrationPatch)
@blp.response(200, RegistrationOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(409, schema=ErrorBody)
@blp.doc(security=BEARER)
def correct_registration(data: dict, registration_id: int):
    """Correct one's details (name spelling, organisation, needs, language). A change to what
    the badge prints reissues it: the old QR code stops working, the new one is mailed."""
    r = resources()
    with r.db.sessions.begin() as session:
        registration, actor = registration_actor(session, bearer_digest(), registration_id)
        lifecycle.correct(session, r.signer, registration, actor, data)
        return registration


@blp.post("/registrations/<int:registration_id>/cancel")
@bearer_required
@blp.arguments(OptionalReasonIn)
@blp.response(200, RegistrationOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(409, schema=ErrorBody)
@blp.doc(security=BEARER)
def cancel_registration(data: dict, registration_id: int):
    """Cancel a registration (its delegate or an organiser). The badge becomes void and the
    seat goes to the first on the waitlist."""
    r = resources()
    with r.db.sessions.begin() as session:
        registration, actor = registration_actor(session, bearer_digest(), registration_id)
        lifecycle.cancel(session, r.signer, registration, actor, data["reason"])
        return registration
