"""Seats are counted only where a capacity limits them: a registration in an unlimited
category of an unlimited event confirms without counting anyone, one in a limited category
counts and waitlists at the limit."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.integration.conftest import bearer, delegate
from tests.integration.test_registration_lifecycle import set_capacity

pytestmark = pytest.mark.integration


@contextmanager
def counts_made(forum):
    """The `count(` statements registration's database runs meanwhile."""
    engine = forum.registration.application.extensions["registration"].db.engine
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if "count(" in statement.lower():
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def register(forum, **fields) -> dict:
    answer = forum.registration.post(
        "/api/v1/events/gmf2023/registrations", json=delegate(**fields)
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_an_unlimited_category_confirms_without_counting_seats(forum):
    set_capacity(forum, "mayor", None)
    unlimited = forum.registration.patch(
        "/api/v1/events/gmf2023", json={"capacity": None}, headers=bearer(forum.organizer_token)
    )
    assert unlimited.status_code == 200, unlimited.get_json()

    with counts_made(forum) as counts:
        created = register(forum)

    assert created["status"] == "confirmed"
    assert counts == []


def test_a_limited_category_counts_its_seats_and_waitlists_at_the_limit(forum):
    """The forum itself has a capacity too (1,200 seats), counted alongside."""
    set_capacity(forum, "mayor", 1)
    register(forum)

    with counts_made(forum) as counts:
        second = register(forum)

    assert second["status"] == "waitlisted"
    assert counts
