"""registration's relay and checkin's Celery worker for real: a redis-server, the relay and the
worker as processes, and a database of each kind. What registration writes reaches checkin's
replica, once, and waits in the outbox while Redis is away."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from rollcall import demo
from rollcall.processes import redis_executable
from services import registration
from services.checkin.models import ConsumedEvent, OrganizerGrant, ReplicaBadge
from services.registration.models import outbox
from shared import db
from shared.celery_app import create_celery, publisher
from shared.config import Settings
from shared.events import REPLICA, as_batch
from tests.integration.conftest import delegate
from tests.support.processes import free_port, start_process, stop_process, wait_until

pytestmark = pytest.mark.integration


def environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "VAR_DIR": str(settings.var_dir),
        "REDIS_URL": settings.redis_url,
        "REGISTRATION_DATABASE_URL": settings.registration_database_url,
        "CHECKIN_DATABASE_URL": settings.checkin_database_url,
        "NOTIFY_DATABASE_URL": settings.notify_database_url,
        "BADGE_SIGNING_KEY": settings.badge_signing_key,
        "BADGE_VERIFY_KEYS": settings.badge_verify_keys,
        "RELAY_INTERVAL": "0.05",
    }


class Processes:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.running: list[tuple[subprocess.Popen, object]] = []

    def start(self, name: str, *args: str) -> tuple[subprocess.Popen, object]:
        log = self.settings.var_dir / f"{name}.log"
        process = start_process([sys.executable, *args], environment(self.settings), log)
        self.running.append((process, log))
        return process, log

    def checkin_worker(self):
        process, log = self.start(
            "checkin-worker",
            *("-m", "celery", "-A", "services.checkin.worker", "worker"),
            *("-Q", "checkin", "--concurrency", "2", "--loglevel", "INFO"),
        )
        wait_until(lambda: "ready." in log.read_text(), 30, "the checkin worker to be ready")
        return process

    def relay(self):
        return self.start("registration-relay", "-m", "services.registration.relay")

    def stop_all(self) -> None:
        for process, _log in self.running:
            stop_process(process)


@pytest.fixture
def processes(settings) -> Iterator[Processes]:
    started = Processes(settings)
    yield started
    started.stop_all()


@pytest.fixture
def registration_app(settings, build_app):
    demo.seed(settings)
    return build_app(registration, settings)


@pytest.fixture
def checkin_db(settings):
    engine = db.make_engine(settings.checkin_database_url)
    yield db.make_sessions(engine, readonly=True)
    engine.dispose()


def count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def register(app, **fields) -> dict:
    response = app.test_client().post(
        "/api/v1/events/gmf2023/registrations", json=delegate(**fields)
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_what_registration_writes_reaches_the_replica_through_relay_and_worker(
    registration_app, processes, checkin_db
):
    processes.checkin_worker()
    processes.relay()
    registered = [register(registration_app, given_name=n) for n in ("Ana", "Βασίλης", "美玲")]

    wait_until(lambda: count(checkin_db, ReplicaBadge) == 3, 30, "three badges in the replica")
    with checkin_db() as session:
        names = set(session.scalars(select(ReplicaBadge.display_name)))
        grants = count(checkin_db, OrganizerGrant)
    assert {r["display_name"] for r in registered} == names
    assert grants == 1
    engine = registration_app.extensions["registration"].db.engine
    wait_until(lambda: outbox.pending(engine) == 0, 10, "the outbox to drain")


def test_a_round_of_registrations_is_one_replica_message_and_a_bad_envelope_is_left_out(
    settings, registration_app, processes, checkin_db
):
    processes.checkin_worker()
    for n in range(5):
        register(registration_app, given_name=f"Delegate {n}")
    engine = registration_app.extensions["registration"].db.engine
    app = create_celery("test-publisher", settings)
    publish = publisher(app)
    to_checkin: list[list[dict]] = []

    def with_a_bad_one(task: str, message) -> None:
        if task == REPLICA:
            to_checkin.append(message)
            message = [
                *message[:2],
                {"event_id": "broken", "type": "delegate.registered"},
                *message[2:],
            ]
        publish(task, message)

    outbox.relay_once(engine, with_a_bad_one)

    [batch] = to_checkin  # the seeded event, its grants and the five delegates: one message
    assert [e["sequence"] for e in batch] == sorted(e["sequence"] for e in batch)
    wait_until(lambda: count(checkin_db, ConsumedEvent) == len(batch), 30, "the batch applied")
    assert count(checkin_db, ReplicaBadge) == 5
    app.close()


def test_a_redelivered_event_is_applied_once(settings, registration_app, processes, checkin_db):
    processes.checkin_worker()
    register(registration_app)
    sent: list[dict] = []
    engine = registration_app.extensions["registration"].db.engine
    app = create_celery("test-publisher", settings)
    publish = publisher(app)

    def publish_twice(task: str, envelope: dict) -> None:
        sent.extend(as_batch(envelope))
        if task.startswith("checkin."):
            publish(task, envelope)
            publish(task, envelope)

    outbox.relay_once(engine, publish_twice)

    events = {e["event_id"] for e in sent}
    wait_until(lambda: count(checkin_db, ConsumedEvent) == len(events), 30, "each event consumed")
    # A barrier: one more event, published after the duplicates, is consumed only after them
    # (one queue, handled in order by a worker that is otherwise idle).
    register(registration_app)
    outbox.relay_once(engine, publish)
    wait_until(lambda: count(checkin_db, ReplicaBadge) == 2, 30, "the barrier event")
    assert count(checkin_db, ConsumedEvent) == len(events) + 1
    app.close()


def test_events_wait_in_the_outbox_while_redis_is_down_and_flow_when_it_returns(
    settings, registration_app, processes, checkin_db, tmp_path
):
    port = free_port()
    settings = settings.but(redis_url=f"redis://127.0.0.1:{port}/0")
    processes.settings = settings
    _relay, relay_log = processes.relay()
    register(registration_app, given_name="Zhang", family_name="Wei")
    engine = registration_app.extensions["registration"].db.engine

    wait_until(lambda: "waiting" in relay_log.read_text(), 30, "the relay to notice Redis is away")
    assert outbox.pending(engine) >= 1

    redis_server = subprocess.Popen(
        [redis_executable(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        processes.checkin_worker()
        wait_until(lambda: outbox.pending(engine) == 0, 30, "the relay to drain the outbox")
        wait_until(lambda: count(checkin_db, ReplicaBadge) == 1, 30, "the badge to be replicated")
    finally:
        processes.stop_all()
        stop_process(redis_server)
