"""Seconds to sync 5,000 offline scans from one device through `POST /api/v1/scans/batch`, and
to send the same batch again (answered from the log), on the database DATABASE_URL names
(a scratch database beside it; a temporary SQLite file by default).

    .venv/bin/python -m bench.micro.offline_sync [--runs 3] [--badges 5000]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python -m bench.micro.offline_sync

The queue is a gate's morning: 4,000 first entries of distinct badges, 500 exits, 250
re-entries, 150 badges scanned twice, 50 genuine badges the replica does not know and 50
damaged codes. Every answer is checked; a wrong count fails the run. Beside the wall time it
prints this
process's CPU time, which other load on a shared machine disturbs less.
"""

from __future__ import annotations

import argparse
import functools
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.micro.world import World, world
from services import checkin

EXPECTED = Counter(
    admitted=4250, exited=500, already_inside=150, unknown=50, invalid=50
)  # fmt: skip


def morning_queue(w: World) -> list[dict]:
    """5,000 queued scans in device-time order, one second apart, two hours ago."""
    start = datetime.now(UTC) - timedelta(hours=2)
    plan: list[tuple[str, str]] = [(w.token(i), "in") for i in range(1, 4001)]
    plan[1000:1000] = [(w.token(i), "out") for i in range(1, 501)]
    plan[3000:3000] = [(w.token(i), "in") for i in range(1, 251)]
    plan += [(w.token(i), "in") for i in range(3001, 3151)]
    plan += [(w.token(900_000 + i), "in") for i in range(50)]
    plan += [("X" * 122, "in") for _ in range(50)]
    return [
        {
            "id": str(uuid.uuid4()),
            "token": token,
            "direction": direction,
            "scanned_at": (start + timedelta(seconds=n)).isoformat(),
        }
        for n, (token, direction) in enumerate(plan)
    ]


def timed(call):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run(badges: int) -> tuple[tuple[float, float], tuple[float, float]]:
    with world(badges) as w:
        queue = morning_queue(w)
        client = checkin.create_app(w.settings).test_client()
        headers = {"Authorization": f"Bearer {w.scanner_tokens['North']}"}
        post = functools.partial(
            client.post, "/api/v1/scans/batch", json={"scans": queue}, headers=headers
        )
        first, *took = timed(post)
        assert first.status_code == 200, first.get_json()
        got = Counter(r["result"] for r in first.get_json()["results"])
        assert got == EXPECTED, f"wrong outcomes: {got}"
        again, *again_took = timed(post)
        assert again.get_json()["results"] == first.get_json()["results"]
        client.application.extensions["checkin"].db.engine.dispose()
        return tuple(took), tuple(again_took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--badges", type=int, default=5000, help="badges in the replica")
    args = parser.parse_args()
    for n in range(1, args.runs + 1):
        (took, cpu), (again, again_cpu) = run(args.badges)
        print(
            f"run {n}: 5,000 scans synced in {took:.2f} s (CPU {cpu:.2f} s), "
            f"sent again in {again:.2f} s (CPU {again_cpu:.2f} s)"
        )


if __name__ == "__main__":
    main()
