"""checkin's badge replica rebuilt from scratch from registration's snapshot API, and repaired
from its change feed after a lost event; the feed's machine credential; category labels in
other languages reaching the scanner's badge list. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.serving import make_server

from rollcall.cli import cli
from services import checkin, registration
from services.checkin import catch_up
from services.checkin.models import (
    ConsumedEvent,
    OrganizerGrant,
    ReplicaBadge,
    ReplicaCategory,
    ReplicaEvent,
)
from services.registration.models import outbox as registration_outbox
from shared import access, db
from shared.db import utcnow
from shared.events import parse
from tests.conftest import fresh_database
from tests.integration.conftest import bearer

pytestmark = pytest.mark.integration

LATER = timedelta(hours=1)  # "now" for a catch-up that treats every event as settled


def feed_client(forum) -> catch_up.Fetch:
    """Read registration's feed through its Flask app, with the feed credential."""
    token = access.feed_token(forum.settings)

    def fetch(path: str, query: dict) -> dict:
        response = forum.registration.get(path, query_string=query, headers=bearer(token))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return fetch


def live_sessions(forum):
    return forum.checkin.application.extensions["checkin"].db.sessions


@pytest.fixture
def fresh_sessions(forum, tmp_path, request) -> Iterator:
    """Sessions on a second, empty checkin database of the same kind, migrated."""
    kind = "sqlite" if forum.settings.checkin_database_url.startswith("sqlite") else "postgresql"
    (tmp_path / "fresh").mkdir()
    with fresh_database(kind, tmp_path / "fresh", request) as url:
        checkin.migrate(forum.settings.but(checkin_database_url=url))
        engine = db.make_engine(url)
        yield db.make_sessions(engine)
        engine.dispose()


def replica_state(sessions) -> dict:
    """Everything the replica holds, comparable across databases."""
    with sessions() as session:
        return {
            "events": {
                (e.id, e.slug, e.name, e.venue, e.timezone, e.starts_on, e.ends_on,
                 e.announced_sequence)
                for e in session.scalars(select(ReplicaEvent))
            },
            "grants": {(g.digest, g.event_id) for g in session.scalars(select(OrganizerGrant))},
            "categories": {
                (c.event_id, c.code, c.label, tuple(c.areas), c.colour, tuple(c.labels.items()))
                for c in session.scalars(select(ReplicaCategory))
            },
            "badges": {
                (b.badge_id, b.event_id, b.registration_id, b.revision, b.version, b.status,
                 b.status_reason, b.display_name, b.category, b.country, b.search_text)
                for b in session.scalars(select(ReplicaBadge))
            },
        }  # fmt: skip


def organiser(forum) -> dict:
    return bearer(forum.organizer_token)


def every_kind_of_change(forum) -> dict[str, int]:
    """Approve, revoke, reissue, cancel, correct a name, erase, and change a category label;
    returns the registration ids by what happened to them."""
    reg = forum.registration
    people = {k: forum.register() for k in ("kept", "revoked", "reissued", "cancelled",
                                             "renamed", "erased")}  # fmt: skip
    people["approved"] = forum.register(category="media")
    people["pending"] = forum.register(category="media")
    ids = {k: p["id"] for k, p in people.items()}
    forum.replicate()

    def ok(response):
        assert response.status_code == 200, response.get_json()

    ok(reg.post(f"/api/v1/registrations/{ids['approved']}/approve", headers=organiser(forum)))
    ok(reg.post(f"/api/v1/registrations/{ids['revoked']}/badge/revoke",
                json={"reason": "Lost badge reported."}, headers=organiser(forum)))  # fmt: skip
    ok(reg.post(f"/api/v1/registrations/{ids['reissued']}/badge/reissue",
                headers=organiser(forum)))  # fmt: skip

    def own(key):
        return bearer(people[key]["manage_token"])

    ok(
        reg.post(
            f"/api/v1/registrations/{ids['cancelled']}/cancel", json={}, headers=own("cancelled")
        )
    )
    ok(reg.patch(f"/api/v1/registrations/{ids['renamed']}", json={"given_name": "Claudia"},
                 headers=own("renamed")))  # fmt: skip
    ok(reg.post(f"/api/v1/registrations/{ids['erased']}/erase", headers=own("erased")))
    press = {"code": "media", "label": "Press", "labels": {"zh": "新闻媒体"}}
    ok(reg.patch("/api/v1/events/gmf2023", json={"categories": [press]}, headers=organiser(forum)))
    forum.replicate()
    return ids


