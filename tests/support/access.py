"""The cast of the access proofs: the demo congress with one holder of every kind of credential
(a delegate, another delegate, a gate scanner, a desk supervisor, a scanner and an organiser
of another event, this event's organiser, the feed's machine credential), all three apps
in-process on one database, and factories for the things an endpoint acts on (a registration,
a delegation with its head, a gate, a scan, a conflict, a webhook, a dead letter…), so every
call carries valid path parameters and a valid body: a refusal is then about access alone."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from rollcall import demo
from services import notify
from services.notify import access as notify_access
from services.notify import replica as notify_replica
from services.notify.models import Notification
from services.registration.event_setup import event_by_slug
from services.registration.models import ImportJob
from shared import access
from shared.events import parse
from tests.integration.conftest import Forum, bearer, delegate

ANONYMOUS, DELEGATE, OTHER_DELEGATE = "anonymous", "delegate", "other delegate"
SCANNER, SUPERVISOR, OTHER_SCANNER = "scanner", "supervisor", "other event's scanner"
OTHER_ORGANISER, ORGANISER, FEED = "other event's organiser", "organiser", "feed"
PRINCIPALS = (
    ANONYMOUS, DELEGATE, OTHER_DELEGATE, SCANNER, SUPERVISOR, OTHER_SCANNER,
    OTHER_ORGANISER, ORGANISER, FEED,
)  # fmt: skip
SLUG, OTHER_SLUG = "gmf2023", "other-forum"
OTHER_EVENT = {
    "slug": OTHER_SLUG, "name": "Other Forum", "venue": "Hall 1", "timezone": "UTC",
    "starts_on": "2024-05-01", "ends_on": "2024-05-02",
    "categories": [{"code": "delegate", "label": "Delegate", "areas": ["venue"]}],
}  # fmt: skip


@dataclass
class Call:
    """One request: its path, body or query, and whose manage token counts as "the
    delegate" for it (the owner of the registration, or the head of the delegation, it names)."""

    path: str
    json: dict | None = None
    query: dict | None = None
    upload: bytes | None = None
    owner: str | None = None
    extra: dict = field(default_factory=dict)


