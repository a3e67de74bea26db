"""Beyond the matrix: a delegate's token opens their own registration and nothing else (a
fellow member's, another delegation), and the live stream takes a one-minute ticket, never a
bearer token in its URL."""

from __future__ import annotations

import pytest

from tests.support.access import ORGANISER, World, notify_app_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

E = "/api/v1/events/gmf2023"
R = "/api/v1/registrations"


@pytest.fixture
def world(forum, build_app) -> World:
    return World(forum, notify_app_for(forum, build_app))


def test_a_live_stream_opens_with_a_ticket_and_never_with_a_token(world):
    path = f"{E}/live"
    organiser = {"Authorization": f"Bearer {world.tokens[ORGANISER]}"}
    bare = world.clients["checkin"].get(path, headers=organiser)
    assert bare.status_code == 422  # a bearer token alone is not a ticket

    answer = world.clients["checkin"].get(path, query_string={"ticket": world.ticket()},
                                          buffered=False)  # fmt: skip
    try:
        assert answer.status_code == 200
        assert answer.mimetype == "text/event-stream"
    finally:
        answer.close()


def test_a_delegate_acts_on_no_registration_or_delegation_but_their_own(world):
    """The matrix's "other delegate" is a stranger; a fellow member of the head's own
    delegation is refused too, and so is the head on another delegation."""
    first, second = world.delegation(), world.delegation()
    code = world._as_organiser("registration", f"{E}/delegations", {
        "name": "Iztapalapa", "kind": "city", "organisation": "Alcaldía", "city": "Iztapalapa",
        "country": "MX", "category": "delegate", "quota": 3,
    })["code"]  # fmt: skip
    head = world.forum.register(category="delegate", invitation_code=code)
    member = world.forum.register(category="delegate", invitation_code=code)
    client = world.clients["registration"]

    def status(path: str, token: str) -> int:
        return client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(f"/api/v1/delegations/{first['id']}", second["head"]) == 403
    assert status(f"/api/v1/delegations/{head['delegation']['id']}", member["manage_token"]) == 403
    assert status(f"{R}/{head['id']}", member["manage_token"]) == 403
    assert status(f"{R}/{member['id']}", head["manage_token"]) == 403
    assert status(f"{R}/{member['id']}", member["manage_token"]) == 200
