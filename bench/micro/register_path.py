"""Delegates registering one after another through `POST /api/v1/events/<slug>/registrations`
in-process: SQL statements a registration, those sent under a lock that only one registration
of the event holds at a time (the event's row for update, or the seat lock), latency (p50/p99)
and this process's CPU time a registration, for an open event (no capacity), a category with
a capacity, and with an `Idempotency-Key`.

    .venv/bin/python -m bench.micro.register_path [--registrations 500] [--show]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.micro.register_path

`--show` prints the statements of one registration of each kind. Every answer is checked; a
wrong status fails the run.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from bench.micro.scan_path import statements
from bench.micro.world import scratch_settings
from services import registration
from services.registration import event_setup
from services.registration.event_setup import CategorySpec, EventSpec
from shared.db import Database

SLUG = "bench-register"
# name, category, Idempotency-Key?, the status every answer must have
KINDS = (
    ("open", "delegate", False, "confirmed"),
    ("capacity", "limited", False, "confirmed"),
    ("idempotent", "delegate", True, "confirmed"),
)


@contextmanager
def registration_app(url: str | None = None):
    """registration's app on a migrated scratch database holding one event: a category
    without a capacity and one with room for every registration this run makes."""
    with scratch_settings(url) as (settings, _private):
        registration.migrate(settings)
        database = Database.at(settings.registration_database_url)
        spec = EventSpec(
            slug=SLUG, name="Bench registration", venue="Hall", timezone="UTC",
            starts_on=date(2023, 12, 7), ends_on=date(2023, 12, 9),
            categories=(CategorySpec("delegate", "Delegate"),
                        CategorySpec("limited", "Limited", capacity=1_000_000)),
        )  # fmt: skip
        try:
            with database.sessions.begin() as session:
                event_setup.create_event(session, spec)
        finally:
            database.engine.dispose()
        app = registration.create_app(settings)
        try:
            yield app
        finally:
            app.extensions["registration"].db.engine.dispose()


def body(category: str) -> dict:
    tag = uuid.uuid4().hex[:10]
    return {
        "given_name": f"Clara {tag}", "family_name": "Bench", "email": f"{tag}@bench.example.org",
        "organisation": "Bench", "city": "Guangzhou", "country": "CN", "category": category,
        "language": "en", "consent": True,
    }  # fmt: skip


def exclusive(sent: list[tuple[str, object]]) -> int:
    """Statements from the first one that takes a lock only one registration of the event
    holds at a time (its row for update, or the seat lock) to the end of the transaction."""
    starts = [
        i
        for i, (s, _) in enumerate(sent)
        if ("FROM events" in s and "FOR UPDATE" in s) or "pg_advisory_xact_lock" in s
    ]
    return 0 if not starts else len(sent) - starts[0]


def measure(app, count: int) -> Iterator[tuple[str, dict[str, float]]]:
    client, engine = app.test_client(), app.extensions["registration"].db.engine
    path = f"/api/v1/events/{SLUG}/registrations"
    for _ in range(20):  # warm: the first requests build schemas and fill the pool
        assert client.post(path, json=body("delegate")).status_code == 201
    for kind, category, keyed, expected in KINDS:
        latencies, locked, cpu = [], 0, time.process_time()
        with statements(engine) as sent:
            for _ in range(count):
                headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
                before = len(sent)
                started = time.perf_counter()
                answer = client.post(path, json=body(category), headers=headers)
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 201, answer.get_json()
                assert answer.get_json()["status"] == expected, answer.get_json()
                locked += exclusive(sent[before:])
        latencies.sort()
        yield (
            kind,
            {
                "statements": len(sent) / count,
                "locked": locked / count,
                "p50_ms": 1000 * statistics.median(latencies),
                "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
                "cpu_ms": 1000 * (time.process_time() - cpu) / count,
            },
        )


def show(app) -> None:
    client, engine = app.test_client(), app.extensions["registration"].db.engine
    path = f"/api/v1/events/{SLUG}/registrations"
    for kind, category, keyed, _expected in KINDS:
        headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
        with statements(engine) as sent:
            client.post(path, json=body(category), headers=headers)
        print(f"\n{kind}:")
        for statement, _ in sent:
            print(f"    {' '.join(statement.split())[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=500, help="of each kind")
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args()
    with registration_app() as app:
        for kind, f in measure(app, args.registrations):
            print(
                f"{kind:<10}: {f['statements']:.1f} statements and the commit ({f['locked']:.1f} "
                f"under an exclusive lock), p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms, "
                f"CPU {f['cpu_ms']:.2f} ms a registration"
            )
        if args.show:
            show(app)


if __name__ == "__main__":
    main()
