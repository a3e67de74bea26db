"""Before the doors open: the rehearsal's own event (the forum's categories, a venue, gates
with their scanner tokens, registration desks with a supervisor each), then every delegate
registered the ways they really are: mayors added to their delegations by the protocol office,
members joining with their delegation's code, invitation lists imported in chunks, press and
VIP guests through the public API and approved by the organisers."""

from __future__ import annotations

import csv
import io
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rollcall import demo
from rollcall.rehearse.client import Api, ApiError
from rollcall.rehearse.people import Person, Roster
from rollcall.rehearse.system import Target

IMPORT_CHUNK = 1000  # rows of an invitation list sent as one background import
NAMED_GATES = ("North", "South", "East", "VIP")
DESK = "Registration desk"
DELEGATES_PER_DESK = 2000  # the 2 % who forget their badge: ~40 a desk, a minute or so each


@dataclass(slots=True)
class Delegate:
    """What the rehearsal keeps of each delegate once registered: small, for 200,000 of them."""

    number: int
    email: str
    category: str
    registration_id: int = 0
    badge_id: int = 0
    token: str = ""


@dataclass
class Venue:
    slug: str
    organizer_token: str
    gates: dict[str, str]  # gate name → its scanner token
    desks: dict[str, str]  # registration desk → its supervisor's token

    @property
    def supervisor(self) -> str:
        """A supervisor's token (the first desk's): for what the desks look up."""
        return next(iter(self.desks.values()))


@dataclass
class Registered:
    delegates: dict[str, Delegate] = field(default_factory=dict)  # by e-mail address
    pending: list[int] = field(default_factory=list)  # registration ids awaiting approval


def gate_names(count: int) -> list[str]:
    return [*NAMED_GATES[:count], *(f"Gate {n:03d}" for n in range(5, count + 1))]


def desks_for(delegates: int) -> int:
    """Registration desks for an event of this size: one each `DELEGATES_PER_DESK`."""
    return max(1, math.ceil(delegates / DELEGATES_PER_DESK))


def desk_names(count: int) -> list[str]:
    return [DESK] if count == 1 else [f"{DESK} {n}" for n in range(1, count + 1)]


def set_up_event(target: Target, slug: str, gate_count: int, desk_count: int, wait_for) -> Venue:
    """Create the rehearsal's event (so a rehearsal never touches a real event's figures) with
    a venue, `gate_count` gates and `desk_count` registration desks; wait until checkin knows
    the event."""
    api = target.api
    today = datetime.now(ZoneInfo(demo.FORUM.timezone)).date()
    categories = [
        {"code": c.code, "label": c.label, "capacity": None, "needs_approval": c.needs_approval,
         "areas": list(c.areas), "colour": c.colour, "labels": dict(c.labels or {})}
        for c in demo.FORUM.categories
    ]  # fmt: skip
    created = api.post(
        "registration",
        "/api/v1/events",
        target.organizer_token,
        expect=(201,),
        json={
            "slug": slug,
            "name": f"Rehearsal of the {demo.FORUM.name}",
            "venue": demo.FORUM.venue,
            "timezone": demo.FORUM.timezone,
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=2)).isoformat(),
            "capacity": None,
            "categories": categories,
        },
    )
    token = created["organizer_token"]
    areas = f"/api/v1/events/{slug}/areas"

    def known() -> bool:
        try:
            return api.call("GET", "checkin", areas, token)[0].ok
        except ApiError:
            return False

    wait_for(known, 60, "checkin to learn of the rehearsal's event")
    for code, name in (("venue", "Venue"), ("plenary", "Plenary hall"), ("ceremony", "Ceremony")):
        body = {"code": code, "name": name, "everyone": code == "venue"}
        api.post("checkin", areas, token, expect=(201,), json=body)
    gates = {name: _gate_token(api, slug, token, name) for name in gate_names(gate_count)}
    desks = {name: _gate_token(api, slug, token, name, role="supervisor")
             for name in desk_names(desk_count)}  # fmt: skip
    return Venue(slug, token, gates, desks)


def _gate_token(api: Api, slug: str, token: str, name: str, role: str = "scanner") -> str:
    gate = api.post(
        "checkin", f"/api/v1/events/{slug}/gates", token, expect=(201,),
        json={"name": name, "area": "venue"},
    )  # fmt: skip
    issued = api.post(
        "checkin", f"/api/v1/events/{slug}/gates/{gate['id']}/tokens", token, expect=(201,),
        json={"label": f"rehearsal {name}", "role": role},
    )  # fmt: skip
    return issued["token"]


def register_everyone(
    api: Api, venue: Venue, roster: Roster, advance: Callable[[int], None], workers: int = 4
) -> Registered:
    """Register the roster, streamed: delegations and heads first, then imports in chunks and
    public registrations side by side; at most a few requests in flight."""
    done = Registered()
    codes = _delegations(api, venue, roster)
    with ThreadPoolExecutor(workers) as pool:
        in_flight: set[Future] = set()
        for job in _jobs(api, venue, codes, roster.people()):
            in_flight.add(pool.submit(job))
            if len(in_flight) >= workers * 2:
                finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                _collect(finished, done, advance)
        _collect(wait(in_flight)[0], done, advance)
    return done


def _collect(finished: Iterable[Future], done: Registered, advance) -> None:
    for future in finished:
        registered = future.result()
        for delegate, status in registered:
            done.delegates[delegate.email] = delegate
            if status == "pending":
                done.pending.append(delegate.registration_id)
        advance(len(registered))


