"""Invitation lists of any size, imported in the background with progress.

An upload of more than `SYNC_ROWS` rows (or one sent with `Prefer: respond-async`) is stored
as a job with its options, and the registration worker runs it (`run`): it checks every row
first ("checking"), so all or nothing refuses the whole file before anything is imported; then
it registers the valid rows `CHUNK_ROWS` at a time, each part one transaction under the event's
lock, so registrations go on between the parts. The job's row says where it stands.

Each part commits with a note of the rows it did (`ImportJobChunk`): a run cut short (its
worker killed) resumes where it stopped and reports every row as it found it; a row is never
imported twice (it would be found registered, `unchanged`, in any case). One run works on a job
at a time: the one whose heartbeat is fresh; another waits (`Busy`) or finds the job finished.
The uploaded file is dropped when the job ends; a finished job is kept for `KEPT_FOR`."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Select, delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.registration import bulk
from services.registration.access import Actor
from services.registration.delegate_lists import Sheet, missing_columns, read_sheet
from services.registration.event_setup import event_by_slug
from services.registration.models import Event, ImportJob, ImportJobChunk
from shared.badges import BadgeSigner
from shared.db import as_utc, utcnow
from shared.errors import NotFound, Problem
from shared.manage_links import ManageLinks

log = logging.getLogger(__name__)

TASK = "registration.import_delegates"
SYNC_ROWS = 200  # at most this many rows are imported within the request (1-3 s)
MAX_ROWS = 50_000  # rows a file may have at all
# Rows a transaction imports under the event's lock, kept short so that public registrations
# waiting for the lock go on between parts (200 rows held it 1-3 s here, 25 s under heavy load).
CHUNK_ROWS = 50
STALE_AFTER = timedelta(seconds=20)  # a run silent this long is taken for dead
KEPT_FOR = timedelta(days=7)  # a finished job and its report (e-mail addresses) stay this long
RUNNING = ("queued", "checking", "importing")
FINISHED = ("done", "refused", "failed")


class Busy(Exception):
    """Another run is working on the job; ask again after `retry_in` seconds."""

    def __init__(self, retry_in: float):
        super().__init__(f"another run is working on this job; retry in {retry_in:.0f} s")
        self.retry_in = retry_in


class _Superseded(Exception):
    """This run fell silent too long and another one took the job over."""


def in_background(rows: int, respond_async: bool) -> bool:
    """The rule: more than SYNC_ROWS rows, or the client prefers an asynchronous answer."""
    return respond_async or rows > SYNC_ROWS


def create(
    session: Session,
    event: Event,
    actor: Actor,
    content: bytes,
    sheet: Sheet,
    options: bulk.Options,
) -> ImportJob:
    """Store an upload (`sheet` is what `read_sheet` read in it) as a queued job. Finished jobs
    past `KEPT_FOR` are forgotten on the way."""
    missing_columns(sheet, options.category)  # refused at once, not after a wait
    _forget_old(session)
    job = ImportJob(
        event_id=event.id,
        filename=options.source,
        valid_only=options.valid_only,
        invited=options.invited,
        category=options.category,
        actor=str(actor),
        content=content,
        rows=len(sheet.rows),
    )
    session.add(job)
    session.flush()
    return job


def listed(event: Event) -> Select:
    """The event's jobs, newest first."""
    return select(ImportJob).where(ImportJob.event_id == event.id).order_by(ImportJob.id.desc())


