"""The retention purge for real: registration's Celery worker as a process on a real
redis-server, sent `registration.purge_expired` by name as beat sends it, on SQLite and
PostgreSQL. The worker runs without the badge signing key."""

from __future__ import annotations

import os
import sys

import pytest
from sqlalchemy import func, select

from rollcall import demo
from services import registration
from services.registration.models import Registration
from shared.celery_app import create_celery
from tests.integration.conftest import bearer, delegate
from tests.support.processes import start_process, stop_process, wait_until

pytestmark = pytest.mark.integration


def worker_environment(settings) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("DATABASE_URL", "REDIS_URL")) and not k.startswith("BADGE_")
    }
    return {
        **inherited,
        "VAR_DIR": str(settings.var_dir),
        "REDIS_URL": settings.redis_url,
        "REGISTRATION_DATABASE_URL": settings.registration_database_url,
    }


@pytest.fixture
def worker(settings):
    log = settings.var_dir / "registration-worker.log"
    process = start_process(
        [sys.executable, "-m", "celery", "-A", "services.registration.worker", "worker"]
        + ["-Q", "registration", "--concurrency", "1", "--loglevel", "INFO"],
        worker_environment(settings),
        log,
    )
    try:
        wait_until(lambda: "ready." in log.read_text(), 30, "the registration worker to be ready")
        yield log
    finally:
        stop_process(process)


def test_the_worker_purges_an_event_past_its_retention_when_beat_asks(settings, build_app, worker):
    organiser = demo.seed(settings)["organizer_token"]
    client = build_app(registration, settings).test_client()
    response = client.patch(
        "/api/v1/events/gmf2023", json={"retention_days": 0}, headers=bearer(organiser)
    )
    assert response.status_code == 200, response.get_json()
    people = [
        client.post("/api/v1/events/gmf2023/registrations", json=delegate()).get_json()
        for _ in range(2)
    ]
    reads = client.application.extensions["registration"].db.reads

    def erased() -> int:
        with reads() as session:
            query = select(func.count()).where(Registration.erased_at.is_not(None))
            return session.scalar(query)

    beat = create_celery("test-beat", settings)
    try:
        beat.send_task("registration.purge_expired")
        wait_until(lambda: erased() == 2, 30, "the worker to erase both registrations")
    finally:
        beat.close()

    log = wait_until(
        lambda: "succeeded" in (text := worker.read_text()) and text, 10, "the task's report"
    )
    assert "retention: erased 2 registration(s)" in log
    for person in people:
        assert person["email"] not in log and person["family_name"] not in log
