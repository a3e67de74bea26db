"""The system under test, as deployed: every process of the Procfile (gunicorn with its workers,
relays, Celery workers, beat, the SMTP sink) through rollcall.cluster, on a private Redis and a
scratch database (SQLite, or a database of its own on the PostgreSQL server named), with the
demo event seeded by the product's own `demo.seed`.

Badges for the scan sections are written straight into checkin's replica with the product's
model (`ReplicaBadge`, bulk inserts) rather than registered one by one: 200,000 registrations
would mean 200,000 badge mails and relayed events, an hour on this machine. The event itself,
its categories, areas, gates and tokens come through the product's paths (registration's
outbox → relay → checkin worker), so the replica is what a real one looks like.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import redis
from sqlalchemy import func, insert, select

from rollcall import databases, demo, processes
from rollcall.cluster import Cluster
from services import checkin, notify, registration
from services.checkin import areas
from services.checkin.models import ReplicaBadge, ReplicaCategory, ReplicaEvent
from services.registration import event_setup
from services.registration.event_setup import CategorySpec, EventSpec
from shared import db
from shared.badges import BadgeClaim, BadgeSigner, generate_keypair
from shared.config import Settings

POSTGRES_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
QUEUES = ("checkin", "registration", "notify")  # the Celery queues (shared/events.py)
FIRST_SEEDED_BADGE = 1_000_000  # far above the ids registration hands out meanwhile
UNREACHED = str(10**9)  # a flood limit that counts every request and refuses none
# An event without capacity limits for the registration section (the forum's fill up).
OPEN_EVENT = EventSpec(
    slug="bench-open",
    name="Bench open registration",
    venue="Loopback hall",
    timezone="UTC",
    starts_on=date(2023, 12, 7),
    ends_on=date(2023, 12, 9),
    categories=(CategorySpec("delegate", "Delegate", None, False, ("venue",)),),
)
# Settings a developer's shell may carry that would point the bench at something else.
FOREIGN = (
    "REGISTRATION_DATABASE_URL",
    "CHECKIN_DATABASE_URL",
    "NOTIFY_DATABASE_URL",
    "MAIL_DIR",
    "REGISTRATION_URL",
    "CHECKIN_URL",
    "FEED_URL",
    "PROTOCOL_EMAIL",
    "ORGANISER_EMAIL",
    "PROTOCOL_PHONE",
    "SMS_GATEWAY_URL",
)


@dataclass
class System:
    cluster: Cluster
    settings: Settings
    signer: BadgeSigner
    event_id: int
    organizer_token: str
    scanner_tokens: dict[str, str]
    work_dir: Path
    # The open event: nothing but the section using it moves anyone there (the live stream).
    open_event: tuple[int, str, str] = (0, "", "")  # replica id, organiser token, gate token
    seeded: int = 0  # badges written into the replica so far
    # The servers beside the cluster whose CPU is counted too: the private Redis, and the
    # PostgreSQL server when it runs on this machine (its postmaster; None on SQLite).
    servers: dict[str, int | None] = field(default_factory=dict)

    def url(self, kind: str) -> str:
        return self.cluster.urls(kind)[0]

    def token(self, badge_id: int, version: int = 1, event_id: int | None = None) -> str:
        return self.signer.sign(BadgeClaim(event_id or self.event_id, badge_id, version))

    def seed_badges(self, count: int, event_id: int | None = None) -> range:
        """`count` more active badges in the replica (the forum's, unless another event is
        named); returns their ids."""
        start = FIRST_SEEDED_BADGE + self.seeded
        ids = range(start, start + count)
        database = db.Database.at(self.settings.checkin_database_url)
        try:
            for chunk in range(ids.start, ids.stop, 10_000):
                chunk_ids = range(chunk, min(chunk + 10_000, ids.stop))
                rows = [_badge_row(event_id or self.event_id, i) for i in chunk_ids]
                with database.sessions.begin() as session:
                    session.execute(insert(ReplicaBadge), rows)
        finally:
            database.engine.dispose()
        self.seeded += count
        return ids

    def drain(self, timeout: float) -> dict:
        """Wait until the Celery queues are empty and no task is in hand (the last section's
        events worked off), at most `timeout` s; returns how long it took and what was left."""
        client = redis.Redis.from_url(self.settings.redis_url)
        started, left = time.monotonic(), -1
        try:
            while time.monotonic() - started < timeout:
                left = sum(client.llen(q) for q in QUEUES) + client.hlen("unacked")
                if left == 0:
                    break
                time.sleep(0.2)
        finally:
            client.close()
        return {"seconds": round(time.monotonic() - started, 1), "tasks_left": left}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user and system) each process of the cluster, the private Redis and a
        local PostgreSQL server have used so far, their children included (a PostgreSQL
        backend's whole life, once its connection closed); and `machine`, every core's busy
        time since boot (the load generator and any other work are the difference)."""
        pids = {**self.cluster.pids(), **self.servers}
        used = {name: _cpu_of_tree(pid) for name, pid in pids.items() if pid is not None}
        return {**used, "machine": _machine_busy()}

    def memory(self) -> dict[str, float]:
        """Resident memory (MB) of each process of the cluster, its children included."""
        pids = self.cluster.pids()
        return {name: round(_rss_of_tree(pid) / 2**20, 1) for name, pid in pids.items()}


def _badge_row(event_id: int, badge_id: int) -> dict:
    category = "mayor" if badge_id % 10 == 0 else "delegate"
    return {
        "badge_id": badge_id,
        "event_id": event_id,
        "registration_id": badge_id,
        "revision": 1,
        "version": 1,
        "status": "active",
        "status_reason": None,
        "display_name": f"Delegate {badge_id}",
        "search_text": f"delegate {badge_id}",
        "category": category,
        "country": "CN",
    }


