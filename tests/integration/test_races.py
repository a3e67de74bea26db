"""Races against the real thing (issue 6): no overbooking and no double admission, ever.

registration and checkin run on gunicorn with their workers as the Procfile runs them, with
registration's relay and checkin's Celery worker carrying every change to the gates' replica
(tests/support/races.py), on SQLite and on PostgreSQL. Each race's clients are processes of
their own, released together by a barrier each round, and each invariant is read back from the
databases afterwards, not only from the answers. `make test` runs them small; `make
test-faults` at the sizes marked `faults`. With `-s` each race prints what it counted."""

from __future__ import annotations

import random
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select

from rollcall import databases
from services.registration.models import Registration, outbox
from tests.conftest import drop_postgres_database
from tests.integration.conftest import delegate
from tests.support import races
from tests.support.race_checks import (
    api,
    assert_presence_is_its_rebuild,
    conflicts_of,
    enrol,
    event_id_of,
    fresh_badges,
    imported,
    new_event,
    registrations_of,
    replica_follows,
    seat_history,
    token,
    venue_log,
)

pytestmark = pytest.mark.integration

LIVE_GATES = ("North", "South", "East")  # venue gates of the demo event; VIP is the offline one


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, tmp_path_factory, migrated_templates, badge_keys):
    """The running stack on a copy of the migrated template of each kind, for every race of
    this module (each race makes events, delegations and badges of its own)."""
    kind, directory = request.param, tmp_path_factory.mktemp(f"races-{request.param}")
    admin = request.getfixturevalue("postgres") if kind == "postgresql" else None
    template = migrated_templates(kind, admin)
    if kind == "sqlite":
        url = f"sqlite:///{directory / 'rollcall.db'}"
        shutil.copyfile(Path(template.removeprefix("sqlite:///")), directory / "rollcall.db")
    else:
        url = databases.create_database(admin, "rollcall_test", template)
    try:
        with races.running_stack(kind, url, directory, badge_keys) as running:
            yield running
    finally:
        if kind == "postgresql":
            drop_postgres_database(admin, url)


def sized(default: dict, faults: dict):
    return pytest.mark.parametrize(
        "size",
        [
            pytest.param(default, id="small"),
            pytest.param(faults, marks=pytest.mark.faults, id="big"),
        ],
    )


