"""Races against real servers, for tests/integration/test_races.py.

`running_stack` starts what a race needs as the Procfile runs it (rollcall.cluster): the
registration and checkin web services on gunicorn with their workers, registration's outbox
relay and checkin's Celery worker, on a private Redis and a database of either kind, with the
demo event seeded. `race` runs client programs in processes of their own, released together by
a barrier each round. The programs below are what the clients do; they import nothing of the
product, so a client process starts fast and shares nothing with the servers but HTTP."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

BARRIER_SECONDS = 60  # a client that waits longer than this for the others has hung: fail
REQUEST_SECONDS = 30
RATE_LIMITS = ("REGISTRATION_RATE_LIMIT", "MANAGE_RATE_LIMIT", "AUTH_FAILURE_LIMIT",
               "SCAN_RATE_LIMIT", "SCAN_ADDRESS_RATE_LIMIT")  # fmt: skip
# forkserver: each client is forked from a clean server process that imported this module
# once, so none inherits the test's threads, sockets or database connections, and starting
# eight of them costs milliseconds, not the seconds a spawned interpreter takes.
CLIENTS = multiprocessing.get_context("forkserver")
CLIENTS.set_forkserver_preload(["requests", __name__])

Program = tuple[Callable, tuple]
"""A client: `function(session, round, *args)`, called once a round right after the barrier;
its return values, one a round, come back from `race`."""


# --- running clients ------------------------------------------------------------------------


def _client(index: int, program: Program, rounds: int, barrier, results) -> None:
    function, args = program
    answers = []
    try:
        with requests.Session() as session:
            for round_ in range(rounds):
                barrier.wait(BARRIER_SECONDS)
                answers.append(function(session, round_, *args))
    except Exception as exc:  # reported to the test, which fails with it
        results.put((index, f"client {index} failed: {exc!r}"))
        barrier.abort()
        return
    results.put((index, answers))


def race(programs: list[Program], rounds: int) -> list[list]:
    """Run each program in a process of its own for `rounds` rounds, every round released
    together; returns each program's answers, round by round."""
    barrier, results = CLIENTS.Barrier(len(programs)), CLIENTS.Queue()
    processes = [
        CLIENTS.Process(target=_client, args=(i, program, rounds, barrier, results), daemon=True)
        for i, program in enumerate(programs)
    ]
    for process in processes:
        process.start()
    try:
        collected = dict(results.get(timeout=60 + 10 * rounds) for _ in processes)
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
    failed = [answer for answer in collected.values() if isinstance(answer, str)]
    assert not failed, failed
    return [collected[i] for i in range(len(programs))]


# --- what clients do --------------------------------------------------------------------------