def test_a_fresh_replica_rebuilt_from_the_snapshot_matches_the_live_one(forum, fresh_sessions):
    ids = every_kind_of_change(forum)
    live = replica_state(live_sessions(forum))
    statuses = {b[2]: (b[5], b[7], b[4]) for b in live["badges"]}
    assert statuses[ids["revoked"]][0] == "revoked"
    assert statuses[ids["reissued"]][2] == 2
    assert statuses[ids["cancelled"]][0] == "void"
    assert statuses[ids["renamed"]][1].startswith("Claudia")
    assert statuses[ids["erased"]][1] == "Erased"
    assert statuses[ids["approved"]][0] == "active"
    assert ids["pending"] not in statuses  # no badge yet

    built = catch_up.rebuild(fresh_sessions, feed_client(forum), page=3)  # several pages

    assert replica_state(fresh_sessions) == live
    assert built.badges == len(live["badges"]) and built.events == 1
    with fresh_sessions() as session:
        assert catch_up.position(session) == built.head > 0


def test_rebuilding_twice_changes_nothing(forum, fresh_sessions):
    every_kind_of_change(forum)
    catch_up.rebuild(fresh_sessions, feed_client(forum))
    first = replica_state(fresh_sessions)

    again = catch_up.rebuild(fresh_sessions, feed_client(forum))
    over_live = catch_up.rebuild(live_sessions(forum), feed_client(forum))

    assert (again.events, again.badges) == (0, 0)
    assert (over_live.events, over_live.badges) == (0, 0)
    assert replica_state(fresh_sessions) == first == replica_state(live_sessions(forum))


def test_an_older_snapshot_never_overwrites_a_newer_event(forum):
    person = forum.register()
    forum.replicate()
    recorded: dict = {}
    fetch = feed_client(forum)

    def stale(path, query):  # the snapshot as it was before the correction below
        key = (path, tuple(sorted(query.items())))
        return recorded.setdefault(key, fetch(path, query))

    catch_up.rebuild(live_sessions(forum), stale)
    forum.registration.patch(
        f"/api/v1/registrations/{person['id']}",
        json={"family_name": "Sheinbaum"},
        headers=bearer(person["manage_token"]),
    )
    forum.replicate()

    replayed = catch_up.rebuild(live_sessions(forum), stale)

    assert replayed.badges == 0
    with live_sessions(forum)() as session:
        badge = session.scalar(
            select(ReplicaBadge).where(ReplicaBadge.registration_id == person["id"])
        )
        assert "Sheinbaum" in badge.display_name


def lose_next_events(forum) -> int:
    """Publish registration's pending events without delivering them: lost on the way."""
    engine = forum.registration.application.extensions["registration"].db.engine
    return registration_outbox.relay_once(engine, lambda task, envelope: None)


def test_a_lost_event_is_noticed_as_a_gap_and_repaired_by_catch_up(forum):
    person = forum.register()
    forum.replicate()
    forum.registration.patch(
        f"/api/v1/registrations/{person['id']}",
        json={"given_name": "Rosa Icela"},
        headers=bearer(person["manage_token"]),
    )
    assert lose_next_events(forum) == 1  # published, never applied
    forum.register()
    forum.replicate()  # the next event arrives: the one before it is missing
    sessions = live_sessions(forum)
    with sessions() as session:
        newest = session.scalar(select(ConsumedEvent).order_by(ConsumedEvent.sequence.desc()))
        assert catch_up.gap_before(session, "registration", newest.sequence)
        badge = session.scalar(
            select(ReplicaBadge).where(ReplicaBadge.registration_id == person["id"])
        )
        assert not badge.display_name.startswith("Rosa Icela")

    repaired = catch_up.catch_up(sessions, feed_client(forum), page=2, now=utcnow() + LATER)

    assert repaired.applied == 1
    with sessions() as session:
        badge = session.scalar(
            select(ReplicaBadge).where(ReplicaBadge.registration_id == person["id"])
        )
        assert badge.display_name.startswith("Rosa Icela")
        assert not catch_up.gap_before(session, "registration", newest.sequence)
        assert catch_up.position(session) == repaired.through == newest.sequence
    again = catch_up.catch_up(sessions, feed_client(forum), now=utcnow() + LATER)
    assert (again.applied, again.through) == (0, newest.sequence)


