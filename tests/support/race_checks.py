"""Setting the scene for the races of tests/integration/test_races.py through the public API,
and reading their invariants back from the databases afterwards (not from the answers)."""

from __future__ import annotations

import uuid
from collections import defaultdict

import requests
from sqlalchemy import select

from services.checkin import presence
from services.checkin.models import Area, Conflict, Presence, ReplicaBadge, Scan
from services.registration.models import Badge, Event, Registration, outbox
from shared.badges import BadgeClaim
from tests.integration.conftest import delegate
from tests.support import races
from tests.support.processes import wait_until

# --- setting the scene, through the API --------------------------------------------------------


def api(stack, method: str, path: str, token: str | None = None, body=None, expect=(200, 201)):
    with requests.Session() as session:
        status, answer = races.call(session, method, stack.registration_url + path, token, body)
    assert status in expect, (path, status, answer)
    return answer


def new_event(stack, seats: list[int | None]) -> tuple[str, str]:
    """A fresh event with a category `seat-<i>` of `seats[i]` seats for each i: its slug and
    organiser token."""
    slug = f"race-{uuid.uuid4().hex[:10]}"
    categories = [
        {"code": f"seat-{i}", "label": f"Seat {i}", "capacity": capacity,
         "needs_approval": False, "areas": ["venue"], "colour": "#1f6feb"}
        for i, capacity in enumerate(seats)
    ]  # fmt: skip
    created = api(stack, "POST", "/api/v1/events", stack.organizer_token, {
        "slug": slug, "name": f"Race {slug}", "venue": "Hall 1", "timezone": "Asia/Shanghai",
        "starts_on": "2023-12-07", "ends_on": "2023-12-09", "capacity": None,
        "categories": categories,
    })  # fmt: skip
    return slug, created["organizer_token"]


def enrol(stack, slug: str, **fields) -> dict:
    return api(stack, "POST", f"/api/v1/events/{slug}/registrations", body=delegate(**fields))


def registrations_of(stack, slug: str, category: str) -> dict[int, str]:
    """Each registration of the event's category and its status; a confirmed one's badge
    must be active, any other's not."""
    with stack.db.reads() as session:
        event_id = session.scalar(select(Event.id).where(Event.slug == slug))
        rows = session.scalars(
            select(Registration).where(
                Registration.event_id == event_id, Registration.category == category
            )
        ).all()
        for r in rows:
            active = r.badge is not None and r.badge.status == "active"
            assert active == (r.status == "confirmed"), (r.id, r.status, r.badge)
        return {r.id: r.status for r in rows}


IMPORT_ROWS = 200  # rows registration imports at once; a bigger file becomes a background job


def imported(stack, slug: str, organiser: str, categories: list[str]) -> list[dict]:
    """Register one new delegate in each of `categories`, in that order, by importing
    spreadsheets (a request and a transaction for each 200); each one's id, status and badge."""
    emails = [f"race-{uuid.uuid4().hex[:12]}@example.org" for _ in categories]
    people = list(zip(emails, categories, strict=True))
    for start in range(0, len(people), IMPORT_ROWS):
        sheet = "Given name,Family name,E-mail,Organisation,City,Country,Category,Language\n"
        sheet += "".join(
            f"Clara,Race {start + i},{email},Iztapalapa,Iztapalapa,MX,{category},en\n"
            for i, (email, category) in enumerate(people[start : start + IMPORT_ROWS])
        )
        answer = requests.post(
            f"{stack.registration_url}/api/v1/events/{slug}/imports",
            files={"file": ("race.csv", sheet.encode(), "text/csv")},
            headers={"Authorization": f"Bearer {organiser}"},
            timeout=120,
        )
        assert answer.status_code == 201, answer.text
    with stack.db.reads() as session:
        rows = session.scalars(select(Registration).where(Registration.email_key.in_(emails)))
        found = {
            r.email_key: {"id": r.id, "status": r.status, "event_id": r.event_id,
                          "badge_id": r.badge.id if r.badge else None}
            for r in rows
        }  # fmt: skip
    return [found[email] for email in emails]


def fresh_badges(stack, count: int) -> list[tuple[int, int, str]]:
    """`count` new confirmed delegates of the demo event, once checkin's replica knows their
    badges: [(registration id, badge id, token)]."""
    people = imported(stack, "gmf2023", stack.organizer_token, ["delegate"] * count)
    badges = [
        (p["id"], p["badge_id"], token(stack, p["event_id"], p["badge_id"], 1)) for p in people
    ]

    def replicated():
        with stack.db.reads() as session:
            ids = [badge_id for _, badge_id, _ in badges]
            found = session.scalars(
                select(ReplicaBadge.badge_id).where(ReplicaBadge.badge_id.in_(ids))
            )
            return len(found.all()) == count

    wait_until(replicated, 60, f"checkin's replica to know {count} new badges")
    return badges


