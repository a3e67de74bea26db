"""Domain events: the envelope every event travels in, its payload schemas, and who subscribes.

Events are facts named `<noun>.<past verb>`. A publisher never imports a subscriber: the relay
looks the event type up in SUBSCRIBERS and calls each task by name on the queue that the
task's prefix names (`checkin.apply_registration_event` runs on queue `checkin`).
"""

from __future__ import annotations

import functools
import logging

from marshmallow import RAISE, Schema, ValidationError, fields, validate

log = logging.getLogger(__name__)

ENVELOPE_VERSION = 1

EVENT_CREATED = "event.created"
EVENT_UPDATED = "event.updated"
DELEGATE_REGISTERED = "delegate.registered"
DELEGATE_CONFIRMED = "delegate.confirmed"  # approved, or promoted from the waitlist
DELEGATE_WAITLISTED = "delegate.waitlisted"
DELEGATE_REJECTED = "delegate.rejected"
DELEGATE_CANCELLED = "delegate.cancelled"
DELEGATE_UPDATED = "delegate.updated"  # corrected details
BADGE_REVOKED = "badge.revoked"
BADGE_REISSUED = "badge.reissued"
# The delegate's personal data was erased (on request, or past the event's retention period).
DELEGATE_ERASED = "delegate.erased"
CHECKIN_ADMITTED = "checkin.admitted"
CHECKIN_EXITED = "checkin.exited"
# A scan that did not pass (invalid, unknown, revoked, wrong_event, not_allowed_here, ...).
CHECKIN_REJECTED = "checkin.rejected"

# Every change to a delegate carries the delegate's whole current state (a snapshot with a
# revision), so a subscriber applies the newest it has seen and needs no other source.
DELEGATE_EVENTS = (
    DELEGATE_REGISTERED,
    DELEGATE_CONFIRMED,
    DELEGATE_WAITLISTED,
    DELEGATE_REJECTED,
    DELEGATE_CANCELLED,
    DELEGATE_UPDATED,
    BADGE_REVOKED,
    BADGE_REISSUED,
    DELEGATE_ERASED,
)
REPLICA = "checkin.apply_registration_event"
# notify keeps a small replica of events and delegates (for reminders), mails the delegate
# whatever message a change calls for, and forgets an erased delegate.
NOTIFY_EVENT = "notify.apply_event"
NOTIFY_DELEGATE = "notify.delegate_message"
NOTIFY_ERASURE = "notify.forget_delegate"

RECORD_ARRIVAL = "registration.record_arrival"
# notify counts arrivals (the organiser digest) and alerts protocol when a VIP arrives.
NOTIFY_ARRIVAL = "notify.vip_alert"
# notify sends each event to the organisers' webhooks subscribed to its type.
NOTIFY_WEBHOOKS = "notify.webhook_event"

SUBSCRIBERS: dict[str, tuple[str, ...]] = {
    EVENT_CREATED: (REPLICA, NOTIFY_EVENT),
    EVENT_UPDATED: (REPLICA, NOTIFY_EVENT),
    **{event_type: (REPLICA, NOTIFY_DELEGATE, NOTIFY_WEBHOOKS) for event_type in DELEGATE_EVENTS},
    DELEGATE_ERASED: (REPLICA, NOTIFY_ERASURE, NOTIFY_WEBHOOKS),
    # Registration notes a delegate's first arrival (delegations show who has come).
    CHECKIN_ADMITTED: (RECORD_ARRIVAL, NOTIFY_ARRIVAL, NOTIFY_WEBHOOKS),
    CHECKIN_EXITED: (NOTIFY_WEBHOOKS,),
    CHECKIN_REJECTED: (NOTIFY_WEBHOOKS,),
}

