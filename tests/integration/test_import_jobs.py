"""Big invitation lists import as background jobs: the upload is stored, answered 202 with a
`Location`, and registration's real Celery worker (a process, on a real redis-server) imports
it in parts with progress; on SQLite and PostgreSQL."""

from __future__ import annotations

import codecs
import csv
import io
import os
import signal
import sys
import time
import uuid

import pytest
from sqlalchemy import func, select, text
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from services.registration import import_jobs
from services.registration.bulk_api import MAX_UPLOAD_BYTES
from services.registration.models import AuditEntry, ImportJob, Registration
from services.registration.models import outbox as registration_outbox
from shared.badges import verifier_from
from tests.integration.conftest import bearer
from tests.support.processes import start_process, stop_process, wait_until

pytestmark = pytest.mark.integration

IMPORTS = "/api/v1/events/gmf2023/imports"
HEADERS = ["Given name", "Family name", "E-mail", "Organisation", "City", "Country", "Category"]


def person(given: str, **fields) -> list[str]:
    row = {
        "family_name": "Delegate",
        "email": f"{uuid.uuid4().hex[:12]}@example.org",
        "organisation": "Municipality",
        "city": "Guangzhou",
        "country": "CN",
        "category": "mayor",
        **fields,
    }
    return [given, *row.values()]


def csv_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows([HEADERS, *rows])
    return codecs.BOM_UTF8 + out.getvalue().encode()


def people(count: int) -> list[list[str]]:
    return [person(f"Guest {i}") for i in range(count)]


def upload(forum, content: bytes, token: str | None = None, headers=None, **flags):
    # Encoded here, in memory: the test client spools a big upload to a file it never closes.
    file = FileStorage(io.BytesIO(content), filename="guests.csv", content_type="text/csv")
    boundary, body = encode_multipart({"file": file, **flags})
    return forum.registration.post(
        IMPORTS,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={**bearer(token or forum.organizer_token), **(headers or {})},
    )


def job_at(forum, location: str, token: str | None = None) -> dict:
    response = forum.registration.get(location, headers=bearer(token or forum.organizer_token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def count(forum, query) -> int:
    with forum.registration.application.extensions["registration"].db.reads() as session:
        return session.scalar(query)


def registered(forum) -> int:
    return count(forum, select(func.count()).select_from(Registration))


def worker_environment(settings) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("DATABASE_URL", "REDIS_URL")) and not k.startswith("BADGE_")
    }
    return {
        **inherited,
        "VAR_DIR": str(settings.var_dir),  # the manage-link key the web app made is there
        "REDIS_URL": settings.redis_url,
        "REGISTRATION_DATABASE_URL": settings.registration_database_url,
        "BADGE_SIGNING_KEY": settings.badge_signing_key,
    }


