"""The system a rehearsal drives: one already running (its URLs, an organiser token, where its
mail lands), or a private one started here with `rollcall.cluster` (the Procfile's processes,
`replicas` of each, on a private Redis and database, with the SMTP sink)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rollcall import demo, processes
from rollcall.cluster import Cluster
from rollcall.rehearse.client import Api
from services import checkin, notify, registration
from shared.badges import ensure_keypair
from shared.config import Settings

# Variables of the caller's environment that would point the private system elsewhere.
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "_PORT", "_URL", "MAIL_DIR", "VAR_DIR", "SMTP_")


@dataclass
class Target:
    api: Api
    organizer_token: str
    mail_dir: Path
    checkin_database_url: str | None = None  # to read the scan log; None: not reachable
    description: str = ""


def running_system(
    registration_urls: list[str],
    checkin_urls: list[str],
    organizer_token: str,
    mail_dir: Path,
    checkin_database_url: str | None = None,
) -> Target:
    api = Api({"registration": registration_urls, "checkin": checkin_urls})
    where = f"running system at {', '.join(registration_urls + checkin_urls)}"
    return Target(api, organizer_token, mail_dir, checkin_database_url, where)


def from_demo_json(path: Path) -> dict:
    """The URLs, organiser token and mail directory `rollcall run` wrote to var/demo.json."""
    demo_data = json.loads(path.read_text())
    urls = demo_data["urls"]
    return {
        "registration_urls": [urls["registration"]],
        "checkin_urls": [urls["checkin"]],
        "organizer_token": demo_data["organizer_token"],
        "mail_dir": Path(urls["mail"]),
    }


@contextmanager
def own_system(
    work_dir: Path,
    database_url: str | None = None,
    replicas: int = 1,
    web_workers: int | None = None,
) -> Iterator[Target]:
    """Start a private system (SQLite files in `work_dir` unless `database_url`), yield it as a
    Target, and stop every process it started. With replicas, each web replica is one process
    (`web_workers`, unless given): two replicas are two processes, as the issue asks."""
    var = work_dir / "var"
    redis_url, redis_process = processes.start_redis(work_dir / "redis.log")
    try:
        env = {k: v for k, v in os.environ.items() if not _points_elsewhere(k)}
        env.update(
            VAR_DIR=str(var),
            REDIS_URL=redis_url,
            SMTP_PORT=str(processes.free_port()),
            REGISTRATION_PORT=str(processes.free_port()),
            CHECKIN_PORT=str(processes.free_port()),
            NOTIFY_PORT=str(processes.free_port()),
            REGISTRATION_RATE_LIMIT="0",  # every delegate registers from this one address
            MANAGE_RATE_LIMIT="0",  # and every badge is fetched from it (--badges api)
            NOTIFY_MAIL_RATE="0",  # the sink is local: no provider's rate to respect
            RELAY_INTERVAL="0.1",
            PROTOCOL_EMAIL="",
            ORGANISER_EMAIL="",
        )
        if database_url:
            env["DATABASE_URL"] = database_url
        settings = Settings.from_env(env)
        settings.mail_dir.mkdir(parents=True, exist_ok=True)
        ensure_keypair(settings.keys_dir)
        for service in (registration, checkin, notify):
            service.migrate(settings)
        token = demo.seed(settings)["organizer_token"]
        if web_workers is None and replicas > 1:
            web_workers = 1
        cluster = Cluster(
            env, work_dir / "logs", replicas=replicas, smtp_sink=True, web_workers=web_workers
        )
        with cluster:
            api = Api({kind: cluster.urls(kind) for kind in ("registration", "checkin")})
            yield Target(
                api,
                token,
                settings.mail_dir,
                settings.checkin_database_url,
                f"own system, {replicas} replica(s), logs in {work_dir / 'logs'}",
            )
    finally:
        processes.stop_process(redis_process)


def _points_elsewhere(name: str) -> bool:
    return any(part in name for part in NOT_INHERITED)
