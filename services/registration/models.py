"""Registration's own tables: events, their categories, organiser tokens, registrations,
badges, and the outbox that announces every change."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.registration import domain, privacy
from shared.db import NAMING_CONVENTION, TYPE_ANNOTATIONS
from shared.db import utcnow as _now
from shared.outbox import Outbox, outbox_table
from shared.printing.transliteration import transliterate


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATIONS


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(200))
    # The name and venue in other languages ({"zh": {"name": …, "venue": …}}).
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict)
    timezone: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    capacity: Mapped[int | None]  # seats in all; None: no limit beyond the categories'
    # Days after `ends_on` that personal data is kept, then erased; None: until one is set.
    retention_days: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)

    categories: Mapped[list[Category]] = relationship(
        back_populates="event", order_by="Category.position"
    )

    @property
    def personal_data_kept_until(self) -> date | None:
        return privacy.kept_until(self.ends_on, self.retention_days)

    @property
    def privacy_notice(self) -> privacy.Notice:
        return privacy.NOTICE


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("event_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    # The label in other languages, by language code ({"zh": "市长"}); `label` otherwise.
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(default=0)
    capacity: Mapped[int | None]
    needs_approval: Mapped[bool] = mapped_column(default=False)
    # The areas and halls this category may enter ("plenary", "vip-lounge", …).
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    colour: Mapped[str] = mapped_column(String(7), default="#1f6feb")  # the badge's band

    event: Mapped[Event] = relationship(back_populates="categories")


class OrganizerToken(Base):
    __tablename__ = "organizer_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("event_id", "email_key"),
        Index("ix_registrations_event_id_category_status", "event_id", "category", "status"),
        Index("ix_registrations_event_id_duplicate_key", "event_id", "duplicate_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    # The address folded for comparison: one registration per person per event.
    email_key: Mapped[str] = mapped_column(String(254))
    organisation: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    category: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(500))
    # Bumped by every change: subscribers apply a snapshot only if it is newer than theirs.
    revision: Mapped[int] = mapped_column(default=1)
    waitlisted_at: Mapped[datetime | None]  # the waitlist's order
    # Every searchable field, case-folded in one column: search works alike in every script.
    search_key: Mapped[str] = mapped_column(String(1000), default="")
    # Name, organisation and city folded together: another registration with the same one is
    # likely the same person under a second address (a warning, not a refusal).
    duplicate_key: Mapped[str] = mapped_column(String(500), server_default="")
    # The Latin spelling printed under a non-Latin name, as the delegate writes it; None: the
    # transliteration a library makes.
    latin_name: Mapped[str | None] = mapped_column(String(200))
    dietary: Mapped[str] = mapped_column(String(200), default="")
    accessibility: Mapped[str] = mapped_column(String(200), default="")
    # Protocol: rank or title ("Mayor of Guangzhou"), the language an interpreter is needed
    # for (None: none needed), and handling notes for the protocol office.
    title: Mapped[str] = mapped_column(String(200), server_default="")
    interpreter: Mapped[str | None] = mapped_column(String(8))
    protocol_notes: Mapped[str] = mapped_column(String(1000), server_default="")
    delegation_id: Mapped[int | None] = mapped_column(ForeignKey("delegations.id"), index=True)
    # First admitted at any gate (from checkin's `checkin.admitted`): the delegate has arrived.
    arrived_at: Mapped[datetime | None]
    manage_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The manage token is derived from this (shared.manage_links); a new one voids the link.
    manage_nonce: Mapped[str | None] = mapped_column(String(32))
    # Consent: "delegate" (agreed to the privacy notice of `consent_version` at `consent_at`),
    # "organiser" (entered by an organiser, no consent of the delegate's), or "unrecorded".
    consent_basis: Mapped[str] = mapped_column(String(16), server_default="unrecorded")
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consent_at: Mapped[datetime | None]
    # Set once the personal fields are erased; category, country and status stay for counts.
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)

    event: Mapped[Event] = relationship()
    badge: Mapped[Badge | None] = relationship(back_populates="registration")
    # Loaded with the registration (a second query, so `FOR UPDATE` locks registrations alone):
    # every answer about a registration names its delegation.
    delegation: Mapped[Delegation | None] = relationship(
        back_populates="members", foreign_keys=[delegation_id], lazy="selectin"
    )

    @property
    def display_name(self) -> str:
        return domain.display_name(self.given_name, self.family_name)

    @property
    def printed_latin_name(self) -> str | None:
        """What the badge prints under a non-Latin name: the delegate's own Latin spelling,
        else a transliteration; None under a Latin name."""
        if self.latin_name:
            return self.latin_name
        return transliterate(self.display_name)

    @property
    def consent(self) -> dict:
        return {
            "basis": self.consent_basis,
            "version": self.consent_version,
            "given_at": self.consent_at,
            "notice": privacy.notice(self.consent_version),
        }


@event.listens_for(Registration, "before_insert")
@event.listens_for(Registration, "before_update")
def _keep_search_key(_mapper, _connection, registration: Registration) -> None:
    if registration.erased_at is not None:  # nothing of the person is left to find
        registration.search_key = registration.duplicate_key = ""
        return
    registration.duplicate_key = domain.duplicate_key(
        registration.given_name,
        registration.family_name,
        registration.organisation,
        registration.city,
    )
    registration.search_key = domain.search_key(
        registration.given_name,
        registration.family_name,
        registration.display_name,
        registration.latin_name or "",
        registration.email,
        registration.organisation,
        registration.city,
        registration.country,
    )


class Delegation(Base):
    """A city's or an organisation's party: a head who registers, edits and substitutes its
    members within a quota, and the protocol notes that travel with it."""

    __tablename__ = "delegations"
    __table_args__ = (UniqueConstraint("event_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # "Guangzhou", "UN-Habitat"
    kind: Mapped[str] = mapped_column(String(16))  # city, organisation
    organisation: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    category: Mapped[str] = mapped_column(String(40))  # its members' category
    quota: Mapped[int]  # members at most, the head included
    notes: Mapped[str] = mapped_column(String(1000), default="")  # protocol handling notes
    # The member who manages it (with their own manage token); None until one registers.
    head_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", use_alter=True), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=_now)

    members: Mapped[list[Registration]] = relationship(
        back_populates="delegation",
        foreign_keys="Registration.delegation_id",
        order_by="Registration.id",
    )

    @property
    def arrival(self) -> domain.Arrival:
        holding = [
            m for m in self.members if m.status in domain.MEMBER_STATUSES and not m.erased_at
        ]
        confirmed = [m for m in holding if m.status == domain.Status.CONFIRMED.value]
        return domain.Arrival(
            len(holding), len(confirmed), sum(1 for m in confirmed if m.arrived_at)
        )


class Badge(Base):
    """One badge per registration; a reissue bumps `version` and voids the older QR."""

    __tablename__ = "badges"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    # active; revoked (by an organiser, with a reason); void (its registration was cancelled)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    issued_at: Mapped[datetime] = mapped_column(default=_now)

    registration: Mapped[Registration] = relationship(back_populates="badge")


class InvitationCode(Base):
    """A code that registers up to `uses_allowed` delegates in one category without
    approval (a mayor's office registers its delegation with one). Stored as a digest."""

    __tablename__ = "invitation_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))  # the code's last characters, to tell codes apart
    category: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))
    uses_allowed: Mapped[int]
    uses: Mapped[int] = mapped_column(default=0)
    # A delegation's code: whoever registers with it joins that delegation.
    delegation_id: Mapped[int | None] = mapped_column(ForeignKey("delegations.id"))
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=_now)


