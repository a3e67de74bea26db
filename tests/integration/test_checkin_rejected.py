"""Every scan that does not pass is a `checkin.rejected` domain event, written through checkin's
outbox in the scan's own transaction, and handed to notify's webhooks so organisers can
subscribe to it. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from rollcall import demo
from services.checkin.models import Scan
from services.checkin.models import outbox as checkin_outbox
from services.notify import webhooks
from shared.badges import BadgeClaim, signer_from
from shared.events import CHECKIN_ADMITTED, CHECKIN_REJECTED, SUBSCRIBERS, parse
from tests.integration.conftest import bearer
from tests.integration.test_checkin_areas import registered, sessions
from tests.integration.test_checkin_offline import queued, sync

pytestmark = pytest.mark.integration


def announced(forum) -> list[dict]:
    """checkin's outbox, oldest first, as the relay would send it."""
    with sessions(forum)() as session:
        t = checkin_outbox.table
        rows = session.execute(select(t).order_by(t.c.sequence)).all()
        return [checkin_outbox.envelope(row) for row in rows]


def rejections(forum) -> dict[int, dict]:
    """The `checkin.rejected` payloads, by scan id."""
    return {
        e["payload"]["scan_id"]: e["payload"]
        for e in announced(forum)
        if e["type"] == CHECKIN_REJECTED
    }


def event_id(forum) -> int:
    with sessions(forum)() as session:
        return session.scalar(select(Scan.event_id).where(Scan.event_id.is_not(None)).limit(1))


def scan(forum, token: str, gate: str = "North", direction: str = "in") -> dict:
    forum.replicate()
    response = forum.checkin.post(
        "/api/v1/scans",
        json={"token": token, "direction": direction},
        headers=bearer(forum.scanner_tokens[gate]),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def last_scan(forum) -> Scan:
    with sessions(forum)() as session:
        return session.scalar(select(Scan).order_by(Scan.id.desc()).limit(1))


def test_each_kind_of_rejection_is_announced_with_the_scan(forum):
    forum.replicate()  # the areas are known now: seeding again adds the halls' gates
    forum.scanner_tokens.update(demo.seed(forum.settings)["area_scanner_tokens"])
    _, token = registered(forum)
    media = forum.register(category="media")  # needs approval
    assert scan(forum, token)["result"] == "admitted"
    gate_event = last_scan(forum).event_id
    forum.registration.post(
        f"/api/v1/registrations/{media['id']}/approve", headers=bearer(forum.organizer_token)
    )
    media_token = forum.badge_token(media["id"])
    revoked_person, revoked_token = registered(forum)
    forum.registration.post(
        f"/api/v1/registrations/{revoked_person['id']}/badge/revoke",
        json={"reason": "Reported stolen."},
        headers=bearer(forum.organizer_token),
    )
    signer = signer_from(forum.settings)
    unknown = signer.sign(BadgeClaim(gate_event, 987654, 1))
    foreign = signer.sign(BadgeClaim(gate_event + 1000, 987655, 1))

    expected = {}
    for token_, gate, direction, result in [
        ("not a badge", "North", "in", "invalid"),
        (unknown, "North", "in", "unknown"),
        (revoked_token, "South", "in", "revoked"),
        (foreign, "North", "in", "wrong_event"),
        (media_token, "VIP Lounge", "in", "not_allowed_here"),
        (token, "East", "in", "already_inside"),
        (media_token, "North", "out", "not_inside"),
    ]:
        answer = scan(forum, token_, gate, direction)
        assert answer["result"] == result, answer
        row = last_scan(forum)
        expected[row.id] = (result, gate, row)

    found = rejections(forum)
    assert set(found) == set(expected)
    for scan_id, (result, gate, row) in expected.items():
        payload = found[scan_id]
        assert payload["result"] == result
        assert payload["gate"] == gate
        assert payload["event_id"] == gate_event  # the scanning gate's event
        assert payload["badge_id"] == row.badge_id
        assert payload["area"] == ("vip-lounge" if gate == "VIP Lounge" else "venue")
        assert payload["source"] == "gate"
        assert datetime.fromisoformat(payload["at"]) == row.occurred_at.replace(tzinfo=UTC)
    assert found[min(found)]["badge_id"] is None  # the forged token names no badge
    # The admission is announced as before, and not as a rejection.
    assert [e["type"] for e in announced(forum)].count(CHECKIN_ADMITTED) == 1


def test_rejections_go_to_the_organisers_webhooks(forum):
    scan(forum, "not a badge")
    envelope = next(e for e in announced(forum) if e["type"] == CHECKIN_REJECTED)

    assert SUBSCRIBERS[CHECKIN_REJECTED] == ("notify.webhook_event",)
    assert CHECKIN_REJECTED in webhooks.HOOKABLE
    hook = webhooks.hook_event(*parse(envelope))
    assert hook.congress_id == envelope["payload"]["event_id"]
    assert hook.body["type"] == CHECKIN_REJECTED
    assert hook.body["payload"]["result"] == "invalid"
    published: list[tuple[str, dict]] = []
    engine = forum.checkin.application.extensions["checkin"].db.engine
    checkin_outbox.relay_once(engine, lambda task, env: published.append((task, env)))
    assert ("notify.webhook_event", envelope) in published


def test_a_synced_offline_rejection_is_announced_too(forum):
    _, token = registered(forum)
    device = forum.scanner_tokens["North"]
    start = datetime.now(UTC) - timedelta(minutes=10)

    answers = sync(
        forum, device, [queued(token, start), queued("garbage", start + timedelta(minutes=1))]
    )

    assert [r["result"] for r in answers["results"]] == ["admitted", "invalid"]
    (payload,) = rejections(forum).values()
    assert payload["result"] == "invalid"
    assert payload["source"] == "offline"
    assert datetime.fromisoformat(payload["at"]) == start + timedelta(minutes=1)
