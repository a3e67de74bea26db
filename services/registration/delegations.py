"""Delegations: a city's or an organisation's party, with a head and a quota.

An organiser creates a delegation (its name, category, quota and protocol notes) and gets a
code for it; whoever registers with the code joins it, the first one as its head. The head,
with their own manage token, registers, corrects and substitutes members within the quota;
organisers may do all of it and appoint another head. A substitution hands the member's place
(their seat, or their turn on the waitlist) to the new person in one transaction: the old
registration is cancelled, its badge void, and the new member gets a badge of their own.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.registration import domain, invitations, lifecycle
from services.registration.access import HEAD, Actor
from services.registration.domain import Status
from services.registration.event_setup import event_by_slug
from services.registration.models import (
    AuditEntry,
    Delegation,
    Event,
    InvitationCode,
    OrganizerToken,
    Registration,
)
from shared import access
from shared.badges import BadgeSigner
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.manage_links import ManageLinks

KINDS = ("city", "organisation")


def create(session: Session, event: Event, actor: Actor, data: dict) -> access.ShownOnce:
    """A new delegation with its code (shown once), good for `quota` registrations."""
    _known_category(event, data["category"])
    if session.scalar(
        select(Delegation.id).where(
            Delegation.event_id == event.id, Delegation.name == data["name"]
        )
    ):
        raise Conflict(
            "delegation_exists",
            f"The event has a delegation named {data['name']!r} already.",
            {"name": ["Taken by another delegation of this event."]},
        )
    delegation = Delegation(event_id=event.id, **data)
    session.add(delegation)
    session.flush()
    invitation, code = invitations.issue(
        session, event, actor, delegation.category, delegation.quota, delegation.name
    )
    invitation.delegation_id = delegation.id
    _audit(session, delegation, actor, "delegation.created", quota=delegation.quota)
    return access.ShownOnce(delegation, code=code)


def update(session: Session, delegation: Delegation, actor: Actor, data: dict) -> None:
    """Change a delegation. Its head may change the notes only; an organiser also the name,
    quota (not below the places taken) and head (a live member)."""
    if not actor.is_organiser and set(data) - {"notes"}:
        raise Forbidden("forbidden", "A delegation's head may change its notes only.")
    if "quota" in data and data["quota"] < delegation.arrival.members:
        raise Conflict(
            "quota_below_members",
            f"{delegation.arrival.members} members hold a place; substitute or cancel some "
            "before lowering the quota.",
        )
    if data.get("head_id") is not None:
        _member(delegation, data["head_id"], live=True)
    for name, value in data.items():
        setattr(delegation, name, value)
    codes = select(InvitationCode).where(InvitationCode.delegation_id == delegation.id)
    for invitation in session.scalars(codes):  # the code follows the quota
        invitation.uses_allowed = max(delegation.quota, invitation.uses)
    _audit(session, delegation, actor, "delegation.updated", fields=sorted(data))


def add_member(
    session: Session,
    signer: BadgeSigner,
    links: ManageLinks,
    delegation: Delegation,
    actor: Actor,
    data: dict,
) -> Registration:
    """Register a member: in the delegation's category unless an organiser says otherwise,
    without approval, within the quota. Their manage link goes to them by mail."""
    data = {"category": delegation.category, **data}
    if not actor.is_organiser and data["category"] != delegation.category:
        raise Forbidden("forbidden", "A head registers members in the delegation's category.")
    slug = delegation_event(session, delegation).slug
    return lifecycle.register(
        session, signer, links, slug, data, invited=True, actor=actor, delegation=delegation
    ).subject


def substitute(
    session: Session,
    signer: BadgeSigner,
    links: ManageLinks,
    delegation: Delegation,
    actor: Actor,
    member_id: int,
    data: dict,
) -> Registration:
    """Put someone else in a member's place: same category, same seat (or place on the
    waitlist); the old badge stops working at every gate, the new member gets their own."""
    event = event_by_slug(session, delegation_event(session, delegation).slug, lock=True)
    old = _member(delegation, member_id, live=True)
    name = domain.display_name(data["given_name"], data.get("family_name", ""))
    reason = f"Substituted by {name} in the delegation {delegation.name}."
    # The place frees and is taken in one transaction under the event's lock: nobody on the
    # waitlist is promoted into it in between.
    was_waiting_since = old.waitlisted_at
    lifecycle.cancel(session, signer, old, actor, reason, promote=False, substituted_by=name)
    new = lifecycle.register(
        session,
        signer,
        links,
        event.slug,
        {**data, "category": old.category},
        invited=True,
        actor=actor,
        delegation=delegation,
    ).subject
    if new.status == Status.WAITLISTED.value and was_waiting_since is not None:
        new.waitlisted_at = was_waiting_since  # keeps the old member's turn
    if delegation.head_id == old.id:
        delegation.head_id = new.id
    _audit(session, delegation, actor, "delegation.substituted", old=old.id, new=new.id)
    return new


def remove_member(
    session: Session, signer: BadgeSigner, delegation: Delegation, actor: Actor, member_id: int
) -> Registration:
    """Cancel a member's registration: their place in the quota and their seat free up."""
    member = _member(delegation, member_id, live=True)
    lifecycle.cancel(
        session, signer, member, actor, f"Removed from the delegation {delegation.name}."
    )
    if delegation.head_id == member.id:
        delegation.head_id = None
    return member


