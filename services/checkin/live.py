"""The live headcount, pushed to dashboards over Server-Sent Events.

Whatever changes presence (a scan, a synced offline queue, a check-in by hand, an undo, a day
close, a resolved conflict) publishes a small "changed" notice on the event's Redis channel
once its transaction has committed (a process publishes an event's notice at most ten times a
second: during a rush, one notice stands for every scan of its tenth of a second, and the last
change is never left untold). Every stream, in whichever gunicorn worker or checkin
replica serves it, listens on that channel and recomputes the snapshot from the database (at
most four times a second however fast the gates scan), sending it only when it differs from
the last one sent. Nothing a replica needs lives in process memory: a lost notice costs at most
one keep-alive interval, as each keep-alive also recomputes.

EventSource cannot send an Authorization header, and an organiser token in a URL would end up
in access logs and proxies. So the page trades its token (POST, in a header) for a stream
ticket: a random, single-use secret that Redis keeps for 60 seconds, bound to the event. A
ticket seen in a log has been spent already. Unlike a signed (HMAC) ticket it needs no new
shared key, and it cannot be replayed within its minute. A stream ends after LIFETIME; the page
then asks for a new ticket, so a token withdrawn meanwhile stops the dashboard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator

import redis
from flask import Response, current_app, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from services.checkin import access, desk, resources
from services.checkin.arrivals import arrivals
from services.checkin.headcount import headcount
from services.checkin.scanning import event_of
from services.checkin.schemas import ConflictOut, HeadcountOut
from services.checkin.vips import latest_vips
from shared.access import bearer_digest, bearer_required
from shared.config import Settings
from shared.db import utcnow
from shared.errors import ErrorBody, Problem, Unauthorized

log = logging.getLogger(__name__)

CHANNEL = "rollcall:checkin:live:{slug}"
TICKET_KEY = "rollcall:checkin:live-ticket:{digest}"
TICKET_SECONDS = 60
MIN_INTERVAL = 0.25  # seconds between recomputes of one stream: at most four a second
KEEPALIVE = 15.0  # a comment line (and a recompute) when nothing else was sent
LIFETIME = 600.0  # then the page comes back with a fresh ticket
RETRY_MS = 2000
# Each stream holds one of gunicorn's threads (gthread) for as long as it lasts; the cap leaves
# the rest of a worker's threads to the gates (see the Procfile's --threads).
STREAMS_PER_PROCESS = 4
QUIET_AFTER_FAILURE = 5.0  # seconds without publishing once Redis did not answer
NOTICE_INTERVAL = 0.1  # seconds between one process's notices for one event

blp = Blueprint("checkin_live", __name__, url_prefix="/api/v1/events", description="Live")


class Unavailable(Problem):
    status = 503


class Live:
    """This process's handle on the live channel: publish notices, issue and redeem tickets."""

    def __init__(self, redis_url: str, vip_categories: tuple[str, ...] = ()):
        self.vip_categories = vip_categories  # whose arrivals the `vips` event lists
        # Publishing happens on the gates' path: a Redis that does not answer within 0.2 s is
        # skipped (the dashboards catch up at their next keep-alive), never waited for.
        self.notices = redis.Redis.from_url(
            redis_url, socket_connect_timeout=0.2, socket_timeout=0.2
        )
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=5)
        self.streams = threading.BoundedSemaphore(STREAMS_PER_PROCESS)
        self._quiet_until = 0.0
        self._lock = threading.Lock()
        self._told: dict[str, float] = {}  # when this process last published each event's notice
        self._owed: set[str] = set()  # events whose notice waits for NOTICE_INTERVAL to pass

    def changed(self, slug: str) -> None:
        """Tell every dashboard of the event to look again: now, or, when this process told
        them less than NOTICE_INTERVAL ago, as soon as that interval is over. Never fails
        the caller, never makes it wait."""
        now = time.monotonic()
        with self._lock:
            if slug in self._owed:
                return  # the notice on its way covers this change too: it leaves later
            wait = self._told.get(slug, float("-inf")) + NOTICE_INTERVAL - now
            if wait > 0:
                self._owed.add(slug)
                timer = threading.Timer(wait, self._tell_owed, (slug,))
                timer.daemon = True
                timer.start()
                return
            self._told[slug] = now
        self._publish(slug)

    def _tell_owed(self, slug: str) -> None:
        with self._lock:
            self._owed.discard(slug)
            self._told[slug] = time.monotonic()
        self._publish(slug)

    def _publish(self, slug: str) -> None:
        if time.monotonic() < self._quiet_until:
            return
        try:
            self.notices.publish(CHANNEL.format(slug=slug), "changed")
        except redis.RedisError as exc:
            self._quiet_until = time.monotonic() + QUIET_AFTER_FAILURE
            log.warning("live: no change notice for %s: %s", slug, type(exc).__name__)

    def issue_ticket(self, slug: str) -> str:
        ticket = secrets.token_urlsafe(24)
        try:
            self.redis.set(_ticket_key(ticket), slug, ex=TICKET_SECONDS)
        except redis.RedisError as exc:
            raise Unavailable("live_unavailable", "The live headcount is unavailable.") from exc
        return ticket

    def redeem(self, slug: str, ticket: str) -> bool:
        """True once for a ticket issued for this event in the last minute."""
        try:
            bound = self.redis.getdel(_ticket_key(ticket))
        except redis.RedisError as exc:
            raise Unavailable("live_unavailable", "The live headcount is unavailable.") from exc
        return bound is not None and bound.decode() == slug