class Worker:
    """registration's Celery worker as a process of its own, started and stopped (or killed)."""

    def __init__(self, settings):
        self.settings, self.log, self.process = settings, settings.var_dir / "worker.log", None

    def start(self) -> None:
        ready = self.log.read_text().count("ready.") if self.log.exists() else 0
        self.process = start_process(
            [sys.executable, "-m", "celery", "-A", "services.registration.worker", "worker"]
            + ["-Q", "registration", "--concurrency", "1", "--loglevel", "INFO"],
            worker_environment(self.settings),
            self.log,
        )
        wait_until(
            lambda: self.log.read_text().count("ready.") > ready, 30, "the worker to be ready"
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            stop_process(self.process)


@pytest.fixture
def worker(settings):
    worker = Worker(settings)
    worker.start()
    yield worker
    worker.stop()


def follow(forum, location: str, timeout: float, until=import_jobs.FINISHED) -> list[dict]:
    """Poll a job until its state is one of `until`; returns every answer seen."""
    seen: list[dict] = []

    def arrived() -> bool:
        seen.append(job_at(forum, location))
        return seen[-1]["state"] in until

    wait_until(arrived, timeout, f"the import job to reach {until}")
    return seen


def test_a_big_list_is_imported_by_the_worker_in_parts_with_progress(forum, worker):
    rows = people(3000)
    started = time.perf_counter()

    response = upload(forum, csv_file(rows), invited="true")

    assert response.status_code == 202, response.get_json()
    location = response.headers["Location"]
    assert location == f"{IMPORTS}/{response.get_json()['id']}"
    assert response.get_json()["state"] == "queued"
    assert response.get_json()["rows"] == 3000
    seen = follow(forum, location, 120, until=("importing",))

    def first_part() -> bool:
        seen.append(job_at(forum, location))
        return seen[-1]["progress"]["done"] > 0

    wait_until(first_part, 60, "a first part")
    # Registrations go on between the parts (a fast worker may have finished them all by now:
    # the walk-in is registered either way, and counted below).
    walk_in = forum.register()
    seen += follow(forum, location, timeout=300)
    elapsed = time.perf_counter() - started
    print(f"\n3,000 rows in {elapsed:.1f} s: {3000 / elapsed:.0f} rows/s")

    job = seen[-1]
    assert job["state"] == "done", job
    assert job["counts"] == {"rows": 3000, "created": 3000, "unchanged": 0, "failed": 0}
    assert job["progress"] == {"phase": "importing", "done": 3000, "total": 3000}
    importing = [s["progress"]["done"] for s in seen if s["progress"]["phase"] == "importing"]
    assert importing == sorted(importing)  # progress only grows …
    assert {d for d in importing if 0 < d < 3000}, importing  # … and shows before the end
    assert any(s["state"] in {"queued", "checking"} for s in seen)
    report = job["report"]
    assert [r["row"] for r in report["rows"]] == list(range(2, 3002))
    assert [r["email"] for r in report["rows"]] == [row[2] for row in rows]
    assert {r["status"] for r in report["rows"]} == {"created"}
    assert {r["registration_status"] for r in report["rows"]} == {"confirmed", "waitlisted"}
    assert registered(forum) == 3001
    assert len({r["registration_id"] for r in report["rows"]} | {walk_in["id"]}) == 3001
    with forum.registration.application.extensions["registration"].db.reads() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "delegates.imported"))
        assert [e.detail["job"] for e in audit] == [job["id"]]
        assert session.get(ImportJob, job["id"]).content is None  # the file is not kept
        # The worker signs the confirmed delegates' badges with the service's key.
        outbox = registration_outbox.table
        registered_events = select(outbox.c.payload).where(outbox.c.type == "delegate.registered")
        payloads = session.scalars(registered_events.limit(5)).all()
    verifier = verifier_from(forum.settings)
    for payload in payloads:
        assert verifier.verify(payload["badge"]["token"]).badge_id == payload["badge"]["id"]
    listed = forum.registration.get(IMPORTS, headers=bearer(forum.organizer_token)).get_json()
    assert [(j["id"], j["state"], j["file"]) for j in listed] == [(job["id"], "done", "guests.csv")]
    assert "report" not in listed[0]


def test_all_or_nothing_checks_every_row_first_and_imports_nothing_for_one_bad_row(forum, worker):
    rows = people(450)
    rows[440][2] = "not-an-address"  # row 442, in the last part

    response = upload(forum, csv_file(rows))

    assert response.status_code == 202
    job = follow(forum, response.headers["Location"], timeout=120)[-1]
    assert job["state"] == "refused"
    assert job["error"]["code"] == "invalid_rows"
    assert "nothing was imported" in job["error"]["message"]
    assert job["error"]["fields"]["file"] == ["Row 442, E-mail: Not a valid email address."]
    assert job["counts"] == {"rows": 450, "created": 0, "unchanged": 0, "failed": 1}
    assert [r["row"] for r in job["report"]["rows"] if r["status"] == "failed"] == [442]
    assert registered(forum) == 0

    rows[440][2] = "fixed@example.org"
    again = upload(forum, csv_file(rows), headers={"Prefer": "respond-async"})
    assert follow(forum, again.headers["Location"], timeout=180)[-1]["counts"]["created"] == 450


