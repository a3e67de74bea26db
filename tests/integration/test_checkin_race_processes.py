"""Exactly one admission under real concurrency: checkin runs as two gunicorn servers of two
workers each (the Procfile's options), and for each trial a fresh badge is scanned at the venue
by K client processes at once (released together by a barrier), spread over both servers and
all four venue gates. Every trial must admit the badge exactly once and answer the others
`already_inside`; the scan log and presence must agree, and presence must equal its rebuild from
the log. `make test` runs it small; `make test-faults` at hundreds of trials."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from contextlib import ExitStack

import pytest
import requests
from sqlalchemy import func, select

from services.checkin.models import Area, Presence, ReplicaBadge, Scan
from tests.integration.test_checkin_areas import rebuilt_equals_live
from tests.integration.test_live_headcount import checkin_on_gunicorn

pytestmark = pytest.mark.integration

SERVERS = 2
VENUE_GATES = ("North", "South", "East", "VIP")
BARRIER_SECONDS = 60  # a client that waits longer than this for the others has hung: fail


def client(index: int, url: str, scanner: str, tokens: list[str], barrier, results) -> None:
    """One gate's client process: for each badge, wait for every other client, scan it once."""
    answers = []
    with requests.Session() as session:
        for token in tokens:
            barrier.wait(BARRIER_SECONDS)
            try:
                response = session.post(
                    f"{url}/api/v1/scans",
                    json={"token": token, "direction": "in"},
                    headers={"Authorization": f"Bearer {scanner}"},
                    timeout=30,
                )
                body = response.json()
                answers.append((response.status_code, body.get("result") or body.get("error")))
            except (requests.RequestException, ValueError) as exc:
                answers.append((0, type(exc).__name__))
    results.put((index, answers))


def fresh_badges(forum, count: int) -> list[tuple[int, str]]:
    """`count` newly registered (confirmed) delegates' (badge id, token), replicated to checkin."""
    ids = [forum.register(category="delegate")["id"] for _ in range(count)]
    while forum.replicate():  # the relay publishes in batches
        pass
    badges = {}
    for _task, envelope in forum.published:
        payload = envelope["payload"]
        registration_id = (payload.get("delegate") or {}).get("id")
        if registration_id in ids and payload.get("badge"):
            badges[registration_id] = (payload["badge"]["id"], payload["badge"]["token"])
    return [badges[i] for i in ids]


def scan_in_processes(urls: list[str], forum, tokens: list[str], scans: int) -> list[list]:
    """Each token scanned `scans` times at once from as many processes; answers per trial."""
    context = multiprocessing.get_context("spawn")  # no threads or sockets inherited
    barrier, results = context.Barrier(scans), context.Queue()
    processes = []
    for i in range(scans):
        url = urls[(i // len(VENUE_GATES)) % len(urls)]
        scanner = forum.scanner_tokens[VENUE_GATES[i % len(VENUE_GATES)]]
        processes.append(
            context.Process(target=client, args=(i, url, scanner, tokens, barrier, results))
        )
    for process in processes:
        process.start()
    try:
        collected = dict(results.get(timeout=120 + 2 * len(tokens)) for _ in processes)
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    return [[collected[i][trial] for i in range(scans)] for trial in range(len(tokens))]


@pytest.mark.parametrize(
    ("trials", "scans"),
    [
        pytest.param(30, 8, id="30x8"),
        pytest.param(300, 12, marks=pytest.mark.faults, id="300x12"),
    ],
)
def test_simultaneous_scans_of_one_badge_from_many_processes_admit_it_exactly_once(
    forum, tmp_path, trials, scans
):
    badges = fresh_badges(forum, trials)
    with ExitStack() as servers:
        urls = [
            servers.enter_context(checkin_on_gunicorn(forum.settings, tmp_path / f"server-{n}"))
            for n in range(SERVERS)
        ]
        started = time.monotonic()
        answers = scan_in_processes(urls, forum, [token for _, token in badges], scans)
        took = time.monotonic() - started

    tally = Counter(result for trial in answers for _status, result in trial)
    kind = forum.settings.checkin_database_url.partition(":")[0]
    print(
        f"\nrace on {kind}: {trials} trials × {scans} simultaneous scans from {scans} processes "
        f"over {SERVERS} gunicorn servers in {took:.1f} s ({trials * scans / took:.0f} scans/s): "
        + ", ".join(f"{result} {n}" for result, n in tally.most_common())
    )
    assert all(status == 200 for trial in answers for status, _ in trial), tally
    for badge_id_token, trial in zip(badges, answers, strict=True):
        results = sorted(result for _, result in trial)
        assert results == ["admitted"] + ["already_inside"] * (scans - 1), (badge_id_token, trial)

    # The durable log and presence tell the same story: one admission, one presence row.
    sessions = forum.checkin.application.extensions["checkin"].db.sessions
    with sessions() as session:
        venue = session.scalar(select(Area.id).where(Area.code == "venue"))
        ids = [badge_id for badge_id, _ in badges]
        logged = Counter(
            session.execute(select(Scan.badge_id, Scan.result).where(Scan.badge_id.in_(ids))).all()
        )
        present = session.execute(
            select(Presence.badge_id, Presence.area_id, Presence.inside).where(
                Presence.badge_id.in_(ids)
            )
        ).all()
        admitted_gates = dict(
            session.execute(
                select(Scan.badge_id, Scan.gate_id).where(
                    Scan.badge_id.in_(ids), Scan.result == "admitted"
                )
            ).all()
        )
        first_gates = dict(
            session.execute(
                select(Presence.badge_id, Presence.first_gate_id).where(Presence.badge_id.in_(ids))
            ).all()
        )
        active = session.scalar(
            select(func.count()).select_from(ReplicaBadge).where(ReplicaBadge.badge_id.in_(ids))
        )
    assert active == trials
    for badge_id in ids:
        assert logged[(badge_id, "admitted")] == 1
        assert logged[(badge_id, "already_inside")] == scans - 1
    assert sorted(present) == sorted((badge_id, venue, True) for badge_id in ids)
    assert first_gates == admitted_gates
    assert forum.headcount()["inside"] == trials
    rebuilt_equals_live(forum)
