"""The three services in-process for the hostile-input tests: the demo forum (registration
and checkin, see conftest.Forum) plus notify's API with the forum's organiser granted, and
every operation of their OpenAPI documents as a ready call: the right token, path
parameters naming things that exist, and a body each JSON operation accepts."""

from __future__ import annotations

import base64
import json
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from flask.testing import FlaskClient

from services import notify
from services.notify import access
from services.notify import replica as notify_replica
from shared.badges import BadgeClaim
from shared.events import NOTIFY_EVENT, parse
from tests.integration.conftest import Forum, bearer, delegate

SCANNER_PATHS = ("/api/v1/scans", "/api/v1/scans/batch", "/api/v1/device")
# Never fuzzed: a stream stays open (its ticket is tested in test_live_headcount.py).
SKIPPED_PATHS = ("/api/v1/events/{slug}/live",)


def _valid_bodies() -> dict[tuple[str, str], dict]:
    """A body each JSON operation accepts, by (method, path template). A new operation
    without one here fails the tests, so that it is covered."""
    person = {k: v for k, v in delegate().items() if k not in ("consent", "category")}
    return {
        ("PATCH", "/api/v1/events/{slug}"): {"venue": "Yuexiu Hall"},
        ("POST", "/api/v1/events/{slug}/registrations"): delegate(),
        ("PATCH", "/api/v1/registrations/{registration_id}"): {"city": "Guangzhou"},
        ("POST", "/api/v1/registrations/{registration_id}/cancel"): {"reason": "ill"},
        ("POST", "/api/v1/events"): {
            "slug": f"forum-{uuid.uuid4().hex[:8]}",
            "name": "Forum",
            "venue": "Hall",
            "timezone": "Asia/Shanghai",
            "starts_on": "2030-01-01",
            "ends_on": "2030-01-02",
            "categories": [{"code": "delegate", "label": "Delegate", "capacity": 10}],
        },
        ("POST", "/api/v1/registrations/{registration_id}/reject"): {"reason": "full"},
        ("POST", "/api/v1/registrations/{registration_id}/badge/revoke"): {"reason": "lost"},
        ("POST", "/api/v1/events/{slug}/invitations"): {
            "category": "mayor",
            "label": "Mayors",
            "uses": 2,
        },
        ("POST", "/api/v1/events/{slug}/delegations"): {
            "name": "Lyon",
            "kind": "city",
            "organisation": "Ville de Lyon",
            "city": "Lyon",
            "country": "FR",
            "category": "delegate",
            "quota": 3,
            "notes": "",
        },
        ("PATCH", "/api/v1/delegations/{delegation_id}"): {"notes": "arrives by train"},
        ("POST", "/api/v1/delegations/{delegation_id}/members"): {**person, "consent": True},
        ("PATCH", "/api/v1/delegations/{delegation_id}/members/{member_id}"): {"city": "Lyon"},
        ("POST", "/api/v1/delegations/{delegation_id}/members/{member_id}/substitute"): {
            **person,
            "consent": True,
        },
        ("POST", "/api/v1/scans"): {"token": "A" * 122, "direction": "in"},
        ("POST", "/api/v1/scans/batch"): {"scans": [queued("A" * 122)]},
        ("POST", "/api/v1/events/{slug}/areas"): {"code": "annex", "name": "Annex"},
        ("PATCH", "/api/v1/events/{slug}/areas/{code}"): {"name": "Main hall"},
        ("POST", "/api/v1/events/{slug}/gates"): {"name": "West", "area": "venue"},
        ("PATCH", "/api/v1/events/{slug}/gates/{gate_id}"): {"name": "North door"},
        ("POST", "/api/v1/events/{slug}/gates/{gate_id}/tokens"): {"label": "phone 7"},
        ("POST", "/api/v1/events/{slug}/checkins"): {"badge_id": 1, "reason": "no badge"},
        ("POST", "/api/v1/events/{slug}/scans/{scan_id}/undo"): {"reason": "wrong person"},
        ("POST", "/api/v1/events/{slug}/conflicts/{conflict_id}/resolve"): {"note": "seen"},
        ("POST", "/api/v1/events/{slug}/close-day"): {"before": "2030-01-01T00:00:00+08:00"},
        ("POST", "/api/v1/events/{slug}/webhooks"): {
            "url": "https://hooks.example.org/rollcall",
            "event_types": ["checkin.admitted"],
            "description": "door count",
        },
    }


def shape_problem(content_type: str, data: bytes) -> str | None:
    """What is wrong with an error answer (its Content-Type and body), or None: every error
    is JSON `{"error": {"code", "message", "fields"?}}`, code and message text, fields an
    object."""
    if not (content_type or "").startswith("application/json"):
        return f"not JSON: {content_type} {data[:80]!r}"
    try:
        body = json.loads(data)
    except ValueError:
        return f"unreadable JSON: {data[:80]!r}"
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not the error shape: {body!r:.200}"
    detail = body["error"]
    if not {"code", "message"} <= set(detail) <= {"code", "message", "fields"}:
        return f"error keys {sorted(detail)}"
    if not (isinstance(detail["code"], str) and isinstance(detail["message"], str)):
        return f"code or message not text: {detail!r:.200}"
    if "fields" in detail and not isinstance(detail["fields"], dict):
        return f"fields not an object: {detail!r:.200}"
    return None