class World:
    def __init__(self, forum: Forum, notify_app):
        self.forum = forum
        self.clients: dict[str, FlaskClient] = {
            "registration": forum.registration,
            "checkin": forum.checkin,
            "notify": notify_app.test_client(),
        }
        self.notify_db = notify_app.extensions["notify"].db
        self._announced = 0  # how many of the forum's published events notify has seen
        credentials = demo.seed(forum.settings)
        self.bystander = forum.register(given_name="Bystander")
        other_organiser = self._created(
            "registration", "/api/v1/events", OTHER_EVENT, forum.organizer_token
        )["organizer_token"]
        self.tokens = {
            OTHER_DELEGATE: self.bystander["manage_token"],
            SCANNER: forum.scanner_tokens["North"],
            SUPERVISOR: credentials["supervisor_token"],
            OTHER_ORGANISER: other_organiser,
            ORGANISER: forum.organizer_token,
            FEED: access.feed_token(forum.settings),
        }
        self.replicate()
        self.tokens[OTHER_SCANNER] = self._device(OTHER_SLUG, other_organiser, "scanner")

    # --- sending -----------------------------------------------------------------------------

    def token(self, principal: str, call: Call) -> str | None:
        if principal == ANONYMOUS:
            return None
        if principal == DELEGATE:
            return call.owner or self.owner()
        return self.tokens[principal]

    def send(self, service: str, method: str, call: Call, principal: str) -> TestResponse:
        token = self.token(principal, call)
        headers = {**bearer(token), **call.extra} if token else dict(call.extra)
        kwargs = {"headers": headers, "query_string": call.query}
        if call.upload is not None:
            kwargs["data"] = {"file": (io.BytesIO(call.upload), "list.csv")}
            kwargs["content_type"] = "multipart/form-data"
        elif call.json is not None:
            kwargs["json"] = call.json
        return self.clients[service].open(call.path, method=method, **kwargs)

    def replicate(self) -> None:
        """Carry registration's events to checkin (as its worker does) and notify's organiser
        grants (as notify's `apply_event` task does)."""
        self.forum.replicate()
        fresh, self._announced = self.forum.published[self._announced :], len(self.forum.published)
        with self.notify_db.sessions.begin() as session:
            for _task, envelope in fresh:
                loaded, payload = parse(envelope)
                if "organizer_token_digests" in payload:
                    info, sequence = payload["event"], loaded["sequence"]
                    notify_replica.apply_event(session, info, sequence, payload["categories"])
                    notify_access.apply_grants(
                        session, info["id"], sequence, payload["organizer_token_digests"]
                    )

    def _created(self, service: str, path: str, body: dict, token: str) -> dict:
        answer = self.clients[service].post(path, json=body, headers=bearer(token))
        assert answer.status_code in (200, 201), (path, answer.get_json())
        return answer.get_json()

    def _as_organiser(self, service: str, path: str, body: dict) -> dict:
        return self._created(service, path, body, self.tokens[ORGANISER])

    def _device(self, slug: str, organiser: str, role: str) -> str:
        """A device token of a new gate of the event `slug` (in a new hall)."""
        events = f"/api/v1/events/{slug}"
        hall = {"code": "hall", "name": "Hall", "everyone": True}
        self._created("checkin", f"{events}/areas", hall, organiser)
        gate_id = self._created("checkin", f"{events}/gates", {"name": "Door", "area": "hall"},
                                organiser)["id"]  # fmt: skip
        path = f"{events}/gates/{gate_id}/tokens"
        return self._created("checkin", path, {"label": "device", "role": role}, organiser)["token"]

    # --- what the endpoints act on -----------------------------------------------------------

    def registration(self, **fields) -> dict:
        """A fresh confirmed registration (mayors need no approval), replicated to checkin."""
        created = self.forum.register(**fields)
        self.replicate()
        return created

    def owner(self) -> str:
        return self.registration()["manage_token"]

    def pending(self) -> dict:
        return self.forum.register(category="media")  # media await an organiser's approval

    def delegation(self) -> dict:
        """A delegation with its head (who registered with its code) and one more member."""
        path = f"/api/v1/events/{SLUG}/delegations"
        body = {"name": f"Halandri {uuid.uuid4().hex[:6]}", "kind": "city", "country": "GR",
                "organisation": "Δήμος Χαλανδρίου", "city": "Χαλάνδρι", "category": "delegate",
                "quota": 5}  # fmt: skip
        created = self._as_organiser("registration", path, body)
        head = self.forum.register(category="delegate", invitation_code=created["code"])
        member = self._created(
            "registration",
            f"/api/v1/delegations/{created['id']}/members",
            member_body(),
            head["manage_token"],
        )
        return {"id": created["id"], "head": head["manage_token"], "member": member["id"]}

    def invitation_id(self) -> int:
        path = f"/api/v1/events/{SLUG}/invitations"
        return self._as_organiser(
            "registration", path, {"category": "mayor", "uses": 2, "label": "Mayors"}
        )["id"]

    def import_job_id(self) -> int:
        """A queued import job, written as the API writes one (no worker runs it here)."""
        database = self.forum.registration.application.extensions["registration"].db
        with database.sessions.begin() as session:
            event_id = event_by_slug(session, SLUG).id
            job = ImportJob(event_id=event_id, filename="list.csv", valid_only=False,
                            invited=False, category=None, actor="organiser:test",
                            content=b"", rows=0)  # fmt: skip
            session.add(job)
            session.flush()
            return job.id

    def gate_id(self) -> int:
        body = {"name": f"Door {uuid.uuid4().hex[:6]}", "area": "venue"}
        return self._as_organiser("checkin", f"/api/v1/events/{SLUG}/gates", body)["id"]

    def device_token_id(self) -> tuple[int, str]:
        """A new gate and the public id of a device token issued at it."""
        gate_id = self.gate_id()
        path = f"/api/v1/events/{SLUG}/gates/{gate_id}/tokens"
        return gate_id, self._as_organiser("checkin", path, {"label": "Phone 9"})["id"]

    def badge(self) -> tuple[int, str]:
        """A fresh badge's id and the signed token its QR code holds."""
        created = self.registration()
        return created["badge"]["id"], self.forum.badge_token(created["id"])

    def scan_id(self) -> int:
        """An admission at the North gate, to undo."""
        _badge_id, token = self.badge()
        return self.forum.scan(token, "North")["scan_id"]

    def conflict_id(self) -> int:
        """Two offline gates admitting one badge: a conflict to resolve."""
        _badge_id, token = self.badge()
        at = datetime.now(UTC) - timedelta(minutes=10)
        for gate, minutes in (("South", 2), ("North", 0)):
            scan = {"id": str(uuid.uuid4()), "token": token, "direction": "in",
                    "scanned_at": (at + timedelta(minutes=minutes)).isoformat()}  # fmt: skip
            self._created(
                "checkin", "/api/v1/scans/batch", {"scans": [scan]}, self.forum.scanner_tokens[gate]
            )
        listed = self.clients["checkin"].get(
            f"/api/v1/events/{SLUG}/conflicts",
            query_string={"resolved": "false"},
            headers=bearer(self.tokens[ORGANISER]),
        )
        return listed.get_json()["conflicts"][0]["id"]

    def ticket(self) -> str:
        path = f"/api/v1/events/{SLUG}/live/tickets"
        return self._as_organiser("checkin", path, {})["ticket"]

    def webhook_id(self) -> int:
        body = {"url": "http://127.0.0.1:9/hooks", "event_types": ["delegate.confirmed"]}
        return self._as_organiser("notify", f"/api/v1/events/{SLUG}/webhooks", body)["id"]

    def dead_letter_id(self) -> int:
        """A webhook delivery whose every attempt failed, as notify's worker leaves one."""
        hook = self.webhook_id()
        with self.notify_db.sessions.begin() as session:
            event_id = notify_access.organiser_event(session, self.tokens[ORGANISER], SLUG).id
            row = Notification(
                idempotency_key=f"webhook:{uuid.uuid4()}", event_type="delegate.confirmed",
                kind="webhook", recipient="http://127.0.0.1:9/hooks", language="en",
                state="dead", attempts=5, channel="webhook", event_id=event_id, webhook_id=hook,
                envelope={"body": {"event_id": str(uuid.uuid4()), "type": "delegate.confirmed"}},
            )  # fmt: skip
            session.add(row)
            session.flush()
            return row.id


def member_body() -> dict:
    return delegate(category="delegate", given_name="Member")


def csv_upload() -> bytes:
    email = f"import-{uuid.uuid4().hex[:8]}@example.org"
    return (
        "Given name,Family name,E-mail,Organisation,City,Country,Category,Language\n"
        f"Ana,Lima,{email},City Hall,Porto,PT,mayor,en\n"
    ).encode()


def notify_app_for(forum: Forum, build_app, redis_db: int = 11):
    """notify's API on the forum's database, with a Redis database of its own, so a replayed
    delivery's task never reaches another test's notify worker."""
    url = forum.settings.redis_url.rsplit("/", 1)[0] + f"/{redis_db}"
    return build_app(notify, forum.settings.but(redis_url=url))