def _ticket_key(ticket: str) -> str:
    return TICKET_KEY.format(digest=hashlib.sha256(ticket.encode()).hexdigest())


def init_app(app, settings: Settings) -> None:
    app.extensions["checkin_live"] = Live(settings.redis_url, settings.vip_categories)


def changed(slug: str | None) -> None:
    """After a commit that moved someone (or resolved a conflict) in the event `slug`."""
    if slug:
        current_app.extensions["checkin_live"].changed(slug)


def snapshot(reads: sessionmaker, slug: str, vip_categories=()) -> dict[str, dict]:
    """What a dashboard shows, by SSE event name, as JSON-ready dicts."""
    with reads() as session:
        event = event_of(session, slug)
        open_conflicts = desk.conflicts(session, event, resolved=False)
        now = utcnow()
        return {
            "headcount": HeadcountOut().dump(headcount(session, event)),
            "arrivals": arrivals(session, event, now),
            "conflicts": {"conflicts": ConflictOut(many=True).dump(open_conflicts)},
            "vips": latest_vips(session, event, vip_categories, now),
        }


def frames(
    pubsub,
    compute: Callable[[], dict[str, dict]],
    *,
    lifetime: float = LIFETIME,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """The stream's text: a snapshot at once, then one whenever a notice on `pubsub` (already
    subscribed) leads to a different one; keep-alives in between; ends after `lifetime`."""
    yield f"retry: {RETRY_MS}\n\n"
    start = clock()
    sent: dict[str, str] = {}
    due, next_compute, last_write = True, start, start
    while clock() - start < lifetime:
        now = clock()
        if due and now >= next_compute:
            due, next_compute = False, now + MIN_INTERVAL
            for name, body in compute().items():
                compared = json.dumps({k: v for k, v in body.items() if k != "as_of"})
                if sent.get(name) != compared:
                    sent[name] = compared
                    last_write = clock()
                    yield f"event: {name}\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"
        if clock() - last_write >= KEEPALIVE:
            last_write, due = clock(), True  # a keep-alive also looks again
            yield ": keep-alive\n\n"
        wait = next_compute - clock() if due else KEEPALIVE - (clock() - last_write)
        wait = max(0.0, min(wait, lifetime - (clock() - start)))
        if pubsub.get_message(timeout=wait) is not None:
            due = True


def stream(live: Live, reads: sessionmaker, slug: str) -> Iterator[str]:
    pubsub = live.redis.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(CHANNEL.format(slug=slug))  # before the first snapshot: miss nothing
        yield from frames(pubsub, lambda: snapshot(reads, slug, live.vip_categories))
    except (redis.RedisError, SQLAlchemyError) as exc:  # the page comes back with a new ticket
        log.warning("live: stream of %s ended: %s", slug, type(exc).__name__)
    finally:
        pubsub.close()


class TicketOut(Schema):
    ticket = fields.String(metadata={"description": "single use, within `expires_in` seconds"})
    expires_in = fields.Integer()
    stream = fields.String(metadata={"description": "the stream's URL, ticket included"})


class StreamQuery(Schema):
    ticket = fields.String(required=True, validate=validate.Length(min=1, max=100))


@blp.post("/<slug>/live/tickets")
@bearer_required
@blp.response(201, TicketOut)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(404, schema=ErrorBody)
@blp.alt_response(503, schema=ErrorBody)
@blp.doc(security=[{"bearer": []}])
def issue_ticket(slug: str):
    """A ticket to open the live headcount stream (organisers): EventSource cannot send the
    token as a header, and a token must not travel in a URL. Single use, for one minute."""
    with resources().db.reads() as session:
        access.organizer_event(session, bearer_digest(), slug)
    ticket = current_app.extensions["checkin_live"].issue_ticket(slug)
    url = url_for(".live_stream", slug=slug, ticket=ticket)
    return {"ticket": ticket, "expires_in": TICKET_SECONDS, "stream": url}


@blp.get("/<slug>/live")
@blp.arguments(StreamQuery, location="query")
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(503, schema=ErrorBody)
@blp.doc(
    responses={
        "200": {
            "description": "`text/event-stream`: a `headcount` event (as GET …/headcount "
            "answers), an `arrivals` event (first entries per 10 minutes, the last 3 hours), "
            "a `conflicts` event (the open ones) and a `vips` event (the latest 6 arrivals "
            "today at the venue of VIP_CATEGORIES badges: name, category label in en/zh, gate, "
            "area, time) at once, then each whenever it changes; "
            "a keep-alive comment every 15 s. Ends after 10 minutes: ask for a new ticket and "
            "reconnect.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
)
def live_stream(query: dict, slug: str):
    """The live headcount of an event as Server-Sent Events, opened with a stream ticket."""
    live: Live = current_app.extensions["checkin_live"]
    if not live.redeem(slug, query["ticket"]):
        raise Unauthorized(
            "invalid_ticket", "This stream ticket is not valid or has expired; ask for a new one."
        )
    if not live.streams.acquire(blocking=False):
        raise Unavailable("busy", "Too many live dashboards on this server; retrying shortly.")
    response = Response(
        stream(live, resources().db.reads, slug),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(live.streams.release)
    return response
