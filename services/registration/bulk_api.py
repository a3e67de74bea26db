"""Bulk work for organisers (organiser token): import an invitation list from a spreadsheet,
at once or as a background job with progress, and download the registrations and the badge
print list as CSV or XLSX."""

from __future__ import annotations

import functools

from flask import Response, current_app, jsonify, request, url_for
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from kombu.exceptions import OperationalError as BrokerError
from marshmallow import Schema, ValidationError, fields, pre_dump, validate
from sqlalchemy import delete, func, select
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict, FileStorage

from services.registration import bulk, exports, import_jobs, resources
from services.registration.access import organiser, organiser_required
from services.registration.delegate_lists import read_sheet
from services.registration.models import ImportJob
from services.registration.schemas import UtcDateTime
from shared.access import bearer_digest, bearer_required
from shared.celery_app import create_celery
from shared.errors import ErrorBody, ErrorDetail, Problem
from shared.web import takes_uploads

# Up to import_jobs.SYNC_ROWS rows are imported within the request, in one transaction under
# the event's lock (7-14 ms a row: 1-3 s); bigger files, up to import_jobs.MAX_ROWS rows,
# become a background job. A file that size is bigger than other requests may be.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
BEARER = [{"bearer": []}]
PREFER = {
    "in": "header",
    "name": "Prefer",
    "schema": {"type": "string"},
    "description": "`respond-async`: run the import as a background job whatever its size",
}


class _MultipartParser(FlaskParser):
    """Reads a multipart body's file and form fields together, as one schema describes them."""

    def load_files(self, req, schema):
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


class _Blueprint(Blueprint):
    ARGUMENTS_PARSER = _MultipartParser()


blp = _Blueprint("bulk", __name__, url_prefix="/api/v1", description="Organisers: import, export")


class ImportFlags(Schema):
    mode = fields.String(
        validate=validate.OneOf(["all_or_nothing", "valid_only"]),
        metadata={"description": "all_or_nothing (the default): one bad row and nothing is "
                  "imported; valid_only: import the good rows, report the others"},
    )  # fmt: skip
    invited = fields.Boolean(
        metadata={"description": "invited by the organisers: skips approval (default false)"}
    )
    category = fields.String(
        validate=validate.Length(max=40),
        metadata={"description": "category code for rows that name none"},
    )


class _File(Upload):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ValidationError("Send a file here, not text.")
        return value


class ImportUpload(ImportFlags):
    file = _File(
        required=True,
        metadata={"description": "CSV (UTF-8 or UTF-16; comma, semicolon or tab) or XLSX"},
    )


class RowError(Schema):
    field = fields.String()
    column = fields.String(metadata={"description": "the column's header in the file"})
    message = fields.String()


class ImportedRow(Schema):
    row = fields.Integer(metadata={"description": "the row number the spreadsheet shows"})
    email = fields.String()
    status = fields.String(
        metadata={"description": "created, unchanged (registered already, same details), "
                  "failed; valid: would have been created, but nothing was imported"}
    )  # fmt: skip
    registration_id = fields.Integer(allow_none=True)
    registration_status = fields.String(allow_none=True)
    errors = fields.List(fields.Nested(RowError))


class ImportCounts(Schema):
    rows = fields.Integer()
    created = fields.Integer()
    unchanged = fields.Integer()
    failed = fields.Integer()


class ImportReport(Schema):
    mode = fields.String()
    invited = fields.Boolean()
    counts = fields.Nested(ImportCounts)
    ignored_columns = fields.List(fields.String())
    rows = fields.List(fields.Nested(ImportedRow))


class ImportRefusedDetail(ErrorDetail):
    report = fields.Nested(ImportReport)


class ImportRefusedBody(Schema):
    error = fields.Nested(ImportRefusedDetail, required=True)


class ImportProgress(Schema):
    phase = fields.String(
        allow_none=True,
        metadata={"description": "checking (every row, before anything is imported), then "
                  "importing; null while queued"},
    )  # fmt: skip
    done = fields.Integer(metadata={"description": "rows done in this phase"})
    total = fields.Integer(metadata={"description": "rows this phase has to do"})