class IdempotentRequest(Base):
    """A registration answered under an `Idempotency-Key`: the same key and body get the
    same answer again instead of a second registration (kept for a day)."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("event_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the request body
    status: Mapped[int]
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=_now, index=True)


class AuditEntry(Base):
    """Who did what, when: every organiser and delegate action on a registration."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    registration_id: Mapped[int | None] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(120))  # "organiser:<label>", "delegate", "system"
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=_now)


class ImportJob(Base):
    """An invitation list imported in the background (`import_jobs`): the uploaded file and its
    options until the job ends, where it stands, and its report once done."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    # queued, checking, importing; then done, refused (all or nothing, bad rows) or failed
    state: Mapped[str] = mapped_column(String(16), default="queued")
    filename: Mapped[str] = mapped_column(String(200))
    valid_only: Mapped[bool]
    invited: Mapped[bool]
    category: Mapped[str | None] = mapped_column(String(40))  # for rows that name none
    actor: Mapped[str] = mapped_column(String(120))  # who uploaded it, for the audit trail
    # The file as uploaded (personal data): kept until the job ends, then dropped.
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    rows: Mapped[int]  # the file's rows below its header
    phase: Mapped[str | None] = mapped_column(String(16))  # checking, importing
    done: Mapped[int] = mapped_column(default=0)  # rows done in this phase …
    total: Mapped[int] = mapped_column(default=0)  # … of this many
    # The run working on it (one at a time), alive while its heartbeat is fresh.
    runner: Mapped[str | None] = mapped_column(String(32))
    heartbeat_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[dict | None] = mapped_column(JSON)  # the one error shape's detail
    report: Mapped[dict | None] = mapped_column(JSON, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ImportJobChunk(Base):
    """The rows one transaction of an import job registered, committed with them: a job that
    resumes after a crash knows which rows it did, and reports them as it found them."""

    __tablename__ = "import_job_chunks"

    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id"), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True)
    results: Mapped[list[dict]] = mapped_column(JSON)


outbox = Outbox(outbox_table(Base.metadata, "registration_outbox"), producer="registration")
