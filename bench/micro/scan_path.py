"""One gate scanning, one request after another, through `POST /api/v1/scans` in-process: SQL
statements a scan, latency (p50/p99) and this process's CPU time a scan, for first entries,
repeats (already inside) and exits, with 800 and with 200,000 badges in the replica.

    .venv/bin/python -m bench.micro.scan_path [--badges 800 200000] [--scans 500] [--explain]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.micro.scan_path

`--explain` prints the database's plan for every statement of one admission at the largest
size, and names any that reads a whole table (the p99 at 200,000 badges stays that of 800
only if none does). Every answer is checked; a wrong result fails the run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from bench.micro.world import World, world
from services import checkin

KINDS = (("first entry", "in", "admitted"), ("repeat", "in", "already_inside"))
KINDS += (("exit", "out", "exited"),)


@contextmanager
def statements(engine) -> Iterator[list[tuple[str, object]]]:
    """Every statement sent to the database meanwhile (an executemany counts once)."""
    sent: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def measure(w: World, scans: int) -> dict[str, dict[str, float]]:
    app = checkin.create_app(w.settings)
    client, engine = app.test_client(), app.extensions["checkin"].db.engine
    headers = {"Authorization": f"Bearer {w.scanner_tokens['North']}"}
    chosen = random.Random(7).sample(range(1, w.badges + 1), min(w.badges, scans + 50))
    warm, measured = chosen[:50], chosen[50:]
    for badge in warm:
        client.post("/api/v1/scans", json={"token": w.token(badge)}, headers=headers)
    figures = {}
    for kind, direction, expected in KINDS:
        latencies, cpu = [], time.process_time()
        with statements(engine) as sent:
            for badge in measured:
                body = {"token": w.token(badge), "direction": direction}
                started = time.perf_counter()
                answer = client.post("/api/v1/scans", json=body, headers=headers).get_json()
                latencies.append(time.perf_counter() - started)
                assert answer["result"] == expected, answer
        latencies.sort()
        figures[kind] = {
            "statements": len(sent) / len(measured),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "cpu_ms": 1000 * (time.process_time() - cpu) / len(measured),
        }
    engine.dispose()
    return figures


def explain(w: World) -> None:
    """The plan of each statement one admission sends, on this database."""
    app = checkin.create_app(w.settings)
    client, engine = app.test_client(), app.extensions["checkin"].db.engine
    headers = {"Authorization": f"Bearer {w.scanner_tokens['North']}"}
    with statements(engine) as sent:
        answer = client.post(
            "/api/v1/scans", json={"token": w.token(w.badges // 2)}, headers=headers
        )
    assert answer.get_json()["result"] == "admitted", answer.get_json()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        for statement, parameters in sent:
            if statement.strip().upper().startswith(("BEGIN", "COMMIT", "SELECT 1")):
                continue
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = [" ".join(map(str, r)) for r in raw.execute(prefix + statement, parameters)]
            flag = "  <-- reads a whole table" if any(map(_is_full, plan)) else ""
            print(f"\n{' '.join(statement.split())[:160]}{flag}")
            for line in plan:
                print(f"    {line}")
    engine.dispose()


def _is_full(line: str) -> bool:
    upper = line.upper()
    return "SEQ SCAN" in upper or ("SCAN " in upper and "INDEX" not in upper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--badges", type=int, nargs="+", default=[800, 200_000])
    parser.add_argument("--scans", type=int, default=500, help="scans of each kind")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    for size in args.badges:
        with world(size) as w:
            for kind, f in measure(w, args.scans).items():
                print(
                    f"{size:>7} badges, {kind:<11}: {f['statements']:.1f} statements, "
                    f"p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms, "
                    f"CPU {f['cpu_ms']:.2f} ms a scan"
                )
            if args.explain and size == max(args.badges):
                explain(w)


if __name__ == "__main__":
    main()
