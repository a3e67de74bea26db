"""The gate sections: scan (the forum's 800 badges), baseline (a bare endpoint on the same
gunicorn settings) and scale (200,000 badges in the replica, and each process's memory).

Between two runs the organisers' close-day checks out whoever is still inside, so every run
starts with every badge outside, as its plans expect (bench/plans.py)."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select

from bench import bare, plans
from bench.load import SCAN_SCRIPT, Run, run_wrk
from bench.system import System
from services.checkin.models import Scan
from shared import db

UNKNOWN_BADGES = 500_000  # genuine signatures, ids no replica holds


def scan_runs(
    system: System,
    badges: Sequence[int],
    concurrencies: Sequence[int],
    seconds: float,
    plan_dir: Path,
    seed: int = 7,
) -> list[Run]:
    """One wrk run a concurrency, every answer checked. Each run scans a share of `badges` of
    its own, so a request the last run gave up on (answered late, on a loaded machine) cannot
    change what this run's plans expect."""
    rng = random.Random(seed)
    unknown_ids = iter(range(UNKNOWN_BADGES, UNKNOWN_BADGES + 10**6))
    gates = list(system.scanner_tokens.values())
    runs = []
    shares = plans.split(badges, len(concurrencies))
    for connections, of_run in zip(concurrencies, shares, strict=True):
        reset_presence(system)
        steps = [
            plans.cycle(share, system.token, lambda: system.token(next(unknown_ids)), rng)
            for share in plans.split(of_run, connections)
        ]
        directory = plan_dir / f"c{connections}"
        plans.write(directory, steps, gates)
        runs.append(
            run_wrk(system.url("checkin"), SCAN_SCRIPT, connections, seconds, str(directory))
        )
    reset_presence(system)
    return runs


def baseline_runs(
    system: System, concurrencies: Sequence[int], seconds: float, plan_dir: Path
) -> list[Run]:
    """The same requests, answered by the bare endpoint (bench/bare.py)."""
    token = system.token(1)
    runs = []
    with bare.serving(system.cluster.log_dir / "bare.log") as url:
        for connections in concurrencies:
            steps = [[plans.Step(token, "in", "bare")] for _ in range(connections)]
            directory = plan_dir / f"bare-c{connections}"
            plans.write(directory, steps, ["not-checked"])
            runs.append(run_wrk(url, SCAN_SCRIPT, connections, seconds, str(directory)))
    return runs


def reset_presence(
    system: System,
    slug: str = "gmf2023",
    token: str | None = None,
    settle: float = 0.5,
    timeout: float = 30,
) -> int:
    """Once no scan has arrived for `settle` s (the last run's stragglers), check everyone
    out through the organisers' close-day; returns how many were inside."""
    database = db.Database.at(system.settings.checkin_database_url)
    try:
        deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
        while time.monotonic() < deadline:
            with database.reads() as session:
                count = session.scalar(select(func.count()).select_from(Scan))
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= settle:
                break
            time.sleep(0.05)
    finally:
        database.engine.dispose()
    answer = post_json(
        f"{system.url('checkin')}/api/v1/events/{slug}/close-day",
        {},
        token or system.organizer_token,
    )
    return answer["checked_out"]


def post_json(url: str, body: dict, token: str | None = None, timeout: float = 60) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)