def queued(token: str) -> dict:
    """One scan of an offline queue, scanned now."""
    return {
        "id": str(uuid.uuid4()),
        "token": token,
        "direction": "in",
        "scanned_at": datetime.now(UTC).isoformat(),
    }


@dataclass(frozen=True)
class Call:
    client: FlaskClient
    method: str
    template: str
    path: str
    headers: dict
    query: tuple[str, ...] = ()

    def send(self, **kwargs):
        return self.client.open(self.path, method=self.method, headers=self.headers, **kwargs)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


@dataclass
class Stack:
    forum: Forum
    notify: FlaskClient
    ids: dict[str, object]

    @classmethod
    def build(cls, forum: Forum, build_app) -> Stack:
        """The forum with one of each thing an operation's path can name."""
        notify_app = build_app(notify, forum.settings)
        organiser = bearer(forum.organizer_token)
        member = forum.register(category="media")
        delegation = forum.registration.post(
            "/api/v1/events/gmf2023/delegations",
            json=_valid_bodies()[("POST", "/api/v1/events/{slug}/delegations")],
            headers=organiser,
        ).get_json()
        head = forum.registration.post(
            f"/api/v1/delegations/{delegation['id']}/members",
            json={**delegate(category="delegate"), "category": "delegate"},
            headers=organiser,
        ).get_json()
        invitation = forum.registration.post(
            "/api/v1/events/gmf2023/invitations",
            json={"category": "mayor", "label": "Mayors 2030"},
            headers=organiser,
        )
        assert invitation.status_code == 201, invitation.get_json()
        scan = forum.scan(forum.badge_token(forum.register()["id"]))
        stack = cls(
            forum,
            notify_app.test_client(),
            {
                "slug": "gmf2023",
                "registration_id": member["id"],
                "delegation_id": delegation["id"],
                "member_id": head["id"],
                "invitation_id": invitation.get_json()["id"],
                "code": "plenary",
                "gate_id": 1,
                "scan_id": scan.get("scan_id") or 1,
                "conflict_id": 1,
                "job_id": 1,
                "webhook_id": 1,
                "delivery_id": 1,
                "notification_id": 1,
                "fmt": "csv",
            },
        )
        stack.grant_notify(notify_app)
        return stack

    def grant_notify(self, notify_app) -> None:
        """Apply the forum's event announcements to notify as its `notify.apply_event` task
        does, so the organiser's token opens notify's API too."""
        self.forum.replicate()
        sessions = notify_app.extensions["notify"].db.sessions
        for task, envelope in self.forum.published:
            if task != NOTIFY_EVENT:
                continue
            loaded, payload = parse(envelope)
            with sessions.begin() as session:
                info = payload["event"]
                notify_replica.apply_event(
                    session, info, loaded["sequence"], payload.get("categories") or []
                )
                access.apply_grants(
                    session, info["id"], loaded["sequence"], payload["organizer_token_digests"]
                )

    def operations(self) -> list[tuple[Call, dict]]:
        """Every operation of the three OpenAPI documents, with its request body's content."""
        found = []
        for client in (self.forum.registration, self.forum.checkin, self.notify):
            document = client.get("/openapi.json").get_json()
            for template, operations in document["paths"].items():
                if template in SKIPPED_PATHS:
                    continue
                for method, operation in operations.items():
                    if method == "parameters":
                        continue
                    content = operation.get("requestBody", {}).get("content", {})
                    token = (
                        self.forum.scanner_tokens["North"]
                        if template in SCANNER_PATHS
                        else self.forum.organizer_token
                    )
                    query = tuple(
                        p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
                    )
                    path = self._path(template)
                    call = Call(client, method.upper(), template, path, bearer(token), query)
                    found.append((call, content))
        return found

    def json_operations(self) -> list[Call]:
        return [call for call, content in self.operations() if "application/json" in content]

    def get_operations(self) -> list[tuple[Call, list[str]]]:
        """Every GET operation, with the names of its query parameters."""
        return [(call, call.query) for call, _ in self.operations() if call.method == "GET"]

    def valid_body(self, call: Call) -> dict:
        bodies = _valid_bodies()
        key = (call.method, call.template)
        assert key in bodies, f"no valid body known for {call}: add one to _valid_bodies()"
        return bodies[key]

    def _path(self, template: str) -> str:
        # A parameter of a new operation that names nothing here yet: 1, which may not exist
        # (a 404 in the error shape is a fine answer too).
        return re.sub(r"\{(\w+)\}", lambda m: str(self.ids.get(m.group(1), 1)), template)

    @staticmethod
    def claim_of(token: str) -> BadgeClaim:
        """The claim a token carries (read, not verified: the gate verifies)."""
        raw = base64.b32decode(token + "=" * (-len(token) % 8))
        _format, _kid, event_id, badge_id, version = struct.unpack(">BBIIH", raw[:12])
        return BadgeClaim(event_id, badge_id, version)

    queued = staticmethod(queued)