def correct_member(
    session: Session,
    signer: BadgeSigner,
    delegation: Delegation,
    actor: Actor,
    member_id: int,
    data: dict,
) -> Registration:
    member = _member(delegation, member_id, live=False)
    lifecycle.correct(session, signer, member, actor, data)
    return member


def listed(session: Session, event: Event) -> list[Delegation]:
    query = (
        select(Delegation)
        .where(Delegation.event_id == event.id)
        .options(selectinload(Delegation.members).selectinload(Registration.badge))
        .order_by(Delegation.name)
    )
    return list(session.scalars(query))


def acting_on(session: Session, token_digest: str, delegation_id: int) -> tuple[Delegation, Actor]:
    """A delegation and who acts on it: an organiser of its event, or its head (their own
    manage token, while their registration is live). Anyone else learns nothing of it."""
    delegation = session.get(Delegation, delegation_id)
    organiser = session.scalar(select(OrganizerToken).where(OrganizerToken.digest == token_digest))
    if organiser is not None:
        if delegation is None or organiser.event_id != delegation.event_id:
            raise Forbidden("forbidden", "This token may not see that delegation.")
        return delegation, Actor("organiser", organiser.label)
    head = session.scalar(select(Registration).where(Registration.manage_digest == token_digest))
    if head is None:
        raise access.unknown_token()
    if (
        delegation is None
        or delegation.head_id != head.id
        or head.erased_at is not None
        or head.status not in domain.MEMBER_STATUSES
    ):
        raise Forbidden("forbidden", "Only the head of a delegation and its organisers manage it.")
    return delegation, Actor(HEAD, str(head.id))


def delegation_event(session: Session, delegation: Delegation) -> Event:
    return session.get(Event, delegation.event_id)


def _member(delegation: Delegation, member_id: int, *, live: bool) -> Registration:
    member = next((m for m in delegation.members if m.id == member_id), None)
    if member is None:
        raise NotFound("unknown_member", "The delegation has no such member.")
    if live and (member.erased_at is not None or member.status not in domain.MEMBER_STATUSES):
        raise Conflict(
            "not_a_live_member",
            f"This member's registration is {member.status}: no place to hand on.",
        )
    return member


def _known_category(event: Event, code: str) -> None:
    if code not in {c.code for c in event.categories}:
        codes = ", ".join(c.code for c in event.categories)
        raise Invalid(
            "validation_failed",
            "Some fields are not valid; see `fields`.",
            {"category": [f"Must be one of: {codes}."]},
        )


def _audit(session: Session, delegation: Delegation, actor: Actor, action: str, **detail) -> None:
    session.add(
        AuditEntry(
            event_id=delegation.event_id,
            actor=str(actor),
            action=action,
            detail={"delegation_id": delegation.id, **detail},
        )
    )