def get(session: Session, event: Event, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None or job.event_id != event.id:
        raise NotFound("unknown_import", f"This event has no import {job_id}.")
    return job


def unfinished(session: Session) -> list[int]:
    """Jobs not yet finished (a worker starting sends them again: a message may be lost)."""
    return list(session.scalars(select(ImportJob.id).where(ImportJob.state.in_(RUNNING))))


def run(sessions: sessionmaker, signer: BadgeSigner, links: ManageLinks, job_id: int) -> str:
    """Run or resume a job to its end and return its state; a finished job stays as it is.
    Raises Busy while another live run works on it."""
    runner = uuid.uuid4().hex
    with sessions.begin() as session:
        job = session.get(ImportJob, job_id, with_for_update=True)
        if job is None:
            return "unknown"
        if job.state in FINISHED:
            return job.state
        _claim(job, runner)
    work = _Run(sessions, signer, links, job_id, runner)
    try:
        return work.run()
    except _Superseded:
        log.info("import job %s: taken over by another run", job_id)
        return "superseded"
    except Problem as problem:  # the file or the event: what a request would have refused
        return work.end("failed" if work.importing else "refused", problem.body()["error"])
    except OperationalError:  # the database was briefly away: the task retries, and resumes
        raise
    except Exception:
        work.end("failed", work.failure())
        raise


def _claim(job: ImportJob, runner: str) -> None:
    now = utcnow()
    if job.runner and job.heartbeat_at:
        fresh_until = as_utc(job.heartbeat_at) + STALE_AFTER
        if fresh_until > now:
            raise Busy((fresh_until - now).total_seconds() + 1)
    job.runner, job.heartbeat_at, job.attempts = runner, now, job.attempts + 1
    job.started_at = job.started_at or now


@dataclass
class _Run:
    sessions: sessionmaker
    signer: BadgeSigner
    links: ManageLinks
    job_id: int
    runner: str
    importing: bool = False
    done: int = 0
    total: int = 0
    chunks: int = 0
    processed: dict[int, dict] = field(default_factory=dict)

    def run(self) -> str:
        with self.sessions.begin() as session:
            job = self._mine(session)
            content, options = job.content, _options(job)
            actor, self.importing = _actor(job.actor), job.state == "importing"
            found = session.scalars(select(ImportJobChunk).where(ImportJobChunk.job_id == job.id))
            for chunk in found:
                self.chunks += 1
                self.processed.update((r["row"], r) for r in chunk.results)
            if not self.importing:
                job.state, job.phase, job.done, job.total = "checking", "checking", 0, job.rows
            event = session.get(Event, job.event_id)
            categories = list(event.categories)
        sheet = read_sheet(content, MAX_ROWS)
        rows = bulk.check_rows(sheet, categories, options.category, self._checked)
        with self.sessions.begin() as session:
            bulk.compare_registered(session, event, rows, sheet.header("email"))
        for row in rows:
            if row.row in self.processed:
                row.restore(self.processed[row.row])
        report = bulk.Report(options, rows, sheet.ignored)
        failed = any(r.status == "failed" for r in rows)
        if failed and not options.valid_only and not self.importing:
            refused = bulk.ImportRefused(report)
            error = {"code": refused.code, "message": refused.message, "fields": refused.fields}
            return self.end("refused", error, report)
        todo = [r for r in rows if r.status == "valid"]
        self.done, self.total = len(self.processed), len(self.processed) + len(todo)
        self._beat(state="importing", phase="importing", done=self.done, total=self.total)
        self.importing = True
        for start in range(0, len(todo), CHUNK_ROWS):
            self._import(event.slug, actor, todo[start : start + CHUNK_ROWS], options, sheet)
        return self.end("done", None, report)

    def end(self, state: str, error: dict | None, report: bulk.Report | None = None) -> str:
        """Finish the job: its state, report and counts; the file and the notes go."""
        with self.sessions.begin() as session:
            job = self._mine(session)
            if report is not None:
                job.report, job.counts = report.as_dict(), report.counts()
                if state == "done":
                    event = session.get(Event, job.event_id)
                    bulk.record_import(session, event, job.actor, report, job=job.id)
            job.state, job.error, job.content, job.runner = state, error, None, None
            job.finished_at = utcnow()
            session.execute(delete(ImportJobChunk).where(ImportJobChunk.job_id == job.id))
        log.info("import job %s: %s, %s", self.job_id, state, job.counts or error["code"])
        return state

    def failure(self) -> dict:
        return {
            "code": "import_failed",
            "message": f"The import stopped on an error on our side after {self.done} of "
            f"{self.total} rows to import; those stay imported. Upload the file again to "
            "import the rest: the rows imported already are reported as unchanged.",
        }

    def _import(self, slug, actor, rows: list[bulk.RowResult], options, sheet) -> None:
        with self.sessions.begin() as session:
            event = event_by_slug(session, slug, lock=True)
            job = self._mine(session)
            bulk.import_rows(session, self.signer, self.links, event, actor, rows, options, sheet)
            results = [r.outcome() for r in rows]
            session.add(ImportJobChunk(job_id=job.id, number=self.chunks, results=results))
            job.done, job.heartbeat_at = job.done + len(rows), utcnow()
        self.chunks += 1
        self.done += len(rows)

    def _checked(self, _phase: str, done: int, total: int) -> None:
        if done % CHUNK_ROWS == 0 or done == total:
            self._beat(**({} if self.importing else {"done": done}))

    def _beat(self, **values) -> None:
        """Note progress (and that this run is alive) in the job's row."""
        with self.sessions.begin() as session:
            mine = (ImportJob.id == self.job_id) & (ImportJob.runner == self.runner)
            changed = session.execute(
                update(ImportJob).where(mine).values(heartbeat_at=utcnow(), **values)
            )
            if changed.rowcount != 1:
                raise _Superseded()

    def _mine(self, session: Session) -> ImportJob:
        job = session.get(ImportJob, self.job_id, with_for_update=True)
        if job.runner != self.runner:
            raise _Superseded()
        return job


def _options(job: ImportJob) -> bulk.Options:
    return bulk.Options(job.valid_only, job.invited, job.category, job.filename)


def _actor(text: str) -> Actor:
    kind, _, label = text.partition(":")
    return Actor(kind, label)


def _forget_old(session: Session) -> None:
    old = select(ImportJob.id).where(ImportJob.finished_at < utcnow() - KEPT_FOR)
    session.execute(delete(ImportJobChunk).where(ImportJobChunk.job_id.in_(old)))
    session.execute(delete(ImportJob).where(ImportJob.id.in_(old)))
