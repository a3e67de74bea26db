"""Least privilege, endpoint by endpoint: every rule × method of the three services' URL maps is
classified below by who may call it, and called by every kind of credential holder (see
tests/support/access.py) with valid path parameters and a valid body. Only the allowed get
past 401/403; every refusal is in the one JSON error shape. A new endpoint that is not in the
table fails the test until someone says who may call it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.integration.conftest import delegate
from tests.support.access import (
    DELEGATE,
    FEED,
    ORGANISER,
    OTHER_ORGANISER,
    OTHER_SCANNER,
    PRINCIPALS,
    SCANNER,
    SLUG,
    SUPERVISOR,
    Call,
    World,
    csv_upload,
    member_body,
    notify_app_for,
)  # fmt: skip

pytestmark = [
    pytest.mark.integration,
    # Who may call what does not depend on the database; one kind keeps the walk quick.
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

PUBLIC = frozenset(PRINCIPALS)
OWN_REGISTRATION = frozenset({DELEGATE, ORGANISER})  # its delegate, or its event's organisers
HEAD = frozenset({DELEGATE, ORGANISER})  # the delegation's head (DELEGATE here), or organisers
ORGANISERS = frozenset({ORGANISER})
ANY_ORGANISER = frozenset({ORGANISER, OTHER_ORGANISER})  # creating another event
ANY_DEVICE = frozenset({SCANNER, SUPERVISOR, OTHER_SCANNER})  # a badge of another event: red
EVENT_DEVICE = frozenset({SCANNER, SUPERVISOR})
DESK = frozenset({SUPERVISOR, ORGANISER})
FEED_ONLY = frozenset({FEED})
TICKET = frozenset()  # the live stream: a one-minute ticket, never a bearer token in a URL

E = f"/api/v1/events/{SLUG}"
R = "/api/v1/registrations"


@dataclass(frozen=True)
class Row:
    allowed: frozenset[str]
    build: Callable[[World], Call]
    accepts: Callable[[int], bool] = lambda status: status < 400 or status == 409


def at(path: str, **kw) -> Callable[[World], Call]:
    return lambda _w: Call(path, **kw)


def own(suffix: str = "", **kw) -> Callable[[World], Call]:
    """A fresh registration's path, its delegate's token as "the delegate"."""

    def build(w: World) -> Call:
        created = w.registration()
        return Call(f"{R}/{created['id']}{suffix}", owner=created["manage_token"], **kw)

    return build


def pending(suffix: str, **kw) -> Callable[[World], Call]:
    def build(w: World) -> Call:
        created = w.pending()
        return Call(f"{R}/{created['id']}{suffix}", owner=created["manage_token"], **kw)

    return build


def delegation(suffix: str = "", body: Callable[[], dict] | None = None, **kw):
    """A fresh delegation's path (`{member}` filled in), its head's token as "the delegate"."""

    def build(w: World) -> Call:
        d = w.delegation()
        path = f"/api/v1/delegations/{d['id']}{suffix.format(member=d['member'])}"
        return Call(path, owner=d["head"], json=body() if body else kw.get("json"))

    return build


def substitute_body() -> dict:
    body = member_body()
    del body["category"]  # a substitute takes the member's category
    return body


def new_event(_w: World) -> Call:
    slug = f"forum-{uuid.uuid4().hex[:8]}"
    body = {"slug": slug, "name": "Forum", "venue": "Hall", "timezone": "UTC",
            "starts_on": "2024-03-01", "ends_on": "2024-03-02",
            "categories": [{"code": "delegate", "label": "Delegate"}]}  # fmt: skip
    return Call("/api/v1/events", json=body)


def new_delegation(_w: World) -> Call:
    body = {"name": f"Porto {uuid.uuid4().hex[:6]}", "kind": "city", "organisation": "Câmara",
            "city": "Porto", "country": "PT", "category": "delegate", "quota": 2}  # fmt: skip
    return Call(f"{E}/delegations", json=body)


def new_area(w: World) -> Call:
    code = f"room-{uuid.uuid4().hex[:6]}"
    w._as_organiser("checkin", f"{E}/areas", {"code": code, "name": "Room"})
    return Call(f"{E}/areas/{code}", json={"name": "Committee room"})


def scan(w: World) -> Call:
    return Call("/api/v1/scans", json={"token": w.badge()[1], "direction": "in"})


def batch(w: World) -> Call:
    queued = {"id": str(uuid.uuid4()), "token": w.badge()[1], "direction": "in",
              "scanned_at": "2023-12-07T01:00:00+00:00"}  # fmt: skip
    return Call("/api/v1/scans/batch", json={"scans": [queued]})


# The rules as Flask spells them; each call below fills them with real ids.
EV, RG, DG = (
    "/api/v1/events/<slug>",
    "/api/v1/registrations/<id:registration_id>",
    ("/api/v1/delegations/<id:delegation_id>"),
)
MEMBER = f"{DG}/members/<id:member_id>"

# fmt: off
REGISTRATION = {
    ("POST", "/api/v1/events"): Row(ANY_ORGANISER, new_event),
    ("GET", EV): Row(PUBLIC, at(E)),
    ("PATCH", EV): Row(ORGANISERS, at(E, json={"venue": "Yuexiu ICC"})),
    ("GET", f"{EV}/audit"): Row(ORGANISERS, at(f"{E}/audit")),
    ("GET", f"{EV}/badges.pdf"): Row(ORGANISERS, at(f"{E}/badges.pdf")),
    ("POST", f"{EV}/delegations"): Row(ORGANISERS, new_delegation),
    ("GET", f"{EV}/delegations"): Row(ORGANISERS, at(f"{E}/delegations")),
    ("GET", f"{EV}/exports/badges.<any(csv, xlsx):fmt>"):
        Row(ORGANISERS, at(f"{E}/exports/badges.csv")),
    ("GET", f"{EV}/exports/registrations.<any(csv, xlsx):fmt>"):
        Row(ORGANISERS, at(f"{E}/exports/registrations.xlsx")),
    ("POST", f"{EV}/imports"): Row(ORGANISERS, lambda _w: Call(f"{E}/imports", upload=csv_upload())),  # noqa: E501
    ("GET", f"{EV}/imports"): Row(ORGANISERS, at(f"{E}/imports")),
    ("GET", f"{EV}/imports/<id:job_id>"):
        Row(ORGANISERS, lambda w: Call(f"{E}/imports/{w.import_job_id()}")),
    ("POST", f"{EV}/invitations"):
        Row(ORGANISERS, at(f"{E}/invitations", json={"category": "mayor", "label": "Mayors"})),
    ("GET", f"{EV}/invitations"): Row(ORGANISERS, at(f"{E}/invitations")),
    ("POST", f"{EV}/invitations/<id:invitation_id>/revoke"):
        Row(ORGANISERS, lambda w: Call(f"{E}/invitations/{w.invitation_id()}/revoke")),
    ("POST", f"{EV}/registrations"):
        Row(PUBLIC, lambda _w: Call(f"{E}/registrations", json=delegate())),
    ("GET", f"{EV}/registrations"): Row(ORGANISERS, at(f"{E}/registrations", query={"q": "C"})),
    ("GET", "/api/v1/feed"): Row(FEED_ONLY, at("/api/v1/feed")),
    ("GET", "/api/v1/snapshot/events"): Row(FEED_ONLY, at("/api/v1/snapshot/events")),
    ("GET", "/api/v1/snapshot/events/<slug>/delegates"):
        Row(FEED_ONLY, at(f"/api/v1/snapshot/events/{SLUG}/delegates")),
    ("GET", RG): Row(OWN_REGISTRATION, own()),
    ("PATCH", RG): Row(OWN_REGISTRATION, own(json={"city": "Iztapalapa, CDMX"})),
    ("POST", f"{RG}/approve"): Row(ORGANISERS, pending("/approve")),
    ("POST", f"{RG}/reject"): Row(ORGANISERS, pending("/reject", json={"reason": "No pass"})),
    ("GET", f"{RG}/badge.pdf"): Row(OWN_REGISTRATION, own("/badge.pdf")),
    ("GET", f"{RG}/badge.png"): Row(OWN_REGISTRATION, own("/badge.png")),
    ("POST", f"{RG}/badge/reissue"): Row(ORGANISERS, own("/badge/reissue")),
    ("POST", f"{RG}/badge/revoke"): Row(ORGANISERS, own("/badge/revoke", json={"reason": "Lost"})),
    ("POST", f"{RG}/cancel"): Row(OWN_REGISTRATION, own("/cancel", json={})),
    ("GET", f"{RG}/data"): Row(OWN_REGISTRATION, own("/data")),
    ("POST", f"{RG}/erase"): Row(OWN_REGISTRATION, own("/erase")),
    ("GET", DG): Row(HEAD, delegation()),
    ("PATCH", DG): Row(HEAD, delegation(json={"notes": "Arrives by train."})),
    ("POST", f"{DG}/members"): Row(HEAD, delegation("/members", body=member_body)),
    ("PATCH", MEMBER): Row(HEAD, delegation("/members/{member}", json={"city": "Attica"})),
    ("DELETE", MEMBER): Row(HEAD, delegation("/members/{member}")),
    ("POST", f"{MEMBER}/substitute"):
        Row(HEAD, delegation("/members/{member}/substitute", body=substitute_body)),
    ("GET", "/docs"): Row(PUBLIC, at("/docs")),
    ("GET", "/healthz"): Row(PUBLIC, at("/healthz")),
    ("GET", "/openapi.json"): Row(PUBLIC, at("/openapi.json")),
    ("GET", "/static/<path:filename>"): Row(PUBLIC, at("/static/pages.css")),
    ("GET", "/vendor/<path:filename>"): Row(PUBLIC, at("/vendor/redoc/redoc.standalone.js")),
    ("GET", "/events/<slug>/register"): Row(PUBLIC, at(f"/events/{SLUG}/register")),
    ("GET", "/manage/<id:registration_id>"):
        Row(PUBLIC, lambda w: Call(f"/manage/{w.bystander['id']}")),
}

CHECKIN = {
    ("GET", "/api/v1/device"): Row(ANY_DEVICE, at("/api/v1/device")),
    ("POST", "/api/v1/scans"): Row(ANY_DEVICE, scan),
    ("POST", "/api/v1/scans/batch"): Row(ANY_DEVICE, batch),
    ("GET", f"{EV}/badges/offline"): Row(EVENT_DEVICE, at(f"{E}/badges/offline")),
    ("GET", f"{EV}/badges"): Row(DESK, at(f"{E}/badges", query={"q": "Clara"})),
    ("POST", f"{EV}/checkins"): Row(DESK, lambda w: Call(
        f"{E}/checkins", json={"badge_id": w.badge()[0], "reason": "No QR", "area": "venue"})),
    ("GET", f"{EV}/conflicts"): Row(DESK, at(f"{E}/conflicts")),
    ("POST", f"{EV}/conflicts/<id:conflict_id>/resolve"): Row(DESK, lambda w: Call(
        f"{E}/conflicts/{w.conflict_id()}/resolve", json={"note": "Spoke to her."})),
    ("POST", f"{EV}/scans/<id:scan_id>/undo"): Row(ORGANISERS, lambda w: Call(
        f"{E}/scans/{w.scan_id()}/undo", json={"reason": "Wrong gate"})),
    ("POST", f"{EV}/close-day"): Row(ORGANISERS, at(f"{E}/close-day", json={})),
    ("GET", f"{EV}/audit"): Row(ORGANISERS, at(f"{E}/audit")),
    ("GET", f"{EV}/headcount"): Row(ORGANISERS, at(f"{E}/headcount")),
    ("GET", f"{EV}/areas"): Row(ORGANISERS, at(f"{E}/areas")),
    ("POST", f"{EV}/areas"): Row(ORGANISERS, lambda _w: Call(
        f"{E}/areas", json={"code": f"room-{uuid.uuid4().hex[:6]}", "name": "Room"})),
    ("PATCH", f"{EV}/areas/<code>"): Row(ORGANISERS, new_area),
    ("GET", f"{EV}/gates"): Row(ORGANISERS, at(f"{E}/gates")),
    ("POST", f"{EV}/gates"): Row(ORGANISERS, at(f"{E}/gates", json={"name": "W", "area": "venue"})),
    ("PATCH", f"{EV}/gates/<id:gate_id>"):
        Row(ORGANISERS, lambda w: Call(f"{E}/gates/{w.gate_id()}", json={"name": "West 2"})),
    ("POST", f"{EV}/gates/<id:gate_id>/tokens"): Row(ORGANISERS, lambda w: Call(
        f"{E}/gates/{w.gate_id()}/tokens", json={"label": "Phone 7"})),
    ("GET", f"{EV}/gates/<id:gate_id>/tokens"): Row(ORGANISERS, lambda w: Call(
        f"{E}/gates/{w.gate_id()}/tokens")),
    ("DELETE", f"{EV}/gates/<id:gate_id>/tokens/<token_id>"): Row(ORGANISERS, lambda w: Call(
        "{}/gates/{}/tokens/{}".format(E, *w.device_token_id()))),
    ("POST", f"{EV}/live/tickets"): Row(ORGANISERS, at(f"{E}/live/tickets")),
    ("GET", f"{EV}/live"): Row(TICKET, at(f"{E}/live", query={"ticket": "not-a-ticket"})),
    ("GET", "/dashboard"): Row(PUBLIC, at("/dashboard")),
    ("GET", "/dashboard/<slug>"): Row(PUBLIC, at(f"/dashboard/{SLUG}")),
    ("GET", "/scan"): Row(PUBLIC, at("/scan")),
    ("GET", "/scan/sw.js"): Row(PUBLIC, at("/scan/sw.js")),
    ("GET", "/scan/assets/<path:filename>"): Row(PUBLIC, at("/scan/assets/scan/scan.css")),
    ("GET", "/static/<path:filename>"): Row(PUBLIC, at("/static/dashboard/dashboard.css")),
    ("GET", "/vendor/<path:filename>"): Row(PUBLIC, at("/vendor/redoc/redoc.standalone.js")),
    ("GET", "/docs"): Row(PUBLIC, at("/docs")),
    ("GET", "/healthz"): Row(PUBLIC, at("/healthz")),
    ("GET", "/openapi.json"): Row(PUBLIC, at("/openapi.json")),
}

HOOK = {"url": "http://127.0.0.1:9/hooks", "event_types": ["delegate.confirmed"]}
NOTIFY = {
    ("POST", f"{EV}/webhooks"): Row(ORGANISERS, at(f"{E}/webhooks", json=HOOK)),
    ("GET", f"{EV}/webhooks"): Row(ORGANISERS, at(f"{E}/webhooks")),
    ("DELETE", f"{EV}/webhooks/<id:webhook_id>"):
        Row(ORGANISERS, lambda w: Call(f"{E}/webhooks/{w.webhook_id()}")),
    ("GET", f"{EV}/webhooks/dead-letters"): Row(ORGANISERS, at(f"{E}/webhooks/dead-letters")),
    ("POST", f"{EV}/webhooks/dead-letters/<id:delivery_id>/replay"):
        Row(ORGANISERS, lambda w: Call(f"{E}/webhooks/dead-letters/{w.dead_letter_id()}/replay")),
    ("GET", f"{EV}/notifications"): Row(ORGANISERS, at(f"{E}/notifications")),
    ("GET", f"{EV}/notifications/<id:notification_id>"):
        Row(ORGANISERS, lambda w: Call(f"{E}/notifications/{w.dead_letter_id()}")),
    ("GET", "/docs"): Row(PUBLIC, at("/docs")),
    ("GET", "/healthz"): Row(PUBLIC, at("/healthz")),
    ("GET", "/openapi.json"): Row(PUBLIC, at("/openapi.json")),
    # notify serves no files of its own: Flask's static route answers 404 to anyone.
    ("GET", "/static/<path:filename>"): Row(PUBLIC, at("/static/x.css"), lambda s: s == 404),
    ("GET", "/vendor/<path:filename>"): Row(PUBLIC, at("/vendor/redoc/redoc.standalone.js")),
}
# fmt: on

TABLES = {"registration": REGISTRATION, "checkin": CHECKIN, "notify": NOTIFY}


@pytest.fixture
def world(forum, build_app) -> World:
    return World(forum, notify_app_for(forum, build_app))


def routes(app) -> set[tuple[str, str]]:
    """Every rule × method the app answers (HEAD and OPTIONS are Flask's own)."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def is_error_shape(answer) -> bool:
    body = answer.get_json(silent=True)
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(body["error"].get("code"), str)
        and isinstance(body["error"].get("message"), str)
    )


