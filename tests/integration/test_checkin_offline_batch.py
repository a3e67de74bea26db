"""An offline batch is written in bulk (one statement for its outbox rows, one for presence):
what it writes must be what one scan at a time wrote, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from rollcall import demo
from services.checkin.models import Scan
from services.checkin.models import outbox as checkin_outbox
from shared.events import CHECKIN_ADMITTED, CHECKIN_EXITED, CHECKIN_REJECTED
from tests.integration.test_checkin_areas import rebuilt_equals_live, registered, sessions
from tests.integration.test_checkin_offline import queued, sync

pytestmark = pytest.mark.integration


@pytest.fixture
def creds(forum) -> dict:
    forum.replicate()
    return demo.seed(forum.settings)


def test_a_synced_batch_announces_every_scan_once_in_time_order_with_its_logged_id(forum, creds):
    people = [registered(forum, "delegate")[1] for _ in range(3)]
    at = datetime.now(UTC) - timedelta(minutes=30)
    scans = [queued(token, at + timedelta(seconds=i)) for i, token in enumerate(people)]
    scans += [queued(people[0], at + timedelta(seconds=10), "out")]
    scans += [queued(people[1], at + timedelta(seconds=11))]  # already inside: rejected
    scans += [queued("not a badge", at + timedelta(seconds=12))]
    scans.reverse()  # sent in any order, judged and logged in time order

    answer = sync(forum, creds["scanner_tokens"]["North"], scans)

    assert answer["applied"] == 6
    with sessions(forum)() as session:
        logged = session.scalars(select(Scan).order_by(Scan.id)).all()
        table = checkin_outbox.table
        events = session.execute(select(table).order_by(table.c.sequence)).all()
    assert [s.occurred_at for s in logged] == sorted(s.occurred_at for s in logged)
    assert [e.payload["scan_id"] for e in events] == [s.id for s in logged]
    assert [e.type for e in events] == [CHECKIN_ADMITTED] * 3 + [CHECKIN_EXITED] + [
        CHECKIN_REJECTED
    ] * 2
    assert events[1].payload["badge_id"] == logged[1].badge_id
    assert events[1].payload["source"] == "offline"
    assert len({e.event_id for e in events}) == 6
    rebuilt_equals_live(forum)