# Subscribers that take a list of envelopes, not one: the relay sends each of them one message
# a round holding every envelope bound for it, in sequence order. Every admission goes to the
# arrival pair and every change of registration to the replica, each batch applied in one
# transaction: a Celery task per event cost their workers more than the event's own work (an
# import of thousands, or the morning rush). Delegates' messages go in batches too, sent over
# one SMTP connection, each message still recorded and sent once on its own (a failed one
# retries the batch, whose sent messages are not sent again). Webhooks stay one task per
# event: each is its own delivery to someone else's server, which fails alone.
BATCHED = frozenset({RECORD_ARRIVAL, NOTIFY_ARRIVAL, REPLICA, NOTIFY_DELEGATE})
# At most this many envelopes a message: a mail takes tens of milliseconds, and a round's 200
# in one task would keep the other worker processes idle while one sends them all.
BATCH_LIMITS = {NOTIFY_DELEGATE: 20}


def queue_of(task_name: str) -> str:
    """The queue a task runs on: the service prefix of its name."""
    return task_name.split(".", 1)[0]


class Envelope(Schema):
    class Meta:
        unknown = RAISE

    event_id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.OneOf(SUBSCRIBERS))
    producer = fields.String(required=True)
    sequence = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True)
    version = fields.Integer(required=True)
    payload = fields.Dict(required=True)


class EventInfo(Schema):
    """What subscribers need to know of a congress."""

    id = fields.Integer(required=True)
    slug = fields.String(required=True)
    name = fields.String(required=True)
    venue = fields.String(required=True)
    timezone = fields.String(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)


class CategoryInfo(Schema):
    """A category of delegates, and the areas (by code) its badges may enter."""

    code = fields.String(required=True)
    label = fields.String(required=True)
    areas = fields.List(fields.String(), load_default=list)
    colour = fields.String(load_default="#1f6feb")
    # The label in other languages: {"zh": "市长或州长"}.
    labels = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


class EventAnnounced(Schema):
    """`event.created` and `event.updated`: the event as it now is."""

    event = fields.Nested(EventInfo, required=True)
    # SHA-256 digests, never the tokens: checkin authorises organisers without registration.
    organizer_token_digests = fields.List(fields.String(), required=True)
    # Every category, so the gates know who may enter which area.
    categories = fields.List(fields.Nested(CategoryInfo), load_default=list)


class BadgeInfo(Schema):
    id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    # active; revoked by an organiser; void once its registration is cancelled or rejected
    status = fields.String(required=True, validate=validate.OneOf(["active", "revoked", "void"]))
    reason = fields.String(allow_none=True, load_default=None)
    token = fields.String(required=True)


class DelegateInfo(Schema):
    id = fields.Integer(required=True)
    revision = fields.Integer(required=True, validate=validate.Range(min=1))
    given_name = fields.String(required=True)
    family_name = fields.String(required=True)
    display_name = fields.String(required=True)
    email = fields.Email(required=True)
    organisation = fields.String(required=True)
    city = fields.String(required=True)
    country = fields.String(required=True)
    category = fields.String(required=True)
    language = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["pending", "confirmed", "waitlisted", "cancelled", "rejected"]),
    )
    status_reason = fields.String(allow_none=True, load_default=None)
    # The Latin spelling the delegate gave for a non-Latin name (None: transliterate).
    latin_name = fields.String(allow_none=True, load_default=None)
    title = fields.String(load_default="")  # rank or title, for protocol
    delegation = fields.String(allow_none=True, load_default=None)  # its name, if any
    # What the delegate's manage token is derived from (shared.manage_links): notify puts the
    # link in every mail. Not the token: worthless without the link key.
    manage_nonce = fields.String(allow_none=True, load_default=None)


class DelegateChanged(Schema):
    """Every `delegate.*` and `badge.*` event: the delegate as they now are."""

    event = fields.Nested(EventInfo, required=True)
    delegate = fields.Nested(DelegateInfo, required=True)
    badge = fields.Nested(BadgeInfo, required=True, allow_none=True)
    # Why it changed, as the audit log has it: {"promoted": true}, {"reason": …},
    # {"fields": […]}, {"substituted_by": …}.
    detail = fields.Dict(keys=fields.String(), load_default=dict)


class ErasedDelegateInfo(Schema):
    """What is left of an erased delegate: no name (it reads "Erased"), no address; only what
    anonymous counts need."""

    id = fields.Integer(required=True)
    revision = fields.Integer(required=True, validate=validate.Range(min=1))
    display_name = fields.String(required=True)
    category = fields.String(required=True)
    country = fields.String(required=True)
    status = fields.String(required=True)


