"""The forum, wired in-process: both Flask apps on a real database, the demo event seeded, and
`replicate()` carrying registration's outbox into checkin's replica the way the relay and the
checkin worker do (tests of the real relay and worker live in test_relay_and_worker.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from flask.testing import FlaskClient

from rollcall import demo
from services import checkin, registration
from services.checkin import replica
from services.registration.models import outbox as registration_outbox
from shared.config import Settings
from shared.events import as_batch, parse, queue_of


@dataclass
class Forum:
    settings: Settings
    registration: FlaskClient
    checkin: FlaskClient
    organizer_token: str
    scanner_tokens: dict[str, str]
    published: list[tuple[str, dict]] = field(default_factory=list)

    def replicate(self) -> int:
        """Publish registration's pending events and apply checkin's share to the replica."""
        batch: list[tuple[str, dict]] = []
        engine = self.registration.application.extensions["registration"].db.engine
        registration_outbox.relay_once(
            engine, lambda task, msg: batch.extend((task, env) for env in as_batch(msg))
        )
        sessions = self.checkin.application.extensions["checkin"].db.sessions
        for task, envelope in batch:
            if queue_of(task) == "checkin":
                with sessions.begin() as session:
                    replica.apply(session, *parse(envelope))
        self.published += batch
        return len(batch)

    def register(self, **fields) -> dict:
        response = self.registration.post(
            "/api/v1/events/gmf2023/registrations", json=delegate(**fields)
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def badge_token(self, registration_id: int) -> str:
        """The signed token in the newest event that carries a badge for a registration."""
        self.replicate()
        for _task, envelope in reversed(self.published):
            payload = envelope["payload"]
            delegate = payload.get("delegate") or {}
            if delegate.get("id") == registration_id and payload.get("badge"):
                return payload["badge"]["token"]
        raise AssertionError(f"no badge published for registration {registration_id}")

    def scan(self, token: str, gate: str = "North", direction: str = "in") -> dict:
        """Scan at a gate, once checkin has every event published so far (as it has in a
        running system a moment later)."""
        self.replicate()
        response = self.checkin.post(
            "/api/v1/scans",
            json={"token": token, "direction": direction},
            headers=bearer(self.scanner_tokens[gate]),
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def headcount(self) -> dict:
        response = self.checkin.get(
            "/api/v1/events/gmf2023/headcount", headers=bearer(self.organizer_token)
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def delegate(**overrides) -> dict:
    """A valid registration body with a unique e-mail address, its delegate agreeing to the
    privacy notice."""
    return {
        "given_name": "Clara",
        "family_name": "Brugada Molina",
        "email": f"delegate-{uuid.uuid4().hex[:10]}@example.org",
        "organisation": "Alcaldía de Iztapalapa",
        "city": "Iztapalapa",
        "country": "MX",
        "category": "mayor",
        "language": "en",
        "consent": True,
        **overrides,
    }


@pytest.fixture
def forum(settings, build_app) -> Forum:
    credentials = demo.seed(settings)
    return Forum(
        settings=settings,
        registration=build_app(registration, settings).test_client(),
        checkin=build_app(checkin, settings).test_client(),
        organizer_token=credentials["organizer_token"],
        scanner_tokens=credentials["scanner_tokens"],
    )
