"""A registration's life: registered, approved or rejected, confirmed or waitlisted and
promoted, corrected, cancelled; its badge issued, revoked and reissued. Each step is one
transaction with its event and audit entry (see `changes.record`).

Seats are decided under a lock on the event's row, so concurrent registrations for the last
seats confirm exactly as many as there are."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from services.registration import changes, domain, erasure, invitations, privacy
from services.registration.access import DELEGATE, HEAD, SYSTEM, Actor, locked_event
from services.registration.domain import Seats, Status
from services.registration.event_setup import event_by_slug
from services.registration.models import Badge, Category, Delegation, Event, Registration
from shared import access
from shared import events as ev
from shared.badges import BadgeSigner
from shared.db import utcnow
from shared.errors import Conflict, Invalid
from shared.manage_links import ManageLinks

# Fields whose change alters the printed badge, so the old one is reissued.
PRINTED = ("given_name", "family_name", "latin_name", "organisation", "city", "country")

POSSIBLE_DUPLICATE = {
    "code": "possible_duplicate",
    "message": "Someone with the same name, organisation and city is registered already under "
    "another e-mail address. If that is you, use the link in that registration's e-mail "
    "instead; the organisers will see both.",
}


def register(
    session: Session,
    signer: BadgeSigner,
    links: ManageLinks,
    slug: str,
    data: dict,
    invited: bool = False,
    actor: Actor = DELEGATE,
    delegation: Delegation | None = None,
) -> access.ShownOnce:
    """Register a delegate: pending approval, confirmed with a badge, or waitlisted. A valid
    invitation code (or `invited`, for an organiser's import) skips approval. A delegate must
    agree to the privacy notice (`consent`); an organiser's entry records that they made it.

    A member of a delegation (added by its head or an organiser, or registering with the
    delegation's code) skips approval too, within the delegation's quota; the first member
    becomes its head. The answer warns when the delegate looks registered already under
    another address (same name, organisation and city)."""
    event = event_by_slug(session, slug, lock=True)
    return register_in(session, signer, links, event, data, invited, actor, delegation)


def register_in(
    session: Session,
    signer: BadgeSigner,
    links: ManageLinks,
    event: Event,
    data: dict,
    invited: bool = False,
    actor: Actor = DELEGATE,
    delegation: Delegation | None = None,
) -> access.ShownOnce:
    """`register`, in an event whose row the caller has locked (an import registers its
    thousands of rows under one lock, without reading the event again for each)."""
    data = dict(data)
    code = data.pop("invitation_code", None)
    consent = privacy.consent_record(
        actor.is_organiser,
        data.pop("consent", None),
        data.pop("consent_version", None),
        basis=privacy.BY_DELEGATION if actor.kind == HEAD else privacy.BY_DELEGATE,
    )
    category = _category(event, data["category"])
    key = domain.email_key(data["email"])
    if session.scalar(
        select(Registration.id).where(
            Registration.event_id == event.id, Registration.email_key == key
        )
    ):
        raise _already_registered()
    if code:
        invitation = invitations.redeem(session, event.id, code, category.code)
        if invitation.delegation_id is not None:
            delegation = session.get(Delegation, invitation.delegation_id)
    if delegation is not None:
        _check_quota(session, delegation)
    status = domain.status_on_registration(
        category.needs_approval,
        invited or bool(code) or delegation is not None,
        seats(session, event, category),
    )
    nonce = links.new_nonce()
    registration = Registration(
        event=event,
        email_key=key,
        status=status.value,
        manage_nonce=nonce,
        manage_digest=links.digest(nonce),
        waitlisted_at=utcnow() if status is Status.WAITLISTED else None,
        delegation=delegation,
        **consent,
        **data,
    )
    session.add(registration)
    if status is Status.CONFIRMED:
        _issue_badge(registration)
    try:
        session.flush()
    except IntegrityError as exc:
        if "email_key" in str(exc.orig):  # a concurrent registration with this address won
            raise _already_registered() from exc
        raise
    if delegation is not None and delegation.head_id is None:
        delegation.head_id = registration.id
    detail = {"invitation": True} if code else {}
    duplicates = likely_duplicates(session, registration)
    if duplicates:
        detail["possible_duplicate_of"] = duplicates
    changes.record(session, signer, registration, ev.DELEGATE_REGISTERED, actor, **detail)
    return access.ShownOnce(
        registration,
        manage_token=links.token(nonce),
        warnings=[POSSIBLE_DUPLICATE] if duplicates else [],
    )


LISTED_DUPLICATES = 10


def likely_duplicates(session: Session, registration: Registration) -> list[int]:
    """Other live registrations of the event that look like the same person: the earliest
    LISTED_DUPLICATES of them (they go into the audit trail and the event; organisers list
    them all with `?duplicates=true`)."""
    return list(
        session.scalars(
            select(Registration.id)
            .where(
                Registration.event_id == registration.event_id,
                Registration.duplicate_key == registration.duplicate_key,
                Registration.id != registration.id,
                Registration.status.in_(domain.MEMBER_STATUSES),
                Registration.erased_at.is_(None),
            )
            .order_by(Registration.id)
            .limit(LISTED_DUPLICATES)
        )
    )


def has_likely_duplicate():
    """A filter: the registration (a live one) looks like another live one of its event."""
    other = aliased(Registration)
    live = Registration.status.in_(domain.MEMBER_STATUSES) & Registration.erased_at.is_(None)
    return live & (
        select(other.id)
        .where(
            other.event_id == Registration.event_id,
            other.duplicate_key == Registration.duplicate_key,
            other.id != Registration.id,
            other.status.in_(domain.MEMBER_STATUSES),
            other.erased_at.is_(None),
        )
        .exists()
    )


def _check_quota(session: Session, delegation: Delegation) -> None:
    taken = session.scalar(
        select(func.count()).where(
            Registration.delegation_id == delegation.id,
            Registration.status.in_(domain.MEMBER_STATUSES),
            Registration.erased_at.is_(None),
        )
    )
    if taken >= delegation.quota:
        raise Conflict(
            "quota_full",
            f"The delegation {delegation.name} has all its {delegation.quota} places taken: "
            "substitute a member, or ask the organisers for a larger quota.",
        )


def approve(session: Session, signer: BadgeSigner, registration: Registration, actor: Actor):
    event = _locked(session, registration)
    _live(registration)
    category = _category(event, registration.category)
    new = _transition(domain.status_on_approval, registration, seats(session, event, category))
    if new is Status.CONFIRMED:
        _confirm(registration)
        changes.record(session, signer, registration, ev.DELEGATE_CONFIRMED, actor)
    else:
        registration.status, registration.waitlisted_at = new.value, utcnow()
        changes.record(session, signer, registration, ev.DELEGATE_WAITLISTED, actor)


def reject(
    session: Session, signer: BadgeSigner, registration: Registration, actor: Actor, reason: str
):
    _locked(session, registration)
    _live(registration)
    _check("reject", registration)
    registration.status, registration.status_reason = Status.REJECTED.value, reason
    changes.record(session, signer, registration, ev.DELEGATE_REJECTED, actor, reason=reason)


def cancel(
    session: Session,
    signer: BadgeSigner,
    registration: Registration,
    actor: Actor,
    reason: str | None = None,
    *,
    promote: bool = True,
    **detail,
):
    """Cancel a registration; its badge becomes void and its seat goes to the waitlist
    (unless `promote` is False: a substitution hands it on itself)."""
    event = _locked(session, registration)
    _live(registration)
    _check("cancel", registration)
    had_seat = domain.holds_seat(Status(registration.status))
    registration.status, registration.status_reason = Status.CANCELLED.value, reason
    if registration.badge is not None:
        registration.badge.status = "void"
        registration.badge.status_reason = "The registration was cancelled."
    changes.record(
        session, signer, registration, ev.DELEGATE_CANCELLED, actor, reason=reason, **detail
    )
    if had_seat and promote:
        promote_waitlist(session, signer, event)


def promote_waitlist(session: Session, signer: BadgeSigner, event: Event) -> list[Registration]:
    """Confirm waitlisted delegates, first come first served, while their category and the
    event have seats. The caller holds the event's lock."""
    promoted = []
    waiting = session.scalars(
        select(Registration)
        .where(
            Registration.event_id == event.id,
            Registration.status == Status.WAITLISTED.value,
            Registration.erased_at.is_(None),
        )
        .order_by(Registration.waitlisted_at, Registration.id)
    ).all()
    for registration in waiting:
        category = _category(event, registration.category)
        if not seats(session, event, category).available:
            continue
        _check("promote", registration)
        _confirm(registration)
        changes.record(session, signer, registration, ev.DELEGATE_CONFIRMED, SYSTEM, promoted=True)
        promoted.append(registration)
    return promoted


def correct(
    session: Session, signer: BadgeSigner, registration: Registration, actor: Actor, data: dict
):
    """Correct a registration's details; a change to what the badge prints reissues it."""
    _locked(session, registration)
    _live(registration)
    if registration.status in {Status.CANCELLED.value, Status.REJECTED.value}:
        raise Conflict("closed", f"This registration is {registration.status}.")
    changed = {k: v for k, v in data.items() if getattr(registration, k) != v}
    if not changed:
        return
    if "email" in changed:
        key = domain.email_key(changed["email"])
        taken = select(Registration.id).where(
            Registration.event_id == registration.event_id,
            Registration.email_key == key,
            Registration.id != registration.id,
        )
        if session.scalar(taken):
            raise _already_registered()
        registration.email_key = key
    for name, value in changed.items():
        setattr(registration, name, value)
    fields = sorted(changed)
    if (
        registration.badge is not None
        and registration.badge.status == "active"
        and (set(changed) & set(PRINTED))
    ):
        _bump(registration.badge)
        changes.record(session, signer, registration, ev.BADGE_REISSUED, actor, fields=fields)
    else:
        changes.record(session, signer, registration, ev.DELEGATE_UPDATED, actor, fields=fields)


def revoke_badge(
    session: Session, signer: BadgeSigner, registration: Registration, actor: Actor, reason: str
):
    _locked(session, registration)
    _live(registration)
    badge = _badge(registration)
    if badge.status != "active":
        raise Conflict("not_active", f"This badge is {badge.status} already.")
    badge.status, badge.status_reason = "revoked", reason
    changes.record(session, signer, registration, ev.BADGE_REVOKED, actor, reason=reason)


def reissue_badge(session: Session, signer: BadgeSigner, registration: Registration, actor: Actor):
    """A new version of the badge; every earlier QR code stops working."""
    _locked(session, registration)
    _live(registration)
    if registration.status != Status.CONFIRMED.value:
        raise Conflict("not_confirmed", "Only a confirmed registration has a badge to reissue.")
    _bump(_badge(registration))
    changes.record(session, signer, registration, ev.BADGE_REISSUED, actor)


def erase(session: Session, signer: BadgeSigner, registration: Registration, actor: Actor):
    """Erase a delegate's personal data at their (or an organiser's) request; again is a
    no-op. The seat it held, if any, goes to the waitlist."""
    event = _locked(session, registration)  # a concurrent purge may have got here first
    had_seat = registration.erased_at is None and domain.holds_seat(Status(registration.status))
    if erasure.erase(session, registration, actor, erasure.BY_REQUEST) and had_seat:
        promote_waitlist(session, signer, event)


def seats(session: Session, event: Event, category: Category) -> Seats:
    """Seats taken where a capacity limits them. Without one nothing is counted: the rule
    ignores it, and the two counts of every confirmed delegate, made under the event's lock,
    were a seventh of each registration's time in `make bench` and grow with the event."""
    # An erased registration keeps its status for the counts, but nobody holds its seat.
    confirmed = select(func.count()).where(
        Registration.event_id == event.id,
        Registration.status == Status.CONFIRMED.value,
        Registration.erased_at.is_(None),
    )

    def taken(capacity: int | None, query) -> int:
        return 0 if capacity is None else session.scalar(query)

    return Seats(
        category_taken=taken(
            category.capacity, confirmed.where(Registration.category == category.code)
        ),
        category_capacity=category.capacity,
        event_taken=taken(event.capacity, confirmed),
        event_capacity=event.capacity,
    )


def _locked(session: Session, registration: Registration) -> Event:
    """Lock the registration's event, then its row, and read it and its badge again. They were
    loaded before anything was locked; on PostgreSQL a concurrent action may have changed them
    since (a cancellation promoting this waitlisted delegate, say), and acting on the stale
    copy leaves a seat empty, or confirms or reissues what was cancelled. Every action here
    locks in this order, so what it reads stays true until it commits (on SQLite the write
    transaction holds the whole database from its start already)."""
    event = locked_event(session, registration)
    session.refresh(registration, with_for_update=True)
    if registration.badge is not None:
        session.refresh(registration.badge)
    return event


def _live(registration: Registration) -> None:
    if registration.erased_at is not None:
        raise Conflict(
            "erased", "This registration's personal data was erased; it can no longer change."
        )


def _confirm(registration: Registration) -> None:
    registration.status, registration.status_reason = Status.CONFIRMED.value, None
    registration.waitlisted_at = None
    _issue_badge(registration)


def _issue_badge(registration: Registration) -> None:
    if registration.badge is None:
        registration.badge = Badge(event_id=registration.event.id, version=1, status="active")
    else:
        _bump(registration.badge)


def _bump(badge: Badge) -> None:
    badge.version += 1
    badge.status, badge.status_reason = "active", None
    badge.issued_at = utcnow()


def _badge(registration: Registration) -> Badge:
    if registration.badge is None:
        raise Conflict("no_badge", "This registration has no badge: it is not confirmed.")
    return registration.badge


def _transition(rule, registration: Registration, *args) -> Status:
    try:
        return rule(Status(registration.status), *args)
    except domain.InvalidTransition as exc:
        raise Conflict("invalid_transition", str(exc)) from exc


def _check(action: str, registration: Registration) -> None:
    _transition(lambda status: domain.check_transition(action, status), registration)


def _category(event: Event, code: str) -> Category:
    for category in event.categories:
        if category.code == code:
            return category
    codes = ", ".join(c.code for c in event.categories)
    raise Invalid(
        "validation_failed",
        "Some fields are not valid; see `fields`.",
        {"category": [f"Must be one of: {codes}."]},
    )


def _already_registered() -> Conflict:
    return Conflict(
        "already_registered",
        "This e-mail address is already registered for this event. Use the link in your "
        "confirmation e-mail to view or change the registration.",
        {"email": ["Already registered for this event."]},
    )