class ImportJobOut(Schema):
    id = fields.Integer()
    state = fields.String(
        metadata={"description": "queued, checking, importing; then done, refused (all or "
                  "nothing, and some rows are bad: nothing was imported) or failed"},
    )  # fmt: skip
    file = fields.String()
    mode = fields.String()
    invited = fields.Boolean()
    category = fields.String(allow_none=True)
    rows = fields.Integer(metadata={"description": "rows in the file, below its header"})
    progress = fields.Nested(ImportProgress)
    counts = fields.Nested(ImportCounts, allow_none=True, metadata={"description": "once ended"})
    error = fields.Nested(
        ErrorDetail,
        allow_none=True,
        metadata={"description": "why it was refused or failed, in the one error shape"},
    )
    created_by = fields.String()
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)

    @pre_dump
    def _shape(self, job, **_kwargs) -> dict:
        return {
            **{name: getattr(job, name) for name in (
                "id", "state", "invited", "category", "rows", "counts", "error", "created_at",
                "started_at", "finished_at")},
            "file": job.filename,
            "mode": "valid_only" if job.valid_only else "all_or_nothing",
            "progress": {"phase": job.phase, "done": job.done, "total": job.total},
            "created_by": job.actor,
            "report": job.report if self.__class__ is ImportJobDetail else None,
        }  # fmt: skip


class ImportJobDetail(ImportJobOut):
    report = fields.Nested(
        ImportReport,
        allow_none=True,
        metadata={"description": "once done or refused: the report row by row, as an import "
                  "within the request gives it"},
    )  # fmt: skip


