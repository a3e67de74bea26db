"""The delegations API: organisers set delegations up and watch them arrive; a delegation's
head (with their own manage token) registers, corrects and substitutes its members."""

from __future__ import annotations

from flask_smorest import Blueprint

from services.registration import delegations, resources
from services.registration.access import organiser, organiser_required
from services.registration.schemas import (
    DelegationCreated,
    DelegationDetail,
    DelegationIn,
    DelegationOut,
    DelegationPatch,
    MemberIn,
    MemberOut,
    RegistrationPatch,
    SubstituteIn,
)
from shared.access import bearer_digest, bearer_required
from shared.errors import ErrorBody

blp = Blueprint(
    "delegations", __name__, url_prefix="/api/v1", description="Delegations and their members"
)
BEARER = [{"bearer": []}]
ERRORS = {401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody}


def _errors(view):
    for status, schema in ERRORS.items():
        view = blp.alt_response(status, schema=schema)(view)
    return blp.doc(security=BEARER)(view)


@blp.post("/events/<slug>/delegations")
@organiser_required
@blp.arguments(DelegationIn)
@blp.response(201, DelegationCreated)
@_errors
def create_delegation(data: dict, slug: str):
    """Set up a delegation (a city's or an organisation's) with its quota. The answer holds
    its code, once: whoever registers with it joins, the first as the delegation's head."""
    with resources().db.sessions.begin() as session:
        event, actor = organiser(session, bearer_digest(), slug)
        created = delegations.create(session, event, actor, data)
        return _loaded(created)


@blp.get("/events/<slug>/delegations")
@organiser_required
@blp.response(200, DelegationDetail(many=True))
@_errors
def list_delegations(slug: str):
    """Every delegation with its members and whether it has arrived."""
    with resources().db.reads() as session:
        event, _actor = organiser(session, bearer_digest(), slug)
        return [_loaded(d) for d in delegations.listed(session, event)]


@blp.get("/delegations/<id:delegation_id>")
@bearer_required
@blp.response(200, DelegationDetail)
@_errors
def get_delegation(delegation_id: int):
    """A delegation and its members, for its head or its event's organisers."""
    with resources().db.reads() as session:
        delegation, _actor = delegations.acting_on(session, bearer_digest(), delegation_id)
        return _loaded(delegation)


@blp.patch("/delegations/<id:delegation_id>")
@bearer_required
@blp.arguments(DelegationPatch(partial=True))
@blp.response(200, DelegationOut)
@_errors
def update_delegation(data: dict, delegation_id: int):
    """Change a delegation: organisers its name, quota, notes and head; its head the notes."""
    with resources().db.sessions.begin() as session:
        delegation, actor = delegations.acting_on(session, bearer_digest(), delegation_id)
        delegations.update(session, delegation, actor, data)
        return _loaded(delegation)


@blp.post("/delegations/<id:delegation_id>/members")
@bearer_required
@blp.arguments(MemberIn)
@blp.response(201, MemberOut)
@_errors
def add_member(data: dict, delegation_id: int):
    """Register a member within the quota, without approval; they get their badge (or the
    news of the waitlist) and their own manage link by mail."""
    r = resources()
    with r.db.sessions.begin() as session:
        delegation, actor = delegations.acting_on(session, bearer_digest(), delegation_id)
        return _loaded_member(
            delegations.add_member(session, r.signer, r.links, delegation, actor, data)
        )


@blp.patch("/delegations/<id:delegation_id>/members/<id:member_id>")
@bearer_required
@blp.arguments(RegistrationPatch)
@blp.response(200, MemberOut)
@_errors
def correct_member(data: dict, delegation_id: int, member_id: int):
    """Correct a member's details; a change to what the badge prints reissues it."""
    r = resources()
    with r.db.sessions.begin() as session:
        delegation, actor = delegations.acting_on(session, bearer_digest(), delegation_id)
        member = delegations.correct_member(session, r.signer, delegation, actor, member_id, data)
        return _loaded_member(member)


@blp.post("/delegations/<id:delegation_id>/members/<id:member_id>/substitute")
@bearer_required
@blp.arguments(SubstituteIn)
@blp.response(201, MemberOut)
@_errors
def substitute_member(data: dict, delegation_id: int, member_id: int):
    """Send someone else in a member's place: the old badge stops working at once, the new
    member takes the seat (or the place on the waitlist) and gets a badge of their own."""
    r = resources()
    with r.db.sessions.begin() as session:
        delegation, actor = delegations.acting_on(session, bearer_digest(), delegation_id)
        return _loaded_member(
            delegations.substitute(session, r.signer, r.links, delegation, actor, member_id, data)
        )


@blp.delete("/delegations/<id:delegation_id>/members/<id:member_id>")
@bearer_required
@blp.response(200, MemberOut)
@_errors
def remove_member(delegation_id: int, member_id: int):
    """Cancel a member: their badge stops working, their place and seat free up."""
    r = resources()
    with r.db.sessions.begin() as session:
        delegation, actor = delegations.acting_on(session, bearer_digest(), delegation_id)
        member = delegations.remove_member(session, r.signer, delegation, actor, member_id)
        return _loaded_member(member)


def _loaded(delegation):
    """The delegation with all its answer shows, loaded while the session is open."""
    for member in delegation.members:
        _loaded_member(member)
    return delegation


def _loaded_member(member):
    _ = member.badge, member.delegation
    return member
