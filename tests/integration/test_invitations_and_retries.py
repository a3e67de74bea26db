"""Invitation codes skip approval for their category and number of uses; an Idempotency-Key
makes a retried registration answer as the first did. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.integration.conftest import bearer, delegate

pytestmark = pytest.mark.integration

INVITATIONS = "/api/v1/events/gmf2023/invitations"
REGISTER = "/api/v1/events/gmf2023/registrations"


def invite(forum, **body) -> dict:
    response = forum.registration.post(
        INVITATIONS,
        json={"label": "Halandri delegation", **body},
        headers=bearer(forum.organizer_token),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_code_skips_approval_for_as_many_delegates_as_it_allows(forum):
    code = invite(forum, category="media", uses=2)["code"]

    first = forum.register(category="media", invitation_code=code)
    second = forum.register(category="media", invitation_code=code.lower().replace("-", " "))
    third = forum.registration.post(REGISTER, json=delegate(category="media", invitation_code=code))
    uninvited = forum.register(category="media")

    assert (first["status"], second["status"]) == ("confirmed", "confirmed")
    assert third.status_code == 422
    assert "as often as it allows" in third.get_json()["error"]["fields"]["invitation_code"][0]
    assert uninvited["status"] == "pending"
    listed = forum.registration.get(INVITATIONS, headers=bearer(forum.organizer_token)).get_json()
    assert [(i["uses"], i["uses_allowed"], i["hint"]) for i in listed] == [(2, 2, code[-4:])]
    assert "code" not in listed[0]


def test_a_code_is_bound_to_its_category_and_stops_when_revoked(forum):
    invitation = invite(forum, category="vip", uses=5)

    other_category = forum.registration.post(
        REGISTER, json=delegate(category="media", invitation_code=invitation["code"])
    )
    assert other_category.status_code == 422
    revoked = forum.registration.post(
        f"{INVITATIONS}/{invitation['id']}/revoke", headers=bearer(forum.organizer_token)
    )
    assert revoked.get_json()["revoked_at"]
    after = forum.registration.post(
        REGISTER, json=delegate(category="vip", invitation_code=invitation["code"])
    )
    assert after.status_code == 422
    forged = forum.registration.post(
        REGISTER, json=delegate(category="vip", invitation_code="AAAA-BBBB-CCCC")
    )
    assert forged.get_json()["error"]["code"] == "invalid_invitation"


def test_invitations_are_for_organisers_only(forum):
    someone = forum.register()

    assert forum.registration.get(INVITATIONS).status_code == 401
    mine = bearer(someone["manage_token"])
    assert forum.registration.post(INVITATIONS, json={}, headers=mine).status_code == 403
    trail = forum.registration.get(
        "/api/v1/events/gmf2023/audit", headers=bearer(forum.organizer_token)
    ).get_json()
    invite(forum, category="mayor")
    trail = forum.registration.get(
        "/api/v1/events/gmf2023/audit", headers=bearer(forum.organizer_token)
    ).get_json()
    assert trail[0]["action"] == "invitation.issued"


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(forum):
    body = delegate(given_name="小明", family_name="王")
    headers = {"Idempotency-Key": "phone-42-attempt"}

    first = forum.registration.post(REGISTER, json=body, headers=headers)
    retry = forum.registration.post(REGISTER, json=body, headers=headers)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.get_json() == first.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    listing = forum.registration.get(
        "/api/v1/events/gmf2023/registrations",
        query_string={"q": body["email"]},
        headers=bearer(forum.organizer_token),
    )
    assert len(listing.get_json()) == 1
    without_key = forum.registration.post(REGISTER, json=body)
    assert without_key.status_code == 409


def test_reusing_an_idempotency_key_for_another_request_is_refused(forum):
    headers = {"Idempotency-Key": "same-key"}
    forum.registration.post(REGISTER, json=delegate(), headers=headers)

    other = forum.registration.post(REGISTER, json=delegate(), headers=headers)

    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