def test_a_job_survives_its_worker_killed_mid_import_and_imports_no_row_twice(forum, worker):
    rows = people(800)
    location = upload(forum, csv_file(rows)).headers["Location"]
    follow(forum, location, 120, until=("importing",))
    wait_until(
        lambda: 200 <= job_at(forum, location)["progress"]["done"] < 800,
        60,
        "a first part to be imported",
    )

    worker.kill()
    cut_short = job_at(forum, location)
    worker.start()
    job = follow(forum, location, timeout=180)[-1]

    assert cut_short["state"] == "importing" and cut_short["progress"]["done"] < 800
    assert job["state"] == "done", job
    assert job["counts"] == {"rows": 800, "created": 800, "unchanged": 0, "failed": 0}
    assert {r["status"] for r in job["report"]["rows"]} == {"created"}
    assert registered(forum) == 800
    outbox = registration_outbox.table
    events = select(func.count()).where(outbox.c.type == "delegate.registered")
    assert count(forum, events) == 800  # one delegate.registered each, none twice
    imported = select(func.count()).where(AuditEntry.action == "delegates.imported")
    assert count(forum, imported) == 1
    assert count(forum, select(ImportJob.attempts)) >= 2


def test_a_finished_job_delivered_again_changes_nothing(forum):
    location = upload(forum, csv_file(people(3)), headers={"Prefer": "respond-async"}).headers[
        "Location"
    ]
    job_id = int(location.rsplit("/", 1)[1])
    resources = forum.registration.application.extensions["registration"]

    def run() -> str:
        return import_jobs.run(resources.db.sessions, resources.signer, resources.links, job_id)

    assert run() == "done"
    assert run() == "done"
    assert registered(forum) == 3
    assert job_at(forum, location)["counts"]["created"] == 3


def test_a_job_another_live_run_works_on_is_left_to_it(forum):
    location = upload(forum, csv_file(people(3)), headers={"Prefer": "respond-async"}).headers[
        "Location"
    ]
    job_id = int(location.rsplit("/", 1)[1])
    resources = forum.registration.application.extensions["registration"]
    with resources.db.sessions.begin() as session:
        job = session.get(ImportJob, job_id)
        job.runner, job.heartbeat_at = "another", import_jobs.utcnow()

    with pytest.raises(import_jobs.Busy) as busy:
        import_jobs.run(resources.db.sessions, resources.signer, resources.links, job_id)

    assert 0 < busy.value.retry_in <= import_jobs.STALE_AFTER.total_seconds() + 1
    assert registered(forum) == 0


def test_up_to_200_rows_import_at_once_and_more_become_a_job(forum):
    at_once = upload(forum, csv_file(people(import_jobs.SYNC_ROWS)))
    queued = upload(forum, csv_file(people(import_jobs.SYNC_ROWS + 1)))
    asked = upload(forum, csv_file(people(1)), headers={"Prefer": "wait=5, respond-async"})

    assert at_once.status_code == 201
    assert at_once.get_json()["counts"]["created"] == import_jobs.SYNC_ROWS
    assert queued.status_code == 202
    assert "Preference-Applied" not in queued.headers
    assert (asked.status_code, asked.headers["Preference-Applied"]) == (202, "respond-async")
    job = job_at(forum, queued.headers["Location"])
    assert job["state"] == "queued" and job["report"] is None
    assert job["progress"] == {"phase": None, "done": 0, "total": 0}
    assert job["mode"] == "all_or_nothing" and job["created_by"] == "organiser:owner"


def test_a_file_the_job_could_not_import_is_refused_at_once(forum):
    no_country = b"Given name,E-mail,Organisation\n" + b"Ana,ana@example.org,City\n" * 300
    missing = upload(forum, no_country)
    too_many = upload(forum, csv_file(people(import_jobs.MAX_ROWS + 1)))

    assert (missing.status_code, missing.get_json()["error"]["code"]) == (422, "missing_columns")
    assert too_many.status_code == 422
    assert too_many.get_json()["error"]["code"] == "too_many_rows"
    assert "50000 rows" in too_many.get_json()["error"]["message"]
    assert count(forum, select(func.count()).select_from(ImportJob)) == 0