@contextmanager
def scratch_database(kind: str, directory: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file in `directory`, or one of its own on the
    PostgreSQL server `kind` names ("postgresql": TEST_POSTGRES_URL's), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'rollcall.db'}"
        return
    admin = POSTGRES_ADMIN if kind == "postgresql" else kind
    with databases.scratch_database(admin, "rollcall_bench") as url:
        yield url


@contextmanager
def running_system(
    database: str, web_workers: int | None = None, logs: Path | None = None
) -> Iterator[System]:
    """Start everything, seed the forum and wait until checkin's replica has it; stop it all
    afterwards."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rollcall-bench-")))
        url = stack.enter_context(scratch_database(database, work))
        redis_url, redis_process = processes.start_redis(work / "redis.log")
        stack.callback(processes.stop_process, redis_process)
        private, public = generate_keypair()
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN}
        env.update(
            {
                "DATABASE_URL": url,
                "REDIS_URL": redis_url,
                "VAR_DIR": str(work / "var"),
                "BADGE_SIGNING_KEY": private,
                "BADGE_VERIFY_KEYS": public,
                "MANAGE_LINK_KEY": secrets.token_hex(32),
                "WEBHOOK_SECRET_KEY": secrets.token_hex(32),
                "SMTP_PORT": str(processes.free_port()),
                "REGISTRATION_PORT": str(processes.free_port()),
                "CHECKIN_PORT": str(processes.free_port()),
                "NOTIFY_PORT": str(processes.free_port()),
                # One loopback address and a few tokens play every gate and every delegate, far
                # faster than people: the flood limits would answer 429. They stay on, counting
                # as in production, with allowances no run reaches. And mail is measured, not
                # throttled (a deployment's SMTP relay sets its own pace).
                "REGISTRATION_RATE_LIMIT": UNREACHED,
                "SCAN_RATE_LIMIT": UNREACHED,
                "SCAN_ADDRESS_RATE_LIMIT": UNREACHED,
                "MANAGE_RATE_LIMIT": UNREACHED,
                "NOTIFY_MAIL_RATE": "0",
                "LOG_LEVEL": "WARNING",
            }
        )
        settings = Settings.from_env(env)
        for service in (registration, checkin, notify):
            service.migrate(settings)
        credentials = demo.seed(settings)
        open_tokens = _open_event(settings)
        cluster = stack.enter_context(
            Cluster(env, logs or work / "logs", smtp_sink=True, web_workers=web_workers)
        )
        event_id = _wait_for_replica(settings, demo.FORUM.slug)
        open_id = _wait_for_replica(settings, OPEN_EVENT.slug)
        yield System(
            cluster,
            settings,
            BadgeSigner(private),
            event_id,
            credentials["organizer_token"],
            credentials["scanner_tokens"],
            work,
            (open_id, *open_tokens),
            servers={"redis": redis_process.pid, "postgresql": _postmaster(url)},
        )


def _open_event(settings: Settings) -> tuple[str, str]:
    """The open event in registration, and a gate to its venue in checkin (the product's
    own functions); returns its organiser token and the gate's scanner token."""
    database = db.Database.at(settings.registration_database_url)
    try:
        with database.sessions.begin() as session:
            organizer = event_setup.create_event(session, OPEN_EVENT).organizer_token
    finally:
        database.engine.dispose()
    database = db.Database.at(settings.checkin_database_url)
    try:
        with database.sessions.begin() as session:
            venue = areas.ensure_area(session, OPEN_EVENT.slug, "venue", "Venue", everyone=True)
            gate = areas.create_gate(session, OPEN_EVENT.slug, "Main", venue)
            scanner = areas.issue_scanner_token(session, gate, "bench")
    finally:
        database.engine.dispose()
    return organizer, scanner


def _wait_for_replica(settings: Settings, slug: str, timeout: float = 60) -> int:
    """The event's id once checkin's replica has it and its categories (relayed events)."""
    database = db.Database.at(settings.checkin_database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with database.reads() as session:
                event = session.scalar(select(ReplicaEvent).where(ReplicaEvent.slug == slug))
                if event is not None and session.scalar(
                    select(func.count()).where(ReplicaCategory.event_id == event.id)
                ):
                    return event.id
            time.sleep(0.1)
    finally:
        database.engine.dispose()
    raise TimeoutError(f"checkin's replica did not receive {slug} within {timeout} s")


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of_tree(pid: int) -> float:
    total = 0
    for member in [pid, *processes.descendants(pid)]:
        stat = _stat(member)
        if stat:  # utime, stime, and the children it has waited for (cutime, cstime)
            total += int(stat[11]) + int(stat[12]) + int(stat[13]) + int(stat[14])
    return total / _TICKS


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command's name (from the state on), or []."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat[stat.rindex(")") + 2 :].split()


def _postmaster(url: str) -> int | None:
    """The pid of the PostgreSQL server behind `url` when it runs on this machine (the
    parent of the backend serving a connection), else None."""
    if not url.startswith("postgresql"):
        return None
    database = db.Database.at(url)
    try:
        with database.engine.connect() as connection:  # the backend lives while it is open
            stat = _stat(connection.scalar(select(func.pg_backend_pid())))
    finally:
        database.engine.dispose()
    return int(stat[1]) if stat and "postgres" in _command(int(stat[1])) else None


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return ""


def _machine_busy() -> float:
    """Seconds every core has been busy since boot (/proc/stat: all but idle and iowait)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICKS


def _rss_of_tree(pid: int) -> int:
    total = 0
    for member in [pid, *processes.descendants(pid)]:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total
