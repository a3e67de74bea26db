"""Device tokens at a gate: listed without the secret, revoked by an organiser (a lost or
stolen phone), refused at once afterwards while the gate's other devices go on."""

from __future__ import annotations

import pytest

from tests.integration.conftest import bearer

pytestmark = pytest.mark.integration

SLUG = "gmf2023"


def tokens_path(forum, gate_id: int) -> str:
    return f"/api/v1/events/{SLUG}/gates/{gate_id}/tokens"


@pytest.fixture
def gate(forum) -> int:
    forum.replicate()  # checkin learns the event and its organisers from registration
    created = forum.checkin.post(
        f"/api/v1/events/{SLUG}/gates",
        json={"name": "Hall C door", "area": "venue"},
        headers=bearer(forum.organizer_token),
    )
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def issue(forum, gate_id: int, label: str) -> dict:
    answer = forum.checkin.post(
        tokens_path(forum, gate_id), json={"label": label}, headers=bearer(forum.organizer_token)
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def device_answer(forum, token: str) -> int:
    return forum.checkin.get("/api/v1/device", headers=bearer(token)).status_code


def test_the_list_names_each_device_but_never_shows_its_token(forum, gate):
    phone, tablet = issue(forum, gate, "Phone 7"), issue(forum, gate, "Tablet 2")
    listed = forum.checkin.get(tokens_path(forum, gate), headers=bearer(forum.organizer_token))
    assert listed.status_code == 200
    rows = listed.get_json()
    assert [(r["id"], r["label"], r["role"]) for r in rows] == [
        (phone["id"], "Phone 7", "scanner"),
        (tablet["id"], "Tablet 2", "scanner"),
    ]
    assert phone["token"] not in listed.get_data(as_text=True)
    assert all(set(r) == {"id", "label", "role", "created_at"} for r in rows)


def test_a_revoked_token_is_refused_at_once_and_the_others_go_on(forum, gate):
    phone, tablet = issue(forum, gate, "Phone 7"), issue(forum, gate, "Tablet 2")
    assert device_answer(forum, phone["token"]) == 200

    revoked = forum.checkin.delete(
        f"{tokens_path(forum, gate)}/{phone['id']}", headers=bearer(forum.organizer_token)
    )
    assert revoked.status_code == 204

    assert device_answer(forum, phone["token"]) == 401
    assert device_answer(forum, tablet["token"]) == 200
    listed = forum.checkin.get(tokens_path(forum, gate), headers=bearer(forum.organizer_token))
    assert [r["label"] for r in listed.get_json()] == ["Tablet 2"]


def test_an_unknown_or_partial_id_is_not_found(forum, gate):
    phone = issue(forum, gate, "Phone 7")
    for wrong in ("0" * 16, phone["id"][:8], phone["id"] + "00"):
        answer = forum.checkin.delete(
            f"{tokens_path(forum, gate)}/{wrong}", headers=bearer(forum.organizer_token)
        )
        assert answer.status_code == 404, wrong
        assert answer.get_json()["error"]["code"] == "unknown_token"
    assert device_answer(forum, phone["token"]) == 200


def test_a_scanner_cannot_revoke_or_list(forum, gate):
    phone = issue(forum, gate, "Phone 7")
    path = f"{tokens_path(forum, gate)}/{phone['id']}"
    assert forum.checkin.delete(path, headers=bearer(phone["token"])).status_code == 403
    assert (
        forum.checkin.get(tokens_path(forum, gate), headers=bearer(phone["token"])).status_code
        == 403
    )
    assert device_answer(forum, phone["token"]) == 200