def test_catch_up_parses_only_the_events_the_replica_missed(forum, monkeypatch):
    for _ in range(3):
        forum.register()
    forum.replicate()
    forum.register()
    assert lose_next_events(forum) == 1
    parsed = []

    def counting_parse(envelope):
        parsed.append(envelope["event_id"])
        return parse(envelope)

    monkeypatch.setattr(catch_up, "parse", counting_parse)

    done = catch_up.catch_up(live_sessions(forum), feed_client(forum), now=utcnow() + LATER)

    assert done.applied == 1 and done.seen >= 4
    assert len(parsed) == 1  # the others were in the replica: read, not parsed again


def test_catch_up_does_not_move_past_events_too_recent_to_be_settled(forum):
    forum.replicate()
    forum.register()
    lose_next_events(forum)

    done = catch_up.catch_up(live_sessions(forum), feed_client(forum))

    assert done.applied == 1  # applied at once all the same
    assert done.through == 0  # a slower transaction may still commit an earlier sequence


@pytest.fixture
def registration_server(forum) -> Iterator[str]:
    """registration's app served over real HTTP on a free port."""
    server = make_server("127.0.0.1", 0, forum.registration.application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_rollcall_rebuild_replica_reads_the_feed_over_http(
    forum, registration_server, fresh_sessions, monkeypatch
):
    every_kind_of_change(forum)
    with fresh_sessions() as session:
        url = str(session.get_bind().url.render_as_string(hide_password=False))
    s = forum.settings
    for name, value in {
        "VAR_DIR": str(s.var_dir), "DATABASE_URL": s.registration_database_url,
        "CHECKIN_DATABASE_URL": url, "FEED_URL": registration_server, "REDIS_URL": s.redis_url,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    built = runner.invoke(cli, ["rebuild-replica"])
    caught = runner.invoke(cli, ["rebuild-replica", "--catch-up"])
    one = runner.invoke(cli, ["rebuild-replica", "--event", "gmf2023"])

    assert built.exit_code == 0, built.output
    assert "badges changed 7" in built.output
    assert caught.exit_code == 0 and "missed and applied 0" in caught.output, caught.output
    assert one.exit_code == 0 and "badges changed 0" in one.output, one.output
    assert replica_state(fresh_sessions) == replica_state(live_sessions(forum))


def test_the_feed_answers_only_its_machine_credential(forum, monkeypatch):
    person = forum.register()
    paths = ("/api/v1/feed", "/api/v1/snapshot/events", "/api/v1/snapshot/events/gmf2023/delegates")
    for path in paths:
        for headers in ({}, organiser(forum), bearer(person["manage_token"]),
                        bearer(access.feed_token(forum.settings) + "x")):  # fmt: skip
            response = forum.registration.get(path, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.get_json()["error"]["code"] == "unauthorized"

    fetch = feed_client(forum)
    first = fetch("/api/v1/feed", {"after": 0, "limit": 2})
    rest = fetch("/api/v1/feed", {"after": first["next_after"], "limit": 1000})
    sequences = [e["sequence"] for e in first["events"] + rest["events"]]
    assert sequences == sorted(sequences) and sequences[-1] == first["head"]
    assert {e["producer"] for e in first["events"]} == {"registration"}
    bad = forum.registration.get(
        "/api/v1/feed?limit=100000", headers=bearer(access.feed_token(forum.settings))
    )
    assert bad.status_code == 422
    missing = forum.registration.get(
        "/api/v1/snapshot/events/nope/delegates", headers=bearer(access.feed_token(forum.settings))
    )
    assert missing.status_code == 404


def test_the_feed_token_comes_from_the_environment_when_set(forum, build_app):
    settings = forum.settings.but(feed_token="rc_feed_from-the-environment")
    client = build_app(registration, settings).test_client()

    assert (
        client.get("/api/v1/feed", headers=bearer("rc_feed_from-the-environment")).status_code
        == 200
    )
    assert (
        client.get("/api/v1/feed", headers=bearer(access.feed_token(forum.settings))).status_code
        == 401
    )


def test_category_labels_in_other_languages_reach_the_scanners_badge_list(forum):
    forum.replicate()
    response = forum.checkin.get(
        "/api/v1/events/gmf2023/badges/offline", headers=bearer(forum.scanner_tokens["North"])
    )

    assert response.status_code == 200, response.get_json()
    categories = {c["code"]: c for c in response.get_json()["categories"]}
    assert categories["mayor"]["labels"] == {"zh": "市长或州长"}
    assert categories["mayor"]["label"]