def _jobs(api, venue, codes, people: Iterator[Person]) -> Iterator[Callable]:
    """One callable per request: a public registration alone, imports by chunks. The roster
    streams each head before the members: the head is added here, at once, so that it is the
    delegation's head before any member joins with the code."""
    chunk: list[Person] = []
    for person in people:
        if person.channel == "head":
            result = _add_head(api, venue, codes[person.delegation][0], person)
            yield lambda result=result: result
        elif person.channel == "member":
            yield _public_job(api, venue, person, codes[person.delegation][1])
        elif person.channel == "public":
            yield _public_job(api, venue, person, None)
        else:
            chunk.append(person)
            if len(chunk) == IMPORT_CHUNK:
                yield _import_job(api, venue, chunk)
                chunk = []
    if chunk:
        yield _import_job(api, venue, chunk)


def _delegations(api: Api, venue: Venue, roster: Roster) -> dict[int, tuple[int, str]]:
    """Each delegation set up by the organisers: index → (delegation id, its code)."""
    codes = {}
    for d in roster.delegations:
        created = api.post(
            "registration", f"/api/v1/events/{venue.slug}/delegations", venue.organizer_token,
            expect=(201,),
            json={"name": d.name, "kind": "city", "organisation": d.organisation,
                  "city": d.city.name, "country": d.city.country, "category": "delegate",
                  "quota": d.quota, "notes": f"{d.title}'s delegation; arrives by motorcade."},
        )  # fmt: skip
        codes[d.index] = (created["id"], created["code"])
    return codes


def _delegate(person: Person, answer: dict) -> Delegate:
    return Delegate(person.number, person.email, person.category, answer["id"])


def _add_head(api: Api, venue: Venue, delegation_id: int, person: Person) -> list:
    """The protocol office adds the mayor to the delegation, first: its head."""
    answer = api.post(
        "registration", f"/api/v1/delegations/{delegation_id}/members", venue.organizer_token,
        expect=(201,), json={**person.body(), "protocol_notes": "Head of delegation."},
    )  # fmt: skip
    return [(_delegate(person, answer), answer["status"])]


def _public_job(api: Api, venue: Venue, person: Person, code: str | None) -> Callable:
    def register() -> list:
        body = person.body() | ({"invitation_code": code} if code else {})
        answer = api.post(
            "registration", f"/api/v1/events/{venue.slug}/registrations", expect=(201,),
            json=body, headers={"Idempotency-Key": str(uuid.uuid4())}, retries=2,
        )  # fmt: skip
        return [(_delegate(person, answer), answer["status"])]

    return register


CSV_HEADERS = ("Given name", "Family name", "E-mail", "Organisation", "City", "Country",
               "Category", "Language")  # fmt: skip


def _import_job(api: Api, venue: Venue, people: list[Person]) -> Callable:
    def upload() -> list:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(CSV_HEADERS)
        for p in people:
            writer.writerow([p.given_name, p.family_name, p.email, p.organisation, p.city,
                             p.country, p.category, p.language])  # fmt: skip
        name = f"invitations-{people[0].number:07d}.csv"
        # A background job (202), as a big list is: a request importing rows one by one
        # would outlast the web server's timeout on a busy machine.
        answer, _ = api.call(
            "POST", "registration", f"/api/v1/events/{venue.slug}/imports",
            venue.organizer_token, expect=(202,), data={"invited": "true"},
            files={"file": (name, text.getvalue().encode(), "text/csv")},
            headers={"Prefer": "respond-async"},
        )  # fmt: skip
        report = _finished(api, venue, answer.json()["id"])
        by_email = {p.email: p for p in people}
        # "unchanged": a retried upload whose first try was imported after all.
        rows = [r for r in report["rows"] if r["status"] in ("created", "unchanged")]
        if len(rows) != len(people):
            raise ApiError(f"import {name}: {report['counts']}")
        return [
            (Delegate(by_email[r["email"]].number, r["email"], by_email[r["email"]].category,
                      r["registration_id"]), r["registration_status"])
            for r in rows
        ]  # fmt: skip

    return upload


def _finished(api: Api, venue: Venue, job_id: int) -> dict:
    """The report of an import job, once the registration worker has done it."""
    path = f"/api/v1/events/{venue.slug}/imports/{job_id}"
    while (job := api.get("registration", path, venue.organizer_token))["state"] != "done":
        if job["state"] in ("refused", "failed"):
            raise ApiError(f"import job {job_id} {job['state']}: {job['error']}")
        time.sleep(0.5)  # the worker reports progress; look again shortly
    return job["report"]


def approve(api: Api, venue: Venue, pending: list[int], advance, workers: int = 4) -> None:
    """The organisers approve the press and VIP guests waiting for it."""

    def one(registration_id: int) -> None:
        path = f"/api/v1/registrations/{registration_id}/approve"
        api.post("registration", path, venue.organizer_token)
        advance(1)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, pending))


def fetch_badges(api: Api, venue: Venue, delegates: Iterable[Delegate], advance) -> None:
    """The quick way for a big rehearsal (`--badges api`): every badge's token from the badge
    print list the organisers export for a print shop, in one request, rather than from each
    badge mail, which notify may still be rendering."""
    path = f"/api/v1/events/{venue.slug}/exports/badges.csv"
    answer, _ = api.call("GET", "registration", path, venue.organizer_token)
    rows = {int(row["Registration ID"]): row
            for row in csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")))}  # fmt: skip
    missing = 0
    for delegate in delegates:
        row = rows.get(delegate.registration_id)
        if row is None:
            missing += 1
            continue
        delegate.badge_id, delegate.token = int(row["Badge ID"]), row["QR code"]
    if missing:
        raise ApiError(f"{missing} delegates are missing from the badge print list")
    advance(len(rows))


def revoke(api: Api, venue: Venue, delegate: Delegate, reason: str) -> None:
    path = f"/api/v1/registrations/{delegate.registration_id}/badge/revoke"
    api.post("registration", path, venue.organizer_token, json={"reason": reason})
