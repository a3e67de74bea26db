"""The organiser API (organiser token): set up events, find delegates, approve or reject,
revoke and reissue badges, read the audit trail."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from services.registration import event_setup, invitations, lifecycle, resources
from services.registration.access import (
    any_organiser,
    organiser,
    organiser_required,
    registration_actor,
    require_organiser,
)
from services.registration.models import AuditEntry, Registration
from services.registration.schemas import (
    AuditOut,
    EventCreated,
    EventIn,
    EventOut,
    EventPatch,
    InvitationCreated,
    InvitationIn,
    InvitationOut,
    ReasonIn,
    RegistrationOut,
    RegistrationQuery,
)
from shared.access import ShownOnce, bearer_digest
from shared.errors import ErrorBody

blp = Blueprint("organiser", __name__, url_prefix="/api/v1", description="Organisers")
BEARER = [{"bearer": []}]


@blp.post("/events")
@organiser_required
@blp.arguments(EventIn)
@blp.response(201, EventCreated)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(409, schema=ErrorBody)
@blp.doc(security=BEARER)
def create_event(data: dict):
    """Create an event (any organiser may); answers with its own organiser token, once."""
    with resources().db.sessions.begin() as session:
        any_organiser(session, bearer_digest())
        categories = tuple(event_setup.CategorySpec(**c) for c in data.pop("categories"))
        return event_setup.create_event(
            session, event_setup.EventSpec(**data, categories=categories)
        )


@blp.patch("/events/<slug>")
@organiser_required
@blp.arguments(EventPatch(partial=True))
@blp.response(200, EventOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.doc(security=BEARER)
def update_event(data: dict, slug: str):
    """Change an event's details, capacity and categories; a seat that opens goes to the
    waitlist at once."""
    r = resources()
    with r.db.sessions.begin() as session:
        event, _actor = organiser(session, bearer_digest(), slug, lock=True)
        event_setup.update_event(session, event, data)
        lifecycle.promote_waitlist(session, r.signer, event)
        _ = event.categories  # loaded while the session is open
        return event


@blp.get("/events/<slug>/registrations")
@organiser_required
@blp.arguments(RegistrationQuery, location="query")
@blp.response(200, RegistrationOut(many=True))
@blp.paginate()
@blp.doc(security=BEARER)
def list_registrations(query: dict, slug: str, pagination_parameters):
    """Find registrations: `q` matches names in any script (and their Latin spelling),
    e-mail, organisation, city and country; filter by status, category, country, delegation,
    arrival, and likely duplicates (the same name, organisation and city as another live
    registration). Paginated (`page`, `page_size`; the
    `X-Pagination` header has the totals)."""
    with resources().db.reads() as session:
        event, _actor = organiser(session, bearer_digest(), slug)
        statement = select(Registration).where(Registration.event_id == event.id)
        if query.get("q"):
            needle = " ".join(query["q"].split()).casefold()
            statement = statement.where(Registration.search_key.contains(needle, autoescape=True))
        for name in ("status", "category", "country"):
            if query.get(name):
                statement = statement.where(getattr(Registration, name) == query[name])
        if "delegation" in query:
            statement = statement.where(Registration.delegation_id == query["delegation"])
        if "arrived" in query:
            arrived = Registration.arrived_at.is_not(None)
            statement = statement.where(arrived if query["arrived"] else ~arrived)
        if query.get("duplicates"):
            statement = statement.where(lifecycle.has_likely_duplicate())
        statement = statement.options(
            joinedload(Registration.event), joinedload(Registration.badge)
        ).order_by(Registration.id)
        return _page(session, statement, pagination_parameters)


@blp.post("/registrations/<id:registration_id>/approve")
@organiser_required
@blp.response(200, RegistrationOut)
@blp.alt_response(409, schema=ErrorBody)
@blp.doc(security=BEARER)
def approve(registration_id: int):
    """Approve a pending registration: confirmed with a badge, or waitlisted when full."""
    return _act(registration_id, lifecycle.approve)


@blp.post("/registrations/<id:registration_id>/reject")
@organiser_required
@blp.arguments(ReasonIn)
@blp.response(200, RegistrationOut)
@blp.alt_response(409, schema=ErrorBody)
@blp.doc(security=BEARER)
def reject(data: dict, registration_id: int):
    """Reject a pending or waitlisted registration, with a reason the delegate is told."""
    return _act(registration_id, lifecycle.reject, data["reason"])


@blp.post("/registrations/<id:registration_id>/badge/revoke")
@organiser_required
@blp.arguments(ReasonIn)
@blp.response(200, RegistrationOut)
@blp.alt_response(409, schema=ErrorBody)
@blp.doc(security=BEARER)
def revoke_badge(data: dict, registration_id: int):
    """Revoke a badge: every gate answers `revoked` with the reason from then on."""
    return _act(registration_id, lifecycle.revoke_badge, data["reason"])


@blp.post("/registrations/<id:registration_id>/badge/reissue")
@organiser_required
@blp.response(200, RegistrationOut)
@blp.alt_response(409, schema=ErrorBody)
@blp.doc(security=BEARER)
def reissue_badge(registration_id: int):
    """Issue a new version of the badge (mailed to the delegate); the old QR stops working."""
    return _act(registration_id, lifecycle.reissue_badge)


@blp.get("/events/<slug>/audit")
@organiser_required
@blp.response(200, AuditOut(many=True))
@blp.paginate()
@blp.doc(security=BEARER)
def audit_trail(slug: str, pagination_parameters):
    """Who did what, when, newest first."""
    with resources().db.reads() as session:
        event, _actor = organiser(session, bearer_digest(), slug)
        statement = select(AuditEntry).where(AuditEntry.event_id == event.id)
        return _page(session, statement.order_by(AuditEntry.id.desc()), pagination_parameters)


def _act(registration_id: int, action, *args):
    r = resources()
    with r.db.sessions.begin() as session:
        registration, actor = registration_actor(session, bearer_digest(), registration_id)
        require_organiser(actor)
        action(session, r.signer, registration, actor, *args)
        _ = registration.event, registration.badge
        return registration


def _page(session, statement, pagination_parameters) -> list:
    """One page of a query's rows; the total goes to flask-smorest's X-Pagination header."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    pagination_parameters.item_count = total
    first, size = pagination_parameters.first_item, pagination_parameters.page_size
    if first >= total:  # past the end, however far: no offset too large for the database
        return []
    return session.scalars(statement.offset(first).limit(size)).unique().all()