def token(stack, event_id: int, badge_id: int, version: int) -> str:
    """The QR text registration issues for this badge version (Ed25519 signs deterministically)."""
    return stack.signer.sign(BadgeClaim(event_id, badge_id, version))


# --- reading registration back ---------------------------------------------------------------


def seat_history(stack, slug: str) -> tuple[dict[str, int], dict[str, int]]:
    """Replaying the event's outbox in sequence order (seat decisions take the event's lock,
    so that is the order they were made in): the most delegates each category had confirmed
    at once, and how often a newcomer was confirmed at once while someone in the category
    was waiting for a seat (jumping the waitlist: a seat was free and nobody promoted)."""
    status, peak, jumps = {}, defaultdict(int), defaultdict(int)
    table = outbox.table
    with stack.db.reads() as session:
        rows = session.execute(select(table.c.type, table.c.payload).order_by(table.c.sequence))
        for kind, payload in rows:
            person = payload.get("delegate") or {}
            if (payload.get("event") or {}).get("slug") != slug or "id" not in person:
                continue
            category = person["category"]
            waiting = any(c == category and s == "waitlisted" for c, s in status.values())
            if kind == "delegate.registered" and person["status"] == "confirmed" and waiting:
                jumps[category] += 1
            status[person["id"]] = (category, person["status"])
            held = sum(1 for c, s in status.values() if c == category and s == "confirmed")
            peak[category] = max(peak[category], held)
    return peak, jumps


# --- reading checkin's log back -------------------------------------------------------------------


def venue_log(stack, badge_ids) -> dict[int, list]:
    """Each badge's scans at the demo event's venue, in the log's order."""
    with stack.db.reads() as session:
        venue = session.scalar(
            select(Area.id).where(Area.event_slug == "gmf2023", Area.code == "venue")
        )
        rows = session.scalars(
            select(Scan)
            .where(Scan.badge_id.in_(badge_ids), Scan.area_id == venue)
            .order_by(Scan.id)
        ).all()
    log = {badge_id: [] for badge_id in badge_ids}
    for row in rows:
        log[row.badge_id].append(row)
    return log


def assert_presence_is_its_rebuild(stack, badge_ids) -> None:
    """Presence of these badges is one row each at the venue, inside, and exactly what
    presence.rebuild derives from the log."""

    def rows():
        with stack.db.reads() as session:
            found = session.scalars(select(Presence).where(Presence.badge_id.in_(badge_ids)))
            return sorted((p.badge_id, p.area_id, p.inside, p.first_in_at, p.first_gate_id,
                           p.last_in_at, p.last_gate_id, p.last_out_at) for p in found)  # fmt: skip

    live = rows()
    assert [(b, inside) for b, _, inside, *_ in live] == [(b, True) for b in sorted(badge_ids)]
    with stack.db.sessions.begin() as session:
        events = select(Presence.event_id).where(Presence.badge_id.in_(badge_ids)).distinct()
        for event_id in session.scalars(events).all():
            presence.rebuild(session, event_id)
    assert rows() == live


def event_id_of(stack, slug: str) -> int:
    """The id registration gave the event (the one its badges are signed for)."""
    with stack.db.reads() as session:
        return session.scalar(select(Event.id).where(Event.slug == slug))


def replica_follows(stack, versions: dict[int, int]) -> None:
    """checkin's replica ends holding each badge's newest version, as registration has it."""
    with stack.db.reads() as session:
        issued = dict(session.execute(
            select(Badge.id, Badge.version).where(Badge.id.in_(versions))).all())  # fmt: skip
    assert issued == versions, f"registration lost a reissue (badge: version): {issued}"

    def held() -> dict[int, int]:
        with stack.db.reads() as session:
            return dict(session.execute(
                select(ReplicaBadge.badge_id, ReplicaBadge.version)
                .where(ReplicaBadge.badge_id.in_(versions))).all())  # fmt: skip

    try:
        wait_until(lambda: held() == issued, 30, "checkin's replica to hold the newest versions")
    except TimeoutError:
        stale = {b: (v, issued[b]) for b, v in held().items() if v != issued[b]}
        raise AssertionError(f"the replica stays behind (badge: (held, issued)): {stale}") from None


def conflicts_of(stack, badge_ids) -> dict[int, list[tuple[int, int]]]:
    """Each badge's recorded offline-sync conflicts: (winner scan id, loser scan id)."""
    found = defaultdict(list)
    with stack.db.reads() as session:
        for c in session.scalars(select(Conflict).where(Conflict.badge_id.in_(badge_ids))):
            found[c.badge_id].append((c.winner_scan_id, c.loser_scan_id))
    return found
