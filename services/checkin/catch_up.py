"""Keeping the badge replica whole without trusting the queues alone: rebuild it from
registration's snapshot (a new checkin, or after data loss), and catch up with registration's
change feed when an event went missing (a gap in its sequence numbers).

Both go through the replica's own rules (services/checkin/replica.py): a delegate's older
revision, or an event's older announcement, never overwrites a newer one, and an event already
applied is not applied again. So either is safe to run while events keep flowing, and running
it twice changes nothing.

`FeedPosition.through` is how far the replica is known to be whole: every event up to it was
applied, or is superseded by a snapshot taken after it. A sequence number is taken when an
event is written, not when its transaction commits, so the feed may show event 11 while 10 is
still being written: catch-up applies everything it sees but moves `through` only past events
older than SETTLE, which every writing transaction has long finished by.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.checkin import replica
from services.checkin.models import ConsumedEvent, FeedPosition
from shared.access import feed_token
from shared.config import Settings
from shared.db import as_utc, utcnow
from shared.events import REPLICA, SUBSCRIBERS, EventAnnounced, parse, payload_schema

log = logging.getLogger(__name__)

PRODUCER = "registration"
SETTLE = timedelta(minutes=2)
ATTEMPTS = 3  # a page meets a worker applying the same event at once: the retry skips it

Fetch = Callable[[str, dict], dict]
"""GET one of registration's feed endpoints (a path and its query) and return the JSON."""


def http_fetch(settings: Settings, timeout: float = 30) -> Fetch:
    """Read registration's feed over HTTP at FEED_URL with the FEED_TOKEN credential."""
    base, token = settings.feed_url.rstrip("/"), feed_token(settings)

    def fetch(path: str, query: dict) -> dict:
        request = Request(
            f"{base}{path}?{urlencode(query)}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        with urlopen(request, timeout=timeout) as response:
            return json.load(response)

    return fetch


@dataclass(frozen=True)
class Rebuilt:
    events: int  # announcements taken (newer than the replica's)
    delegates: int  # delegate snapshots read
    badges: int  # badges created or changed
    head: int  # the feed position the snapshot reflects


@dataclass(frozen=True)
class CaughtUp:
    seen: int  # events read from the feed
    applied: int  # of them, not applied before (the missing ones)
    through: int  # the replica is whole up to this sequence


def rebuild(sessions: sessionmaker, fetch: Fetch, slug: str | None = None, page: int = 500):
    """Take registration's snapshot of every event (or one) and its delegates; returns what
    changed. A whole rebuild also records that the replica is whole up to the snapshot."""
    announced = fetch("/api/v1/snapshot/events", {"event": slug} if slug else {})
    taken = read = changed = 0
    with sessions.begin() as session:
        for announcement in announced["events"]:
            payload = EventAnnounced().load(announcement["payload"])
            taken += replica.apply_event(session, payload, announcement["sequence"])
    for announcement in announced["events"]:
        path = f"/api/v1/snapshot/events/{quote(announcement['payload']['event']['slug'])}"
        after = 0
        while after is not None:
            snapshot = fetch(f"{path}/delegates", {"after": after, "limit": page})
            with sessions.begin() as session:
                for item in snapshot["delegates"]:
                    payload = payload_schema(item["type"]).load(item["payload"])
                    changed += replica.apply_delegate(session, payload)
            read += len(snapshot["delegates"])
            after = snapshot["next_after"]
    if slug is None:
        with sessions.begin() as session:
            advance(session, announced["head"])
    log.info("replica rebuilt: %s events, %s badges changed", taken, changed)
    return Rebuilt(taken, read, changed, announced["head"])


def catch_up(
    sessions: sessionmaker, fetch: Fetch, page: int = 200, now: datetime | None = None
) -> CaughtUp:
    """Apply every event of registration's feed after `through` that the replica missed, and
    move `through` past those settled."""
    cutoff = (now or utcnow()) - SETTLE
    with sessions() as session:
        start = position(session)
    after, seen, applied, through, settled = start, 0, 0, start, True
    while True:
        feed = fetch("/api/v1/feed", {"after": after, "limit": page})
        if not feed["events"]:
            break
        for attempt in range(ATTEMPTS):
            try:
                with sessions.begin() as session:
                    count, last, settled = _apply_page(session, feed["events"], cutoff, settled)
                    if last > through:
                        advance(session, last)
                break
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
        seen += len(feed["events"])
        applied += count
        through = max(through, last)
        after = feed["next_after"]
    if applied:
        log.warning("caught up with %s missed event(s) of %s", applied, PRODUCER)
    return CaughtUp(seen, applied, through)


def _apply_page(
    session: Session, envelopes: list[dict], cutoff: datetime, settled: bool
) -> tuple[int, int, bool]:
    """Apply a page of the feed; returns how many were new, the last settled sequence (or 0)
    and whether every event so far was settled."""
    applied, last = 0, 0
    # A page is mostly events the replica has: its queued copies came first. One query finds
    # them, so that only the missed ones are parsed and applied.
    ids = [str(e.get("event_id")) for e in envelopes if REPLICA in SUBSCRIBERS.get(e["type"], ())]
    consumed = set(
        session.scalars(select(ConsumedEvent.event_id).where(ConsumedEvent.event_id.in_(ids)))
    )
    for envelope in envelopes:
        if REPLICA in SUBSCRIBERS.get(envelope["type"], ()) and (
            str(envelope.get("event_id")) not in consumed
        ):
            try:
                loaded, payload = parse(envelope)
            except ValidationError as error:  # never block the feed on one bad event
                log.error("feed event %s unreadable: %s", envelope.get("sequence"), error)
            else:
                applied += replica.apply(session, loaded, payload)
        occurred = as_utc(datetime.fromisoformat(envelope["occurred_at"]))
        settled = settled and occurred <= cutoff
        if settled:
            last = envelope["sequence"]
    return applied, last, settled


def position(session: Session) -> int:
    row = session.get(FeedPosition, PRODUCER)
    return row.through if row else 0


def advance(session: Session, through: int) -> None:
    """Record that the replica is whole up to `through` (never moving back)."""
    row = session.get(FeedPosition, PRODUCER, with_for_update=True)
    if row is None:
        session.add(FeedPosition(producer=PRODUCER, through=through))
    elif through > row.through:
        row.through = through


def gap_before(session: Session, producer: str, sequence: int) -> bool:
    """Whether the event before this one is missing: neither applied, nor covered by
    `through`. (Workers apply events in parallel, so a gap may close by itself a moment
    later; catch-up settles it either way.)"""
    if producer != PRODUCER or sequence <= 1:
        return False
    if sequence - 1 <= position(session):
        return False
    query = select(ConsumedEvent.event_id).where(
        ConsumedEvent.producer == producer, ConsumedEvent.sequence == sequence - 1
    )
    return session.scalar(query.limit(1)) is None
