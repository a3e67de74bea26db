"""registration's change feed and snapshot API, for other services' replicas (checkin's badge
replica). Authorised by a machine credential, `FEED_TOKEN`, shared by registration and
checkin's worker and by nothing else: no organiser or delegate token reads it, and it reads
nothing but this feed. It is compared as a SHA-256 digest, in constant time."""

from __future__ import annotations

import functools

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from services.registration import feed, resources
from services.registration.event_setup import event_by_slug
from shared import access
from shared.errors import ErrorBody

blp = Blueprint(
    "feed", __name__, url_prefix="/api/v1", description="Change feed and snapshot (services)"
)
FEED_AUTH = [{"bearer": []}]


def feed_required(view):
    """Refuse anything but the feed's machine credential (401)."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        presented = access.bearer_digest()
        expected = access.feed_token(current_app.config["SETTINGS"])
        if not access.same_secret(presented, expected):
            raise access.unknown_token()
        return view(*args, **kwargs)

    return checked


class FeedArgs(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=feed.MAX_PAGE))


class FeedPage(Schema):
    events = fields.List(
        fields.Dict(),
        metadata={
            "description": "envelopes (event_id, type, producer, sequence, occurred_at, "
            "version, payload), oldest first"
        },  # fmt: skip
    )
    next_after = fields.Integer(metadata={"description": "`after` for the next page"})
    head = fields.Integer(metadata={"description": "the newest sequence in the feed"})


class SnapshotEventsArgs(Schema):
    event = fields.String(validate=validate.Length(max=64), metadata={"description": "a slug"})


class Announcement(Schema):
    sequence = fields.Integer()
    type = fields.String()
    payload = fields.Dict(metadata={"description": "the EventAnnounced payload"})


class SnapshotEvents(Schema):
    head = fields.Integer(
        metadata={"description": "the feed's newest sequence when the snapshot began"}
    )
    events = fields.List(fields.Nested(Announcement))


class SnapshotItem(Schema):
    type = fields.String(metadata={"description": "delegate.updated or delegate.erased"})
    payload = fields.Dict(metadata={"description": "DelegateChanged or DelegateErased"})


class SnapshotDelegates(Schema):
    delegates = fields.List(fields.Nested(SnapshotItem))
    next_after = fields.Integer(
        allow_none=True, metadata={"description": "`after` for the next page; null: the last"}
    )


@blp.get("/feed")
@feed_required
@blp.arguments(FeedArgs, location="query")
@blp.response(200, FeedPage)
@blp.alt_response(401, schema=ErrorBody)
@blp.doc(security=FEED_AUTH)
def change_feed(args: dict):
    """registration's events after sequence `after`, in order (the outbox): what a consumer
    that noticed a gap in the sequence catches up from."""
    with resources().db.reads() as session:
        return feed.feed_page(session, args["after"], args["limit"])


@blp.get("/snapshot/events")
@feed_required
@blp.arguments(SnapshotEventsArgs, location="query")
@blp.response(200, SnapshotEvents)
@blp.alt_response(401, schema=ErrorBody)
@blp.doc(security=FEED_AUTH)
def snapshot_events(args: dict):
    """Each event's latest announcement (categories and organiser token digests included)."""
    with resources().db.reads() as session:
        return feed.event_announcements(session, args.get("event"))


@blp.get("/snapshot/events/<slug>/delegates")
@feed_required
@blp.arguments(FeedArgs, location="query")
@blp.response(200, SnapshotDelegates)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(404, schema=ErrorBody)
@blp.doc(security=FEED_AUTH)
def snapshot_delegates(args: dict, slug: str):
    """The event's delegates as they now are, by id, a page at a time."""
    with resources().db.reads() as session:
        event = event_by_slug(session, slug)
        return feed.delegate_snapshots(
            session, resources().signer, event.id, args["after"], args["limit"]
        )