def call(session, method: str, url: str, token: str | None = None, body=None) -> tuple[int, dict]:
    """One HTTP call: its status and JSON body; (0, {"error": name}) when no answer came.
    A connection each: a kept-alive one that the server closes as a round begins would fail
    a request that was never sent (and a POST cannot be retried blindly)."""
    headers = {"Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = session.request(method, url, json=body, headers=headers, timeout=REQUEST_SECONDS)
        return response.status_code, response.json()
    except (requests.RequestException, ValueError) as exc:
        return 0, {"error": type(exc).__name__}


def outcome(status: int, body: dict) -> str:
    """What an answer says in one word: a status, a scan's result, or an error's code."""
    if status // 100 == 2:
        return body.get("result") or body.get("status") or str(status)
    error = body.get("error")
    return error.get("code", str(status)) if isinstance(error, dict) else str(error or status)


def post_as(session, round_: int, url: str, targets: list[tuple], bodies: list) -> tuple:
    """POST `bodies[round_]` to `url`, its `{}` filled with the round's target, with the
    round's token (`targets[round_]` is both): (status, outcome, id)."""
    return send_as(session, round_, "POST", url, targets, bodies)


def send_as(
    session, round_: int, method: str, url: str, targets: list[tuple], bodies: list
) -> tuple:
    """`post_as` with another method (an organiser's PATCH)."""
    target, token = targets[round_]
    status, body = call(session, method, url.format(target), token, bodies[round_])
    return status, outcome(status, body), body.get("id")


def scan_each(session, round_: int, url: str, scanner: str, tokens: list[list[str]]) -> list:
    """Scan each of the round's tokens in; [(token, outcome)] in the order scanned."""
    answers = []
    for token in tokens[round_]:
        status, body = call(session, "POST", f"{url}/api/v1/scans", scanner, {"token": token})
        answers.append((token, outcome(status, body)))
    return answers


def scan_until_refused(
    session, round_: int, url: str, scanner: str, tokens: list[str], seconds: float
) -> list[tuple[float, float, str]]:
    """Scan the round's (old) token again and again until a gate says `revoked`, for at most
    `seconds`: [(start, end, outcome)], times on the machine's monotonic clock."""
    answers, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        status, body = call(
            session, "POST", f"{url}/api/v1/scans", scanner, {"token": tokens[round_]}
        )
        answers.append((started, time.monotonic(), outcome(status, body)))
        if answers[-1][2] == "revoked":
            break
    return answers


def reissue_then_scan(
    session, round_: int, registration_url: str, checkin_url: str, organiser: str,
    scanner: str, ids: list[int], newest: list[str], times: int,
) -> dict:  # fmt: skip
    """Reissue the round's badge `times` times (an organiser clicking again), then scan the
    newest badge (`newest[round_]`) once: when the first acknowledgement came, and what the
    gate said to the new badge."""
    url = f"{registration_url}/api/v1/registrations/{ids[round_]}/badge/reissue"
    acknowledged = None
    for _ in range(times):
        status, body = call(session, "POST", url, organiser)
        if status != 200:
            return {"acknowledged": acknowledged, "error": outcome(status, body)}
        acknowledged = acknowledged or time.monotonic()
    status, body = call(
        session, "POST", f"{checkin_url}/api/v1/scans", scanner, {"token": newest[round_]}
    )
    return {"acknowledged": acknowledged, "newest": outcome(status, body)}


def sync_batch(
    session, round_: int, url: str, scanner: str, tokens: list[list[str]], offsets: list[list]
) -> tuple[int, list[tuple[str, str, int | None]]]:
    """A scanner back from offline syncs its queue: the round's tokens, each scanned in at
    now + its offset (s) by the device's clock. (status, [(token, result, conflict id)])."""
    now = datetime.now(UTC)
    queue = [
        {"id": str(uuid.uuid4()), "token": token, "direction": "in",
         "scanned_at": (now + timedelta(seconds=offset)).isoformat()}
        for token, offset in zip(tokens[round_], offsets[round_], strict=True)
    ]  # fmt: skip
    status, body = call(session, "POST", f"{url}/api/v1/scans/batch", scanner, {"scans": queue})
    results = body.get("results") or []
    return status, [(s["token"], r["result"], r.get("conflict"))
                    for s, r in zip(queue, results, strict=False)]  # fmt: skip


# --- the stack --------------------------------------------------------------------------------


@dataclass
class Stack:
    """The running services and what a race needs to talk to them."""

    kind: str  # sqlite or postgresql
    settings: object  # shared.config.Settings
    registration_url: str
    checkin_url: str
    organizer_token: str
    scanner_tokens: dict[str, str]
    db: object  # shared.db.Database: the one database every service of the stack uses
    signer: object  # shared.badges.BadgeSigner: signs badges as registration does


@contextmanager
def running_stack(kind: str, database_url: str, directory: Path, badge_keys) -> Iterator[Stack]:
    """registration, checkin, registration's relay and checkin's worker, as the Procfile runs
    them, on `database_url` (migrated) and a Redis of their own; the demo event seeded."""
    from rollcall import demo
    from rollcall.cluster import Cluster
    from shared.badges import BadgeSigner
    from shared.config import Settings
    from shared.db import Database
    from tests.support.processes import free_port, start_redis, stop_process

    redis_url, redis_process = start_redis()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith(("REDIS_URL", "DATABASE_URL"))},
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VAR_DIR": str(directory / "var"),
        "BADGE_SIGNING_KEY": badge_keys[0],
        "BADGE_VERIFY_KEYS": badge_keys[1],
        "REGISTRATION_PORT": str(port),
        "FEED_URL": f"http://127.0.0.1:{port}",
        # Every client is 127.0.0.1 and a few devices scan a lot: the limits have tests of
        # their own, and a 429 here would hide the race.
        **dict.fromkeys(RATE_LIMITS, "0"),
        "LOG_LEVEL": "WARNING",
    }
    database = Database.at(database_url)
    try:
        settings = Settings.from_env(env)
        credentials = demo.seed(settings)
        only = ["registration", "checkin", "registration_relay", "checkin_worker"]
        with Cluster(env, directory / "logs", only=only) as cluster:
            try:
                yield Stack(
                    kind=kind,
                    settings=settings,
                    registration_url=cluster.urls("registration")[0],
                    checkin_url=cluster.urls("checkin")[0],
                    organizer_token=credentials["organizer_token"],
                    scanner_tokens=credentials["scanner_tokens"],
                    db=database,
                    signer=BadgeSigner(badge_keys[0]),
                )
            finally:  # nothing of a race's servers is worth a graceful shutdown
                for name in cluster.members:
                    cluster.kill(name)
    finally:
        database.engine.dispose()
        stop_process(redis_process)
