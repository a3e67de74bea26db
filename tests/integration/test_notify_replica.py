"""Notify's replica of events and delegates: newest wins, and a delegate's change leaves the
event's row alone (its announcements keep it), so workers do not wait for each other on it."""

from __future__ import annotations

import pytest

from services import notify
from services.notify import replica
from services.notify.models import KnownEvent
from shared.config import Settings
from shared.db import make_engine, make_sessions
from shared.events import parse
from tests.support.factories import event_info, registered_envelope


@pytest.fixture
def sessions(database_url, tmp_path):
    settings = Settings.from_env({"NOTIFY_DATABASE_URL": database_url, "VAR_DIR": str(tmp_path)})
    notify.migrate(settings)
    engine = make_engine(database_url)
    yield make_sessions(engine)
    engine.dispose()


def delegate_change(event: dict, sequence: int) -> tuple[dict, dict]:
    return parse({**registered_envelope(event=event), "sequence": sequence})


def apply(sessions, event: dict, sequence: int) -> None:
    loaded, payload = delegate_change(event, sequence)
    with sessions.begin() as session:
        replica.apply_delegate(session, payload, loaded["sequence"])


def announce(sessions, event: dict, sequence: int) -> None:
    """Apply an `event.*` announcement of `event`, loaded as notify's task loads it."""
    _loaded, payload = delegate_change(event, sequence)
    with sessions.begin() as session:
        replica.apply_event(session, payload["event"], sequence)


def known(sessions, event_id: int) -> tuple[str, int]:
    with sessions() as session:
        row = session.get(KnownEvent, event_id)
        return row.name, row.sequence


def test_a_delegates_change_introduces_an_event_but_never_rewrites_it(sessions):
    event = event_info(name="Forum")
    apply(sessions, event, sequence=10)  # notify hears of the event first from a delegate
    assert known(sessions, event["id"]) == ("Forum", 10)

    announce(sessions, {**event, "name": "Forum 2023"}, 20)  # the organisers rename it
    # Later delegates' changes, with the old name (sent before the rename) or the new one,
    # leave the row as the newest announcement made it.
    apply(sessions, event, sequence=15)
    apply(sessions, {**event, "name": "Forum 2023"}, sequence=30)
    assert known(sessions, event["id"]) == ("Forum 2023", 20)

    announce(sessions, {**event, "name": "Forum (draft)"}, 18)  # older than applied: ignored
    assert known(sessions, event["id"]) == ("Forum 2023", 20)
