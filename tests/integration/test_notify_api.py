"""notify's API for organisers: only an event's own organiser token gets in (401 without a
valid token, 403 for a scanner's or a delegate's, or another event's organiser's), bad input
is a clear 422, and the notification log lists the badge mails the real worker sent, with
their state, filters and pagination."""

from __future__ import annotations

import pytest

from services.notify.messages import BADGE_MAIL
from shared.events import CHECKIN_ADMITTED
from tests.integration import test_notify_webhooks as hooks
from tests.integration.test_notify_webhooks import Organiser
from tests.support.factories import registered_envelope
from tests.support.processes import wait_until

pytestmark = pytest.mark.integration

# The webhook tests' fixtures: a real notify worker and the API, and an announced congress.
notify_database, stack, organiser = hooks.notify_database, hooks.stack, hooks.organiser

PATHS = (
    ("get", "/webhooks"),
    ("post", "/webhooks"),
    ("delete", "/webhooks/1"),
    ("get", "/webhooks/dead-letters"),
    ("post", "/webhooks/dead-letters/1/replay"),
    ("get", "/notifications"),
    ("get", "/notifications/1"),
)
BAD_BODY = {"url": "ftp://nowhere", "event_types": ["no.such"]}


def call(stack, method: str, path: str, slug: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"/api/v1/events/{slug}{path}"
    body = {"json": BAD_BODY} if method == "post" else {}
    return getattr(stack.api, method)(url, headers=headers, **body)


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_without_a_valid_token_every_endpoint_answers_401_before_reading_the_body(
    stack, organiser, method, path
):
    for token in (None, "rc_org_not-a-real-token"):
        answer = call(stack, method, path, organiser.slug, token)
        assert answer.status_code == 401, answer.get_json()
        assert answer.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_scanner_and_manage_tokens_are_told_they_need_an_organiser_token(
    stack, organiser, method, path
):
    for token in ("rc_scn_gate-device-token", "rc_mng_delegate-manage-token"):
        answer = call(stack, method, path, organiser.slug, token)
        assert answer.status_code == 403, answer.get_json()
        assert "organiser" in answer.get_json()["error"]["message"]


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_another_events_organiser_is_forbidden(stack, organiser, method, path):
    other = Organiser(stack)

    answer = call(stack, method, path, organiser.slug, other.token)

    assert answer.status_code == 403, answer.get_json()
    assert answer.get_json()["error"]["message"] == "This organiser token belongs to another event."


def test_an_unknown_event_is_404(stack, organiser):
    answer = stack.api.get("/api/v1/events/no-such-event/webhooks", headers=organiser.headers)

    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "unknown_event"


def test_bad_webhooks_are_422_naming_the_field(stack, organiser):
    answer = organiser.post("/webhooks", BAD_BODY)
    assert answer.status_code == 422
    assert set(answer.get_json()["error"]["fields"]) == {"event_types"}

    for url in ("http://hooks.example.org/x", "https://169.254.169.254/"):
        answer = organiser.post("/webhooks", {"url": url, "event_types": [CHECKIN_ADMITTED]})
        assert answer.status_code == 422, answer.get_json()
        assert list(answer.get_json()["error"]["fields"]) == ["url"]

    answer = organiser.post("/webhooks", {"url": "https://hooks.example.org/x", "event_types": []})
    assert answer.status_code == 422


def test_replaying_what_is_not_a_dead_letter_of_this_event_is_404(stack, organiser):
    answer = organiser.post("/webhooks/dead-letters/2147483647/replay")

    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"


def test_the_log_lists_sent_badge_mails_with_state_filters_and_pagination(stack, organiser):
    mailed = [
        registered_envelope(event=organiser.info, language=language)
        for language in ("en", "zh", "en")
    ]
    for envelope in mailed:
        stack.publish("notify.delegate_message", envelope)
    ids = {e["payload"]["delegate"]["id"] for e in mailed}

    def all_sent():
        rows = organiser.get("/notifications").get_json()
        return len(rows) == 3 and all(r["state"] == "sent" for r in rows) and rows

    rows = wait_until(all_sent, 30, "three badge mails sent")

    assert {r["delegate"] for r in rows} == ids
    assert {(r["channel"], r["kind"], r["attempts"]) for r in rows} == {("email", BADGE_MAIL, 1)}
    assert all(r["sent_at"] and r["created_at"].endswith("+00:00") for r in rows)
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    first = mailed[0]["payload"]["delegate"]
    (one,) = organiser.get("/notifications", query_string={"delegate": first["id"]}).get_json()
    assert one["recipient"] == first["email"]
    assert organiser.get("/notifications", query_string={"state": "failed"}).get_json() == []
    assert organiser.get("/notifications", query_string={"channel": "sms"}).get_json() == []
    assert len(organiser.get("/notifications", query_string={"kind": BADGE_MAIL}).get_json()) == 3
    bad = organiser.get("/notifications", query_string={"state": "lost"})
    assert bad.status_code == 422 and "state" in bad.get_json()["error"]["fields"]

    page = organiser.get("/notifications", query_string={"page": 2, "page_size": 2})
    assert len(page.get_json()) == 1
    assert '"total": 3' in page.headers["X-Pagination"]

    other = Organiser(stack)
    assert other.get("/notifications").get_json() == []
    assert other.get(f"/notifications/{one['id']}").status_code == 404
