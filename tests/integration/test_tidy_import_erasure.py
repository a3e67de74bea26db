"""Erasure reaches the reports of background imports: a finished job's report (kept for days)
and the notes of a job still running forget an erased delegate's address, while the rows, their
statuses and the other delegates' addresses stay; on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services.registration import import_jobs
from services.registration.models import ImportJob, ImportJobChunk
from tests.integration.test_erasure import erase
from tests.integration.test_import_jobs import csv_file, job_at, person, upload

pytestmark = pytest.mark.integration


def queued_job(forum, rows: list[list[str]]) -> str:
    response = upload(forum, csv_file(rows), headers={"Prefer": "respond-async"})
    assert response.status_code == 202, response.get_json()
    return response.headers["Location"]


def run_job(forum, location: str) -> str:
    resources = forum.registration.application.extensions["registration"]
    job_id = int(location.rsplit("/", 1)[1])
    return import_jobs.run(resources.db.sessions, resources.signer, resources.links, job_id)


def stored(forum, column) -> str:
    """Every value of `column` the database keeps, as one text."""
    with forum.registration.application.extensions["registration"].db.reads() as session:
        return json.dumps(list(session.scalars(select(column))), ensure_ascii=False)


def test_an_erased_delegate_leaves_the_reports_of_imports_that_named_them(forum):
    rows = [person("Ana"), person("Bo"), person("Cai")]
    first = queued_job(forum, rows)
    assert run_job(forum, first) == "done"
    # The same address again with another city: refused as a duplicate naming no registration.
    again = queued_job(forum, [[*rows[0][:4], "Shenzhen", *rows[0][5:]]])
    assert run_job(forum, again) == "refused"
    ana_email = rows[0][2].lower()
    report = job_at(forum, first)["report"]
    ana = next(r for r in report["rows"] if r["email"].lower() == ana_email)
    assert ana_email in stored(forum, ImportJob.report).lower()

    erase(forum, {"id": ana["registration_id"]}, forum.organizer_token)

    assert ana_email not in stored(forum, ImportJob.report).lower()
    after = job_at(forum, first)["report"]
    assert [r["email"] for r in after["rows"]] == ["", rows[1][2], rows[2][2]]
    assert [r["status"] for r in after["rows"]] == ["created"] * 3
    assert after["rows"][0]["registration_id"] == ana["registration_id"]
    assert after["counts"] == report["counts"]
    refused = job_at(forum, again)["report"]["rows"]
    assert (refused[0]["email"], refused[0]["status"]) == ("", "failed")


def test_the_notes_of_a_running_import_forget_an_erased_delegate(forum):
    rows = [person("Dai"), person("Eve")]
    done = queued_job(forum, rows)
    assert run_job(forum, done) == "done"
    registered = job_at(forum, done)["report"]["rows"]
    # A job cut short keeps the rows it did as notes until it ends; pretend one is running.
    running = queued_job(forum, rows)
    with forum.registration.application.extensions["registration"].db.sessions.begin() as session:
        job_id = int(running.rsplit("/", 1)[1])
        job = session.get(ImportJob, job_id)
        job.state = "importing"
        session.add(ImportJobChunk(job_id=job_id, number=0, results=registered))

    erase(forum, {"id": registered[0]["registration_id"]}, forum.organizer_token)

    notes = stored(forum, ImportJobChunk.results).lower()
    assert rows[0][2].lower() not in notes
    assert rows[1][2].lower() in notes