def report(stack, race: str, **counts) -> None:
    print(f"\n{race} on {stack.kind}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


# --- 1. the last seats --------------------------------------------------------------------------


@sized({"rounds": 6, "clients": 6, "seats": 2}, {"rounds": 50, "clients": 16, "seats": 5})
def test_clients_racing_for_the_last_seats_confirm_exactly_as_many_as_there_are(stack, size):
    rounds, clients, seats = size["rounds"], size["clients"], size["seats"]
    slug, _organiser = new_event(stack, [seats] * rounds)
    bodies = [[delegate(category=f"seat-{r}") for r in range(rounds)] for _ in range(clients)]
    for round_, body in enumerate(bodies[1]):  # the same person twice, another letter case
        body["email"] = bodies[0][round_]["email"].upper()
    url = f"{stack.registration_url}/api/v1/events/{slug}/registrations"
    answers = races.race([(races.post_as, (url, [("", None)] * rounds, mine)) for mine in bodies],
                         rounds)  # fmt: skip

    tally = Counter(outcome for client in answers for _, outcome, _ in client)
    report(stack, "last seats", rounds=rounds, clients=clients, seats=seats, **tally)
    for round_ in range(rounds):
        given = [client[round_] for client in answers]
        assert sorted(o for _, o, _ in given) == sorted(
            ["already_registered"] + ["confirmed"] * seats + ["waitlisted"] * (clients - 1 - seats)
        ), given
        # Every 2xx is a row with the status it announced, and nothing else is.
        assert registrations_of(stack, slug, f"seat-{round_}") == {
            i: o for s, o, i in given if s == 201
        }
    peak, jumps = seat_history(stack, slug)
    assert max(peak.values()) == seats and not jumps, (peak, jumps)


@sized({"rounds": 4, "clients": 5, "quota": 3}, {"rounds": 40, "clients": 16, "quota": 5})
def test_a_head_adding_members_at_once_never_takes_the_delegation_over_its_quota(stack, size):
    rounds, clients, quota = size["rounds"], size["clients"], size["quota"]
    slug, organiser = new_event(stack, [None])
    targets = []
    for round_ in range(rounds):
        created = api(stack, "POST", f"/api/v1/events/{slug}/delegations", organiser,
                      {"name": f"City {round_}", "kind": "city", "organisation": "City hall",
                       "city": "Guangzhou", "country": "CN", "category": "seat-0",
                       "quota": quota})  # fmt: skip
        head = enrol(stack, slug, category="seat-0", invitation_code=created["code"])
        targets.append((created["id"], head["manage_token"]))
    url = stack.registration_url + "/api/v1/delegations/{}/members"
    bodies = [[delegate(category="seat-0") for _ in range(rounds)] for _ in range(clients)]
    answers = races.race([(races.post_as, (url, targets, mine)) for mine in bodies], rounds)

    tally = Counter(outcome for client in answers for _, outcome, _ in client)
    report(stack, "delegation quota", rounds=rounds, clients=clients, quota=quota, **tally)
    for round_, (delegation_id, _head) in enumerate(targets):
        given = sorted(client[round_][1] for client in answers)
        assert given == sorted(["confirmed"] * (quota - 1) + ["quota_full"] * (clients - quota + 1))
        with stack.db.reads() as session:
            members = session.scalars(
                select(Registration.status).where(Registration.delegation_id == delegation_id)
            ).all()
        assert members == ["confirmed"] * quota


@sized({"rounds": 10, "seats": 2, "waiting": 2, "newcomers": 1},
       {"rounds": 40, "seats": 4, "waiting": 4, "newcomers": 8})  # fmt: skip
def test_cancellations_racing_registrations_never_confirm_more_than_the_seats(stack, size):
    """Per round a full category with a waitlist; at once, a confirmed delegate and the first
    on the waitlist cancel while newcomers register. Never more confirmed than seats, at any
    moment of the outbox's history, no seat left empty and no newcomer confirmed while someone
    waits."""
    rounds, seats = size["rounds"], size["seats"]
    slug, organiser = new_event(stack, [seats] * rounds)
    queue = [f"seat-{r}" for r in range(rounds) for _ in range(seats + size["waiting"])]
    people = imported(stack, slug, organiser, queue)
    assert [p["status"] for p in people] == (
        ["confirmed"] * seats + ["waitlisted"] * size["waiting"]
    ) * rounds
    first = [r * (seats + size["waiting"]) for r in range(rounds)]
    cancels = [  # per round, a confirmed delegate and the first on the waitlist
        [(people[i]["id"], organiser) for i in first],
        [(people[i + seats]["id"], organiser) for i in first],
    ]
    cancel_url = stack.registration_url + "/api/v1/registrations/{}/cancel"
    register_url = f"{stack.registration_url}/api/v1/events/{slug}/registrations"
    no_reason = [{"reason": "race"}] * rounds
    newcomers = [[delegate(category=f"seat-{r}") for r in range(rounds)]
                 for _ in range(size["newcomers"])]  # fmt: skip
    programs = [(races.post_as, (cancel_url, targets, no_reason)) for targets in cancels] + [
        (races.post_as, (register_url, [("", None)] * rounds, mine)) for mine in newcomers
    ]
    answers = races.race(programs, rounds)

    tally = Counter(outcome for client in answers for _, outcome, _ in client)
    report(stack, "cancellations", rounds=rounds, seats=seats, **tally)
    assert all(status in (200, 201) for client in answers for status, _, _ in client), tally
    peak, jumps = seat_history(stack, slug)
    assert not jumps, f"newcomers confirmed while others waited: {dict(jumps)}"
    for round_ in range(rounds):
        now = Counter(registrations_of(stack, slug, f"seat-{round_}").values())
        assert peak[f"seat-{round_}"] <= seats, (round_, peak)
        assert now["confirmed"] == min(seats, now["confirmed"] + now["waitlisted"]), (round_, now)


@sized({"rounds": 6, "clients": 6, "seats": 3}, {"rounds": 40, "clients": 16, "seats": 5})
def test_an_organiser_setting_a_capacity_while_delegates_register_never_oversells_it(stack, size):
    """Per round an open category (no capacity) gets a capacity while delegates register in
    it. In the outbox's order (registrations and the change each hold the event's lock), every
    registration decided after the change is confirmed while a seat is free, and waitlisted
    only when none is."""
    rounds, clients, seats = size["rounds"], size["clients"], size["seats"]
    slug, organiser = new_event(stack, [None] * rounds)
    limits = [{"categories": [{"code": f"seat-{r}", "capacity": seats}]} for r in range(rounds)]
    bodies = [[delegate(category=f"seat-{r}") for r in range(rounds)] for _ in range(clients)]
    register_url = f"{stack.registration_url}/api/v1/events/{slug}/registrations"
    event_url = f"{stack.registration_url}/api/v1/events/{slug}"
    programs = [(races.send_as, ("PATCH", event_url, [("", organiser)] * rounds, limits))] + [
        (races.post_as, (register_url, [("", None)] * rounds, mine)) for mine in bodies
    ]
    answers = races.race(programs, rounds)

    tally = Counter(outcome for client in answers[1:] for _, outcome, _ in client)
    assert all(status == 200 for status, _, _ in answers[0]), answers[0]
    assert all(status == 201 for client in answers[1:] for status, _, _ in client), tally
    after = decisions_after_each_change(stack, slug)
    report(stack, "capacity set while registering", rounds=rounds, clients=clients, seats=seats,
           decided_after=sum(map(len, after.values())), **tally)  # fmt: skip
    for round_ in range(rounds):
        category = f"seat-{round_}"
        for held, status in after[category]:
            assert status == ("confirmed" if held < seats else "waitlisted"), (round_, held, status)
        given = [client[round_] for client in answers[1:]]
        assert registrations_of(stack, slug, category) == {i: o for _, o, i in given}


def decisions_after_each_change(stack, slug: str) -> dict[str, list[tuple[int, str]]]:
    """Replaying the event's outbox in sequence order, where the n-th `event.updated` set the
    capacity of `seat-<n>`: each registration of that category after it, as the confirmed
    delegates it found there and the status it was given."""
    table, held, changed = outbox.table, Counter(), set()
    after = defaultdict(list)
    with stack.db.reads() as session:
        rows = session.execute(select(table.c.type, table.c.payload).order_by(table.c.sequence))
        for kind, payload in rows:
            if (payload.get("event") or {}).get("slug") != slug:
                continue
            if kind == "event.updated":
                changed.add(f"seat-{len(changed)}")
            elif kind == "delegate.registered":
                category, status = payload["delegate"]["category"], payload["delegate"]["status"]
                if category in changed:
                    after[category].append((held[category], status))
                held[category] += status == "confirmed"
    return after


# --- 2. many gates, many badges ------------------------------------------------------------------


@sized({"rounds": 5, "clients": 5, "badges": 2}, {"rounds": 30, "clients": 12, "badges": 4})
def test_many_gates_scanning_many_badges_at_once_admit_each_exactly_once(stack, size):
    rounds, clients, per = size["rounds"], size["clients"], size["badges"]
    badges = fresh_badges(stack, rounds * per)
    tokens = [[t for _, _, t in badges[r * per : (r + 1) * per]] for r in range(rounds)]
    gates = ("North", "South", "East", "VIP")
    programs = [
        (races.scan_each, (stack.checkin_url, stack.scanner_tokens[gates[c % len(gates)]],
                           [random.sample(round_, per) for round_ in tokens]))
        for c in range(clients)
    ]  # fmt: skip
    answers = races.race(programs, rounds)

    told = defaultdict(list)
    for client in answers:
        for round_ in client:
            for scanned, outcome in round_:
                told[scanned].append(outcome)
    tally = Counter(outcome for outcomes in told.values() for outcome in outcomes)
    report(stack, "many gates, many badges", rounds=rounds, clients=clients, badges=len(badges),
           **tally)  # fmt: skip
    for _, _, scanned in badges:
        assert sorted(told[scanned]) == ["admitted"] + ["already_inside"] * (clients - 1)
    ids = [badge_id for _, badge_id, _ in badges]
    for rows in venue_log(stack, ids).values():
        assert sorted(r.result for r in rows) == ["admitted"] + ["already_inside"] * (clients - 1)
    assert_presence_is_its_rebuild(stack, ids)


# --- 3. a reissue racing scans of the old badge -------------------------------------------------

REFUSED_WITHIN = 20  # s after the reissue by which every gate must refuse the old badge


@sized({"rounds": 4, "scanners": 3, "reissuers": 2}, {"rounds": 40, "scanners": 8, "reissuers": 3})
def test_a_reissue_racing_scans_of_the_old_badge_admits_the_person_once_and_then_refuses_it(
    stack, size
):
    """Organisers reissue a badge (two at once: two clicks, two desks) while gates scan the
    old one. What the product can promise, since checkin hears of a reissue through the
    outbox: the person is admitted at most once, whichever version they show; in the scan
    log's order (each scan and each replica update lock the badge's replica row, so that is
    the order they happened in) the old badge passes, then is refused for good: never green
    again after its first `revoked`. That switch comes after registration acknowledged the
    reissue, so a scan in between may still admit the old badge if the person is not inside
    yet (counted and printed), within the relay and worker's lag; the newest badge passes
    even before checkin heard of it (its signature proves it); and the replica ends on
    registration's newest version, however the reissues' events were applied."""
    rounds, scanners, reissuers = size["rounds"], size["scanners"], size["reissuers"]
    badges = fresh_badges(stack, rounds)
    event_id = event_id_of(stack, "gmf2023")
    newest = [token(stack, event_id, badge_id, 1 + reissuers) for _, badge_id, _ in badges]
    gates = ("North", "South", "East")
    programs = [(races.reissue_then_scan, (
        stack.registration_url, stack.checkin_url, stack.organizer_token,
        stack.scanner_tokens["VIP"], [r for r, _, _ in badges], newest, 1))] * reissuers + [
        (races.scan_until_refused, (stack.checkin_url, stack.scanner_tokens[gates[i % 3]],
                                    [t for _, _, t in badges], REFUSED_WITHIN))
        for i in range(scanners)
    ]  # fmt: skip
    answers = races.race(programs, rounds)

    lags, after_ack, tally = [], 0, Counter()
    for round_, (_, badge_id, _) in enumerate(badges):
        reissued = [client[round_] for client in answers[:reissuers]]
        scans = [client[round_] for client in answers[reissuers:]]
        assert all(r.get("newest") in ("admitted", "already_inside") for r in reissued), reissued
        acknowledged = min(r["acknowledged"] for r in reissued)
        for client in scans:
            assert client[-1][2] == "revoked", client  # every gate refuses it in the end
            tally.update(outcome for _, _, outcome in client)
            after_ack += sum(1 for t, _, o in client if t > acknowledged and o == "admitted")
        lags.append(min(end for client in scans for _, end, o in client if o == "revoked")
                    - acknowledged)  # fmt: skip
        rows = venue_log(stack, [badge_id])[badge_id]
        assert [r.result for r in rows].count("admitted") == 1, [r.result for r in rows]
        old = [r.result for r in rows if r.badge_version == 1]
        first_refusal = old.index("revoked")
        assert set(old[first_refusal:]) == {"revoked"}, old
        assert set(old[:first_refusal]) <= {"admitted", "already_inside"}, old
    replica_follows(stack, {badge_id: 1 + reissuers for _, badge_id, _ in badges})
    report(stack, "reissue vs scans", rounds=rounds, reissuers=reissuers, scanners=scanners,
           old_badge_admitted_after_ack=after_ack, max_lag_s=f"{max(lags):.2f}",
           **tally)  # fmt: skip


# --- 4. an offline batch racing live scans -------------------------------------------------------


@sized({"rounds": 4, "live": 4, "badges": 3}, {"rounds": 30, "live": 9, "badges": 4})
def test_an_offline_batch_synced_while_gates_scan_the_same_badges_admits_each_once(stack, size):
    """The VIP gate's scanner comes back online with a queue of the same badges the other
    gates are scanning live, its device times a little before or after theirs. For each badge
    one admission stands (the earliest); every other green is a recorded conflict."""
    rounds, per = size["rounds"], size["badges"]
    badges = fresh_badges(stack, rounds * per)
    tokens = [[t for _, _, t in badges[r * per : (r + 1) * per]] for r in range(rounds)]
    offsets = [[random.uniform(-0.3, 0.3) for _ in range(per)] for _ in range(rounds)]
    programs = [(races.sync_batch, (stack.checkin_url, stack.scanner_tokens["VIP"], tokens,
                                    offsets))] + [
        (races.scan_each, (stack.checkin_url, stack.scanner_tokens[LIVE_GATES[c % 3]],
                           [random.sample(round_, per) for round_ in tokens]))
        for c in range(size["live"])
    ]  # fmt: skip
    answers = races.race(programs, rounds)

    assert all(status == 200 for status, _ in answers[0]), answers[0]
    ids = [badge_id for _, badge_id, _ in badges]
    conflicts = conflicts_of(stack, ids)
    tally = Counter()
    for badge_id, rows in venue_log(stack, ids).items():
        tally.update(f"{r.source} {r.result}" for r in rows)
        admitted = [r for r in rows if r.result == "admitted"]
        losers = {loser for winner, loser in conflicts[badge_id]}
        standing = [r for r in admitted if r.id not in losers]
        assert len(standing) == 1, (badge_id, [(r.id, r.source, r.result) for r in rows])
        first = min(admitted, key=lambda r: (r.occurred_at, r.id))
        assert standing == [first]
        # An offline "already inside" let in elsewhere showed green on the device: recorded.
        for r in rows:
            if r.source == "offline" and r.result == "already_inside" and r.inside_gate != "VIP":
                assert r.id in losers, (badge_id, r.id, conflicts[badge_id])
    assert_presence_is_its_rebuild(stack, ids)
    report(stack, "offline batch vs live scans", rounds=rounds, badges=len(badges),
           conflicts=sum(map(len, conflicts.values())), **tally)  # fmt: skip
