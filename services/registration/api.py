"""The public and delegate API: read an event, register, and (with the manage token) read,
correct or cancel one's own registration, download or erase one's data. Thin views: load a
schema, call a use case."""

from __future__ import annotations

from flask import jsonify, request
from flask_smorest import Blueprint

from services.registration import idempotency, lifecycle, personal_data, resources
from services.registration.access import registration_actor
from services.registration.event_setup import event_by_slug
from services.registration.personal_data import PersonalDataOut
from services.registration.schemas import (
    DelegateRegistrationIn,
    EventOut,
    OptionalReasonIn,
    RegistrationCreated,
    RegistrationOut,
    RegistrationPatch,
)
from shared.access import bearer_digest, bearer_required
from shared.errors import ErrorBody

blp = Blueprint("registration", __name__, url_prefix="/api/v1", description="Delegates register")
BEARER = [{"bearer": []}]
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "maxLength": 200},
    "description": "a retry with the same key and body gets the first answer again",
}


@blp.get("/events/<slug>")
@blp.response(200, EventOut)
@blp.alt_response(404, schema=ErrorBody)
def get_event(slug: str):
    """An event's public details, the categories one can register in, and the privacy notice
    a delegate agrees to."""
    with resources().db.reads() as session:
        event = event_by_slug(session, slug)
        _ = event.categories  # loaded while the session is open
        return event


@blp.post("/events/<slug>/registrations")
@blp.arguments(DelegateRegistrationIn)
@blp.response(201, RegistrationCreated)
@blp.alt_response(404, schema=ErrorBody)
@blp.alt_response(409, schema=ErrorBody)
@blp.alt_response(422, schema=ErrorBody)
@blp.doc(parameters=[IDEMPOTENCY_KEY])
def register(data: dict, slug: str):
    """Register a delegate, who agrees to the event's privacy notice (`consent: true`).
    Depending on the category: confirmed with a badge (mailed at once), pending an organiser's
    approval, or waitlisted when full; an invitation code skips approval. Answers with the
    manage token, shown this once. With an `Idempotency-Key`, a retry of the same request gets
    the same answer."""
    r = resources()
    key = request.headers.get("Idempotency-Key", "").strip()[:200]
    with r.db.sessions.begin() as session:
        if not key:
            return lifecycle.register(session, r.signer, r.links, slug, data)
        event_id = event_by_slug(session, slug).id
        seen = idempotency.replay(session, event_id, key, data)
        if seen is not None:
            return jsonify(seen.body), seen.status, {"Idempotent-Replayed": "true"}
        answer = RegistrationCreated().dump(
            lifecycle.register(session, r.signer, r.links, slug, data)
        )
        idempotency.remember(session, event_id, key, data, 201, answer)
        return jsonify(answer), 201


@blp.get("/registrations/<id:registration_id>")
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


@blp.patch("/registrations/<id:registration_id>")
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
        _ = registration.event, registration.badge  # loaded while the session is open
        return registration


@blp.post("/registrations/<id:registration_id>/cancel")
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
        _ = registration.event, registration.badge
        return registration


@blp.get("/registrations/<id:registration_id>/data")
@bearer_required
@blp.response(200, PersonalDataOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.doc(security=BEARER)
def download_data(registration_id: int):
    """Everything kept about a delegate, as a JSON download: their registration, consent and
    the notice agreed to, badge, and every action on it (for the delegate or an organiser)."""
    with resources().db.sessions.begin() as session:
        registration, actor = registration_actor(session, bearer_digest(), registration_id)
        data = personal_data.export(session, registration, actor)
        name = personal_data.filename(registration)
        return data, 200, {"Content-Disposition": f'attachment; filename="{name}"'}


@blp.post("/registrations/<id:registration_id>/erase")
@bearer_required
@blp.response(200, RegistrationOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.doc(security=BEARER)
def erase_registration(registration_id: int):
    """Erase a delegate's personal data (the delegate or an organiser): the name reads
    "Erased", the rest of what names them is blanked, the badge becomes void and a seat goes
    to the waitlist; category, country and status stay for anonymous counts. Erasing again
    changes nothing. The manage token still reads what is left."""
    r = resources()
    with r.db.sessions.begin() as session:
        registration, actor = registration_actor(session, bearer_digest(), registration_id)
        lifecycle.erase(session, r.signer, registration, actor)
        _ = registration.event, registration.badge
        return registration
