"""The registration HTTP API: thin views that load a schema, call a use case, dump a schema."""

from __future__ import annotations

from flask_smorest import Blueprint

from services.registration import resources, usecases
from services.registration.schemas import (
    EventOut,
    RegistrationCreated,
    RegistrationIn,
    RegistrationOut,
)
from shared import access
from shared.errors import ErrorBody

blp = Blueprint("registration", __name__, url_prefix="/api/v1", description="Delegates register")


@blp.get("/events/<slug>")
@blp.response(200, EventOut)
@blp.alt_response(404, schema=ErrorBody)
def get_event(slug: str):
    """An event's public details and the categories one can register in."""
    with resources().db.reads() as session:
        event = usecases.event_by_slug(session, slug)
        _ = event.categories  # loaded while the session is open
        return event


@blp.post("/events/<slug>/registrations")
@blp.arguments(RegistrationIn)
@blp.response(201, RegistrationCreated)
@blp.alt_response(404, schema=ErrorBody)
@blp.alt_response(409, schema=ErrorBody)
@blp.alt_response(422, schema=ErrorBody)
def register(data: dict, slug: str):
    """Register a delegate: stores the registration, issues the badge, and answers with the
    manage token (shown once). The badge arrives by e-mail."""
    r = resources()
    with r.db.sessions.begin() as session:
        return usecases.register_delegate(session, r.signer, slug, data)


@blp.get("/registrations/<int:registration_id>")
@blp.response(200, RegistrationOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.doc(security=[{"bearer": []}])
def get_registration(registration_id: int):
    """One registration, for its delegate (manage token) or its event's organisers."""
    token_digest = access.bearer_digest()
    with resources().db.reads() as session:
        registration = usecases.visible_registration(session, token_digest, registration_id)
        _ = registration.event, registration.badge
        return registration