class ErasedBadgeInfo(Schema):
    """An erased delegate's badge: void, and without a token (nobody is to scan it again)."""

    id = fields.Integer(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["active", "revoked", "void"]))
    reason = fields.String(allow_none=True, load_default=None)


class DelegateErased(Schema):
    """`delegate.erased`: the delegate's snapshot with every personal field gone, so a
    subscriber's copy forgets the person too."""

    event = fields.Nested(EventInfo, required=True)
    delegate = fields.Nested(ErasedDelegateInfo, required=True)
    badge = fields.Nested(ErasedBadgeInfo, required=True, allow_none=True)


class Checkin(Schema):
    event_id = fields.Integer(required=True)
    badge_id = fields.Integer(required=True)
    scan_id = fields.Integer(required=True)
    # None for a movement no gate made: a check-in at the organisers' desk, the day's close.
    gate = fields.String(required=True, allow_none=True)
    category = fields.String(required=True)
    at = fields.AwareDateTime(required=True)
    area = fields.String(allow_none=True, load_default=None)  # the area's code
    registration_id = fields.Integer(allow_none=True, load_default=None)
    # gate, offline (synced later), manual, undo (a wrong check-in taken back), day_close
    source = fields.String(load_default="gate")


class CheckinRejected(Schema):
    """`checkin.rejected`: a scan that did not pass, and why (its `result`)."""

    event_id = fields.Integer(required=True, allow_none=True)  # None: an unverifiable token
    badge_id = fields.Integer(required=True, allow_none=True)
    scan_id = fields.Integer(required=True)
    gate = fields.String(required=True, allow_none=True)
    area = fields.String(allow_none=True, load_default=None)
    result = fields.String(required=True)
    at = fields.AwareDateTime(required=True)
    source = fields.String(load_default="gate")


PAYLOADS: dict[str, type[Schema]] = {
    EVENT_CREATED: EventAnnounced,
    EVENT_UPDATED: EventAnnounced,
    **dict.fromkeys(DELEGATE_EVENTS, DelegateChanged),
    DELEGATE_ERASED: DelegateErased,
    CHECKIN_ADMITTED: Checkin,
    CHECKIN_EXITED: Checkin,
    CHECKIN_REJECTED: CheckinRejected,
}


@functools.cache
def payload_schema(event_type: str) -> Schema:
    """One schema instance per event type, reused: building one (its nested schemas too)
    costs more than loading or dumping a payload with it."""
    return PAYLOADS[event_type]()


@functools.cache
def envelope_schema() -> Envelope:
    return Envelope()


def parse(envelope: dict) -> tuple[dict, dict]:
    """Validate an envelope and its payload; returns (envelope, payload) as loaded values."""
    loaded = envelope_schema().load(envelope)
    payload = payload_schema(loaded["type"]).load(loaded["payload"])
    return loaded, payload


def parse_batch(envelopes: list[dict] | dict, task_name: str) -> list[tuple[dict, dict]]:
    """Parse the envelopes of a batched task (BATCHED), leaving out, with a warning, any that
    is malformed or of a type the task does not take: one bad event must not hold up the
    others. A lone envelope, as queued before these tasks took batches, is a batch of one."""
    parsed = []
    for envelope in as_batch(envelopes):
        try:
            loaded, payload = parse(envelope)
        except ValidationError as exc:
            _skipped(envelope, f"malformed ({', '.join(sorted(exc.messages_dict))})")
            continue
        if task_name not in SUBSCRIBERS[loaded["type"]]:
            _skipped(envelope, f"not for {task_name}")
            continue
        parsed.append((loaded, payload))
    return parsed


def as_batch(message: list[dict] | dict) -> list[dict]:
    """The envelopes of a relayed message: a batched task's list, or one envelope."""
    return [message] if isinstance(message, dict) else message


def _skipped(envelope, why: str) -> None:
    # The event's id and type only: an envelope carries names and addresses.
    known = envelope if isinstance(envelope, dict) else {}
    log.warning("event %s (%s) skipped: %s", known.get("event_id"), known.get("type"), why)
