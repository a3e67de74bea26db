"""A notify of its own for a test: a private redis-server (no other test's tasks reach its
queue), the SMTP sink, a migrated database, a publisher, and notify's Celery worker."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace

from rollcall.smtp_sink import SmtpSink
from services.notify import migrate
from shared.celery_app import create_celery, publisher
from shared.config import Settings
from shared.db import make_engine, make_sessions
from tests.support.processes import (
    ROOT,
    free_port,
    start_process,
    start_redis,
    stop_process,
    wait_until,
)

MAIL_DOMAIN = "rollcall.test"
MANAGE_LINK_KEY = "5f" * 32
REGISTRATION_URL = "https://register.rollcall.test"
SOLO = ("--pool=solo",)  # tasks run one at a time, in queue order


@contextmanager
def notify_stack(
    home: Path, database_url: str, pool: tuple[str, ...] | None = SOLO, **env: str
) -> Iterator[SimpleNamespace]:
    """The stack, with one worker of `pool` started (None: none yet); `start_worker(pool)`
    starts another, e.g. after a test killed the first. `env` overrides the settings."""
    with ExitStack() as cleanup:
        redis_url, redis = start_redis()
        cleanup.callback(stop_process, redis)
        smtp_port = free_port()
        sink = SmtpSink(home / "mail", "127.0.0.1", smtp_port).start()
        cleanup.callback(sink.stop)
        overrides = {
            "REDIS_URL": redis_url,
            "NOTIFY_DATABASE_URL": database_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_TIMEOUT": "5",
            "MAIL_DIR": str(home / "mail"),
            "MAIL_FROM": f"Rollcall <badges@{MAIL_DOMAIN}>",
            "VAR_DIR": str(home / "var"),
            "MANAGE_LINK_KEY": MANAGE_LINK_KEY,
            "REGISTRATION_URL": REGISTRATION_URL,
            **env,
        }
        settings = Settings.from_env(overrides)
        migrate(settings)
        engine = make_engine(database_url)
        cleanup.callback(engine.dispose)
        app = create_celery("notify-test-publisher", settings)
        cleanup.callback(app.close)
        log_path = home / "worker.log"

        def start_worker(pool: tuple[str, ...] = SOLO):
            starts = log_path.read_text().count(" ready.") if log_path.exists() else 0
            worker = start_process(
                [sys.executable, "-m", "celery", "-A", "services.notify.worker", "worker"]
                + ["-Q", "notify", *pool, "--loglevel=INFO"]
                + ["-n", f"notify-{smtp_port}-{starts}@%h"]
                + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
                {**os.environ, **overrides, "PYTHONPATH": str(ROOT)},
                log_path,
            )
            cleanup.callback(stop_process, worker)
            wait_until(
                lambda: log_path.read_text().count(" ready.") > starts,
                30,
                f"worker ready ({log_path})",
            )
            return worker

        if pool is not None:
            start_worker(pool)
        yield SimpleNamespace(
            settings=settings,
            sink=sink,
            app=app,
            publish=publisher(app),
            sessions=make_sessions(engine),
            engine=engine,
            start_worker=start_worker,
            worker_log=log_path,
        )