def _larger_uploads(view):
    """An invitation list may be bigger than other requests' bodies (MAX_BODY_BYTES)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        limit = current_app.config["MAX_CONTENT_LENGTH"] or 0
        request.max_content_length = max(limit, MAX_UPLOAD_BYTES)
        return view(*args, **kwargs)

    return wrapped


@blp.post("/events/<slug>/imports")
@takes_uploads
@_larger_uploads
@bearer_required
@blp.arguments(ImportFlags, location="query")
@blp.arguments(ImportUpload, location="files")
@blp.response(201, ImportReport)
@blp.alt_response(200, schema=ImportReport, description="Nothing new: every row was there")
@blp.alt_response(
    202,
    schema=ImportJobOut,
    description="A background job: follow `Location` (`GET …/imports/<id>`) for its progress "
    "and, once done, its report",
)
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(413, schema=ErrorBody)
@blp.alt_response(415, schema=ErrorBody)
@blp.alt_response(422, schema=ImportRefusedBody)
@blp.alt_response(503, schema=ErrorBody)
@blp.doc(security=BEARER, parameters=[PREFER])
def import_delegates(query: dict, upload: dict, slug: str):
    """Import an invitation list from a spreadsheet (CSV or XLSX)

    Headers in English or Chinese, such as Given name/名, Family name/姓, E-mail/邮箱,
    Organisation/单位, City/城市, Country/国家, Category/类别, Language/语言. Every row is
    checked first; one bad row and nothing is imported (422, with a report row by row) unless
    `mode=valid_only`. Uploading the same list again creates nothing new. Flags go in the
    query or in the form.

    Up to 200 rows are imported at once (201, or 200 when nothing was new). A bigger file, up
    to 50,000 rows and 20 MB, or any file sent with `Prefer: respond-async`, becomes a
    background job: 202 with a `Location` to poll for its progress and, once done, the same
    report."""
    flags = {**query, **upload}
    r = resources()
    with r.db.reads() as session:  # the token first, then the work of reading the file
        organiser(session, bearer_digest(), slug)
    content = flags["file"].read()
    sheet = read_sheet(content, import_jobs.MAX_ROWS)
    options = bulk.Options(
        valid_only=flags.get("mode") == "valid_only",
        invited=flags.get("invited", False),
        category=flags.get("category"),
        source=(flags["file"].filename or "")[:200],
    )
    if import_jobs.in_background(len(sheet.rows), _prefers_async()):
        return _start_job(slug, content, sheet, options)
    with r.db.sessions.begin() as session:
        event, actor = organiser(session, bearer_digest(), slug, lock=True)
        report = bulk.import_sheet(
            session, r.signer, r.links, event, actor, sheet, options
        ).as_dict()
    return report, 201 if report["counts"]["created"] else 200


@blp.get("/events/<slug>/imports")
@organiser_required
@blp.response(200, ImportJobOut(many=True))
@blp.paginate()
@blp.doc(security=BEARER)
def list_imports(slug: str, pagination_parameters):
    """The event's background imports, newest first, with their state and progress (their
    reports at `GET …/imports/<id>`); kept for 7 days after they end. Paginated."""
    with resources().db.reads() as session:
        event, _actor = organiser(session, bearer_digest(), slug)
        jobs = import_jobs.listed(event)
        total = session.scalar(select(func.count()).select_from(jobs.order_by(None).subquery()))
        pagination_parameters.item_count = total
        first, size = pagination_parameters.first_item, pagination_parameters.page_size
        if first >= total:  # past the end, however far: no offset too large for the database
            return []
        return session.scalars(jobs.offset(first).limit(size)).all()


@blp.get("/events/<slug>/imports/<id:job_id>")
@organiser_required
@blp.response(200, ImportJobDetail)
@blp.alt_response(404, schema=ErrorBody)
@blp.doc(security=BEARER)
def get_import(slug: str, job_id: int):
    """A background import: its state, its progress (rows done of the phase's total) and, once
    done or refused, its report row by row. Poll it every second or two."""
    with resources().db.reads() as session:
        event, _actor = organiser(session, bearer_digest(), slug)
        job = import_jobs.get(session, event, job_id)
        _ = job.report  # loaded while the session is open
        return job


def _prefers_async() -> bool:
    """`Prefer: respond-async` (RFC 7240), among other preferences or not."""
    preferences = request.headers.get("Prefer", "").replace(";", ",").split(",")
    return any(p.strip().lower() == "respond-async" for p in preferences)


def _start_job(slug: str, content: bytes, sheet, options: bulk.Options) -> Response:
    r = resources()
    with r.db.sessions.begin() as session:
        event, actor = organiser(session, bearer_digest(), slug)
        job = import_jobs.create(session, event, actor, content, sheet, options)
    try:
        _send(job.id)
    except BrokerError as exc:
        with r.db.sessions.begin() as session:
            session.execute(delete(ImportJob).where(ImportJob.id == job.id))
        raise Unavailable(
            "queue_unavailable",
            "The import could not be queued just now; nothing was imported. Try again shortly.",
        ) from exc
    response = jsonify(ImportJobOut().dump(job))
    response.status_code = 202
    response.headers["Location"] = url_for(".get_import", slug=slug, job_id=job.id)
    if _prefers_async():
        response.headers["Preference-Applied"] = "respond-async"
    return response


def _send(job_id: int) -> None:
    """Hand the job to the registration worker."""
    celery = create_celery("registration-web", current_app.config["SETTINGS"])
    try:
        celery.send_task(
            import_jobs.TASK,
            args=(job_id,),
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.5},
        )
    finally:
        celery.close()


class Unavailable(Problem):
    status = 503


FILE_RESPONSES = {
    "200": {
        "description": "the file, as an attachment",
        "content": {
            exports.FORMATS["csv"]: {"schema": {"type": "string"}},
            exports.FORMATS["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@blp.get("/events/<slug>/exports/registrations.<any(csv, xlsx):fmt>")
@bearer_required
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.doc(security=BEARER, responses=FILE_RESPONSES)
def export_registrations(slug: str, fmt: str):
    """Every registration, with its status and its badge's status and version (CSV in UTF-8
    with a byte-order mark, or XLSX)."""
    return _download(slug, fmt, exports.registrations)


@blp.get("/events/<slug>/exports/badges.<any(csv, xlsx):fmt>")
@bearer_required
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.doc(security=BEARER, responses=FILE_RESPONSES)
def export_badges(slug: str, fmt: str):
    """The badge print list: confirmed delegates with an active badge, by category and name,
    with the Latin transliteration of names in other scripts and the text of each badge's QR
    code (for a print shop that draws the codes)."""
    return _download(slug, fmt, functools.partial(exports.badge_list, signer=resources().signer))


def _download(slug: str, fmt: str, make) -> Response:
    with resources().db.reads() as session:
        event, _actor = organiser(session, bearer_digest(), slug)
        export = make(session, event, fmt)
    return Response(
        export.content,
        content_type=export.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",  # personal data
        },
    )