def verdict(answer, allowed: bool, row: Row) -> str | None:
    """What is wrong with this answer, if anything."""
    status = answer.status_code
    if allowed and status in (401, 403):
        return f"refused an allowed caller: {status} {answer.get_json(silent=True)}"
    if allowed and not row.accepts(status):
        return f"answered {status} {answer.get_data(as_text=True)[:200]!r}: fix the test's call"
    if not allowed and status not in (401, 403):
        return f"let in a caller it should refuse: {status}"
    if not allowed and not is_error_shape(answer):
        return f"refused outside the JSON error shape: {answer.get_data(as_text=True)[:200]!r}"
    return None


@pytest.mark.parametrize("service", ["registration", "checkin", "notify"])
def test_every_endpoint_lets_in_exactly_who_the_table_allows(world, service):
    app = world.clients[service].application
    table = TABLES[service]
    unclassified = routes(app) - set(table)
    assert not unclassified, f"classify these {service} endpoints in the table: {unclassified}"
    assert not set(table) - routes(app), f"{service} no longer has {set(table) - routes(app)}"

    problems, calls = [], 0
    for (method, rule), row in table.items():
        shared = row.build(world)
        for principal in PRINCIPALS:
            allowed = principal in row.allowed
            # A change by an allowed caller gets a target of its own: nothing it does can
            # turn a later caller's answer into a refusal.
            call = row.build(world) if allowed and method != "GET" else shared
            answer = world.send(service, method, call, principal)
            calls += 1
            problem = verdict(answer, allowed, row)
            answer.close()  # a file download holds its file open until then
            if problem:
                problems.append(f"{method} {rule} as {principal}: {problem}")
    print(f"{service}: {len(table)} endpoints, {calls} calls")
    assert not problems, "\n".join(problems)