@blp.post("/events/<slug>/invitations")
@organiser_required
@blp.arguments(InvitationIn)
@blp.response(201, InvitationCreated)
@blp.alt_response(422, schema=ErrorBody)
@blp.doc(security=BEARER)
def issue_invitation(data: dict, slug: str):
    """Issue an invitation code for a category and a number of uses (a delegation of five:
    `uses: 5`); whoever registers with it skips approval. The code is shown this once."""
    with resources().db.sessions.begin() as session:
        event, actor = organiser(session, bearer_digest(), slug)
        invitation, code = invitations.issue(session, event, actor, **data)
        return ShownOnce(invitation, code=code)


@blp.get("/events/<slug>/invitations")
@organiser_required
@blp.response(200, InvitationOut(many=True))
@blp.doc(security=BEARER)
def list_invitations(slug: str):
    """Every invitation code of the event, with its uses (the codes themselves are not kept)."""
    with resources().db.reads() as session:
        event, _actor = organiser(session, bearer_digest(), slug)
        return invitations.listed(session, event)


@blp.post("/events/<slug>/invitations/<id:invitation_id>/revoke")
@organiser_required
@blp.response(200, InvitationOut)
@blp.alt_response(404, schema=ErrorBody)
@blp.doc(security=BEARER)
def revoke_invitation(slug: str, invitation_id: int):
    """Revoke a code: it registers nobody more (registrations made with it stay)."""
    with resources().db.sessions.begin() as session:
        event, actor = organiser(session, bearer_digest(), slug)
        return invitations.revoke(session, event, actor, invitation_id)