def test_an_upload_may_be_bigger_than_other_bodies_up_to_its_own_limit(forum):
    boundary = "rollcall-test"

    def body(size: int) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n{('x' * 99 + chr(10)) * (size // 100)}\r\n"
            f"--{boundary}--\r\n"
        ).encode()

    answers = [
        forum.registration.post(
            IMPORTS,
            data=body(size),
            content_type=f"multipart/form-data; boundary={boundary}",
            headers=bearer(forum.organizer_token),
        )
        for size in (2 * 1024 * 1024, MAX_UPLOAD_BYTES + 100)
    ]
    registration = forum.registration.post(
        "/api/v1/events/gmf2023/registrations", data=b"{" + b" " * 2 * 1024 * 1024 + b"}",
        content_type="application/json",
    )  # fmt: skip

    assert answers[0].status_code == 422  # read, and found not to be a list
    assert answers[0].get_json()["error"]["code"] == "no_header_row"
    assert answers[1].status_code == 413
    assert registration.status_code == 413  # every other body keeps MAX_BODY_BYTES


def test_only_this_events_organisers_see_its_imports(forum):
    other = forum.registration.post(
        "/api/v1/events",
        json={"slug": "other-forum", "name": "Other", "venue": "Hall", "timezone": "UTC",
              "starts_on": "2024-01-01", "ends_on": "2024-01-02",
              "categories": [{"code": "mayor", "label": "Mayor"}]},
        headers=bearer(forum.organizer_token),
    ).get_json()["organizer_token"]  # fmt: skip
    manage = forum.register()["manage_token"]
    location = upload(forum, csv_file(people(2)), headers={"Prefer": "respond-async"}).headers[
        "Location"
    ]
    job_id = location.rsplit("/", 1)[1]

    for url in (IMPORTS, location):
        assert forum.registration.get(url).status_code == 401
        assert forum.registration.get(url, headers=bearer("rc_org_unknown")).status_code == 401
        assert forum.registration.get(url, headers=bearer(other)).status_code == 403
        assert forum.registration.get(url, headers=bearer(manage)).status_code == 403
    elsewhere = f"/api/v1/events/other-forum/imports/{job_id}"
    assert forum.registration.get(elsewhere, headers=bearer(other)).status_code == 404
    unknown = forum.registration.get(f"{IMPORTS}/999999", headers=bearer(forum.organizer_token))
    assert (unknown.status_code, unknown.get_json()["error"]["code"]) == (404, "unknown_import")
    assert upload(forum, csv_file(people(300)), token=manage).status_code == 403
    assert upload(forum, csv_file(people(300)), token=other).status_code == 403
    assert count(forum, select(func.count()).select_from(ImportJob)) == 1


def address_lookup_plan(forum) -> str:
    """How PostgreSQL would look for an address already registered (`register_in`'s check)."""
    with forum.registration.application.extensions["registration"].db.reads() as session:
        event_id = session.scalar(select(Registration.event_id).limit(1))
        plan = session.execute(
            text("EXPLAIN SELECT id FROM registrations WHERE event_id = :e AND email_key = 'x'"),
            {"e": event_id},
        )
        return "\n".join(line for (line,) in plan)


# Regression: in a 200,000-delegate rehearsal (autovacuum off, as on this machine), the check for
# an address already registered read every registration of the event through an index on
# event_id alone: the planner still counted the new event's rows as none. Each import now
# refreshes the statistics of what it grew.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_big_import_leaves_the_planner_knowing_the_rows_it_added(forum, worker):
    response = upload(forum, csv_file(people(400)), invited="true")
    assert response.status_code == 202, response.get_json()
    assert follow(forum, response.headers["Location"], 120)[-1]["state"] == "done"
    assert "uq_registrations_event_id_email_key" in address_lookup_plan(forum)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_import_within_the_request_refreshes_the_statistics_too(forum):
    response = upload(forum, csv_file(people(180)), invited="true")
    assert response.status_code == 201, response.get_json()
    assert "uq_registrations_event_id_email_key" in address_lookup_plan(forum)
