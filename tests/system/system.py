"""The whole system as real processes, for the fault suite: every process of the Procfile
(rollcall.cluster, the SMTP sink included) on a PostgreSQL database of its own reached through
a TCP proxy the test can cut, and a redis-server the test can kill and start again on the same
port. The demo event is seeded; the checker reads the database directly, past the proxy.

Two production timings are shortened, by their settings, so that recovery fits a test (as in
tests/integration/test_notify_faults.py): the broker's visibility timeout (1 h → VISIBILITY s),
after which a killed worker's unacknowledged tasks are delivered again, and notify's sending
lease (5 min → LEASE s). `tick()` sends `notify.redrive_stalled` every second, as beat does
every minute. Everything else is the production code path, each process's command line
included."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from rollcall import databases, demo
from rollcall.cluster import Cluster
from services.registration.models import Event
from shared.badges import BadgeSigner
from shared.celery_app import create_celery
from shared.config import Settings
from shared.db import make_engine
from tests.conftest import drop_postgres_database
from tests.support.processes import free_port
from tests.support.tcp_proxy import TcpProxy
from tests.system.invariants import Checker
from tests.system.load import LoadDriver
from tests.system.redis_server import RedisServer

MAIL_DOMAIN = "rollcall.test"
VISIBILITY = 10  # seconds
LEASE = 10  # seconds
NOTIFY_CONCURRENCY = 2  # the Procfile's: at most this many mails in flight at a kill


@dataclass
class System:
    cluster: Cluster
    redis: RedisServer
    proxy: TcpProxy
    checker: Checker
    engine: Engine  # the database, directly
    organizer_token: str
    scanner_tokens: dict[str, str]
    signer: BadgeSigner
    event_id: int
    celery: object  # a Celery app, to send beat's tasks by name
    _ticked: float = 0.0

    @property
    def registration_url(self) -> str:
        return self.cluster.urls("registration")[0]

    @property
    def checkin_url(self) -> str:
        return self.cluster.urls("checkin")[0]

    def load(self, rate: float, scan_rate: float) -> LoadDriver:
        return LoadDriver(
            self.registration_url, self.checkin_url, self.scanner_tokens, self.signer,
            self.event_id, rate=rate, scan_rate=scan_rate,
        )  # fmt: skip

    def tick(self) -> None:
        """Stand in for beat's `notify.redrive_stalled`, at most once a second."""
        if time.monotonic() - self._ticked >= 1.0:
            with contextlib.suppress(Exception):  # Redis may be away: the next tick goes
                self.celery.send_task("notify.redrive_stalled", queue="notify", retry=False)
            self._ticked = time.monotonic()

    def revive(self, *names: str) -> None:
        """Start killed processes again (the same command, the same port) until ready."""
        for name in names:
            self.cluster.start(name)
        for name in names:
            self.cluster.wait_member_ready(name, 60)


def copy_of(admin_url: str, template_url: str) -> str:
    """A new database on the server of `admin_url`, copied from the migrated template."""
    return databases.create_database(admin_url, "rollcall_faults", template_url)


@contextmanager
def running_system(
    directory: Path, admin_url: str, template_url: str, badge_keys: tuple[str, str]
) -> Iterator[System]:
    with ExitStack() as cleanup:
        direct_url = copy_of(admin_url, template_url)
        cleanup.callback(drop_postgres_database, admin_url, direct_url)
        server = make_url(direct_url)
        proxy = TcpProxy(server.host or "127.0.0.1", server.port or 5432).start()
        cleanup.callback(proxy.cut)
        redis_server = RedisServer(directory / "redis.log").start()
        cleanup.callback(redis_server.stop)

        env = {
            **{
                k: v for k, v in os.environ.items() if not k.endswith(("REDIS_URL", "DATABASE_URL"))
            },  # fmt: skip
            "DATABASE_URL": str(server.set(port=proxy.port).render_as_string(False)),
            "REDIS_URL": redis_server.url,
            "VAR_DIR": str(directory / "var"),
            "MAIL_DIR": str(directory / "mail"),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(free_port()),
            "SMTP_TIMEOUT": "5",
            "MAIL_FROM": f"Rollcall <badges@{MAIL_DOMAIN}>",
            "REGISTRATION_PORT": str(free_port()),
            "CHECKIN_PORT": str(free_port()),
            "NOTIFY_PORT": str(free_port()),
            "BADGE_SIGNING_KEY": badge_keys[0],
            "BADGE_VERIFY_KEYS": badge_keys[1],
            "MANAGE_LINK_KEY": secrets.token_hex(32),
            "FEED_TOKEN": f"rc_feed_{secrets.token_urlsafe(32)}",
            "REGISTRATION_RATE_LIMIT": "0",  # every delegate registers from 127.0.0.1
            "RELAY_INTERVAL": "0.1",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
            "NOTIFY_SENDING_LEASE": str(LEASE),
        }
        env["FEED_URL"] = f"http://127.0.0.1:{env['REGISTRATION_PORT']}"
        for office in ("PROTOCOL_EMAIL", "PROTOCOL_PHONE", "ORGANISER_EMAIL"):
            env.pop(office, None)  # badge mails only: the checker counts those
        direct = Settings.from_env({**env, "DATABASE_URL": direct_url})
        credentials = demo.seed(direct)
        engine = make_engine(direct_url)
        cleanup.callback(engine.dispose)
        with engine.connect() as db:
            event_id = db.scalar(select(Event.id).where(Event.slug == "gmf2023"))

        started = time.monotonic()
        cluster = cleanup.enter_context(
            Cluster(env, directory / "logs", smtp_sink=True, web_workers=1)
        )
        print(f"\n{len(cluster.members)} processes started in {time.monotonic() - started:.1f} s")
        # Last out, first run: the whole test is over, nothing graceful is owed.
        cleanup.callback(lambda: cluster.stop_all(timeout=2))
        celery = create_celery("fault-suite", direct)
        cleanup.callback(celery.close)
        checker = Checker(
            engine, direct.mail_dir, cluster.urls("checkin")[0],
            credentials["organizer_token"], MAIL_DOMAIN,
        )  # fmt: skip
        yield System(
            cluster=cluster,
            redis=redis_server,
            proxy=proxy,
            checker=checker,
            engine=engine,
            organizer_token=credentials["organizer_token"],
            scanner_tokens=credentials["scanner_tokens"],
            signer=BadgeSigner(badge_keys[0]),
            event_id=event_id,
            celery=celery,
        )
