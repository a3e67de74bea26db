"""A checkin database with an event, its areas and gates and any number of badges, written
straight into checkin's tables (no registration, no relay), for the micro benchmarks.

On SQLite it is a file in a temporary directory; on PostgreSQL a scratch database made on the
server `DATABASE_URL` names (the named database itself is never written) and dropped after.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session

from rollcall import databases, processes
from services import checkin
from services.checkin import areas
from services.checkin.models import ReplicaBadge, ReplicaCategory, ReplicaEvent
from shared.badges import BadgeClaim, BadgeSigner, generate_keypair
from shared.config import Settings
from shared.db import Database

EVENT_ID, SLUG = 7, "bench"
CATEGORIES = {"delegate": ("venue", "plenary"), "vip": ("venue", "plenary", "vip-lounge")}
GATES = ("North", "South", "East", "VIP")


@dataclass
class World:
    settings: Settings
    db: Database
    signer: BadgeSigner
    badges: int
    scanner_tokens: dict[str, str]

    def token(self, badge_id: int, version: int = 1) -> str:
        return self.signer.sign(BadgeClaim(EVENT_ID, badge_id, version))


def database_url() -> str:
    return os.environ.get("DATABASE_URL", "sqlite://")


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new, empty database beside `url` (a temporary SQLite file for any sqlite URL)."""
    if url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="rollcall-bench-") as directory:
            yield f"sqlite:///{directory}/checkin.db"
        return
    with databases.scratch_database(url, "rollcall_bench") as scratch:
        yield scratch


# One device scans far faster here than a gate can: the flood guards would refuse it.
NO_LIMITS = dict.fromkeys(
    ("SCAN_RATE_LIMIT", "SCAN_ADDRESS_RATE_LIMIT", "REGISTRATION_RATE_LIMIT", "MANAGE_RATE_LIMIT",
     "AUTH_FAILURE_LIMIT"),
    "0",
)  # fmt: skip


@contextmanager
def scratch_settings(url: str | None = None, **env: str) -> Iterator[tuple[Settings, str]]:
    """Settings for a scratch database (dropped afterwards), a temporary VAR_DIR, a private
    redis-server, a new badge key pair and no flood limits; yields them and the signing key."""
    private, public = generate_keypair()
    with (
        scratch_database(url or database_url()) as scratch,
        tempfile.TemporaryDirectory() as var,
    ):
        redis_url, redis = processes.start_redis(Path(var) / "redis.log")
        try:
            yield (
                Settings.from_env(
                    {
                        "DATABASE_URL": scratch,
                        "VAR_DIR": var,
                        "REDIS_URL": redis_url,
                        "BADGE_SIGNING_KEY": private,
                        "BADGE_VERIFY_KEYS": public,
                        **NO_LIMITS,
                        **env,
                    }
                ),
                private,
            )
        finally:
            processes.stop_process(redis)


@contextmanager
def world(badges: int, url: str | None = None, **env: str) -> Iterator[World]:
    """A migrated scratch database holding one event with `badges` active badges (ids 1…n,
    every tenth a VIP), a venue with four gates and a plenary hall with one door, and a
    private redis-server (the live notices and flood guards talk to it on every scan)."""
    with scratch_settings(url, **env) as (settings, private):
        checkin.migrate(settings)
        database = Database.at(settings.checkin_database_url)
        try:
            with database.sessions.begin() as session:
                tokens = _seed(session, badges)
            yield World(settings, database, BadgeSigner(private), badges, tokens)
        finally:
            database.engine.dispose()


def _seed(session: Session, badges: int) -> dict[str, str]:
    session.add(
        ReplicaEvent(
            id=EVENT_ID, slug=SLUG, name="Bench fair", venue="Hall", timezone="Asia/Shanghai",
            starts_on=date(2023, 12, 7), ends_on=date(2023, 12, 9), announced_sequence=1,
        )
    )  # fmt: skip
    session.add_all(
        ReplicaCategory(event_id=EVENT_ID, code=code, label=code.title(), areas=list(allowed))
        for code, allowed in CATEGORIES.items()
    )
    venue = areas.create_area(session, SLUG, "venue", "Venue", everyone=True)
    plenary = areas.create_area(session, SLUG, "plenary", "Plenary hall", capacity=badges)
    tokens = {}
    for name in GATES:
        gate = areas.create_gate(session, SLUG, name, venue)
        tokens[name] = areas.issue_scanner_token(session, gate, f"{name} bench")
    door = areas.create_gate(session, SLUG, "Plenary door", plenary)
    tokens["Plenary door"] = areas.issue_scanner_token(session, door, "plenary bench")
    for start in range(1, badges + 1, 10_000):
        session.execute(
            insert(ReplicaBadge),
            [
                {
                    "badge_id": i,
                    "event_id": EVENT_ID,
                    "registration_id": i,
                    "revision": 1,
                    "version": 1,
                    "status": "active",
                    "status_reason": None,
                    "display_name": f"Delegate {i}",
                    "search_text": f"delegate {i}",
                    "category": "vip" if i % 10 == 0 else "delegate",
                    "country": "CN",
                }  # fmt: skip
                for i in range(start, min(start + 10_000, badges + 1))
            ],
        )
    return tokens
