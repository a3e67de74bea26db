"""Bulk work for organisers (organiser token): import an invitation list from a spreadsheet,
and download the registrations and the badge print list as CSV or XLSX."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict, FileStorage

from services.registration import bulk, exports, resources
from services.registration.access import organiser
from services.registration.delegate_lists import read_sheet
from shared.access import bearer_digest, bearer_required
from shared.errors import ErrorBody, ErrorDetail
from shared.web import takes_uploads

# An upload is imported in one request and one transaction, under the event's lock that
# registrations wait for: 7-14 ms a row, so 1,000 rows stay well within gunicorn's 30 s.
# Bigger lists go in parts, or through `rollcall import-delegates` on the server.
MAX_ROWS = 1000
BEARER = [{"bearer": []}]


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


@blp.post("/events/<slug>/imports")
@takes_uploads
@bearer_required
@blp.arguments(ImportFlags, location="query")
@blp.arguments(ImportUpload, location="files")
@blp.response(201, ImportReport)
@blp.alt_response(200, schema=ImportReport, description="Nothing new: every row was there")
@blp.alt_response(401, schema=ErrorBody)
@blp.alt_response(403, schema=ErrorBody)
@blp.alt_response(413, schema=ErrorBody)
@blp.alt_response(415, schema=ErrorBody)
@blp.alt_response(422, schema=ImportRefusedBody)
@blp.doc(security=BEARER)
def import_delegates(query: dict, upload: dict, slug: str):
    """Import an invitation list from a spreadsheet (CSV or XLSX)

    Headers in English or Chinese, such as Given name/名, Family name/姓, E-mail/邮箱,
    Organisation/单位, City/城市, Country/国家, Category/类别, Language/语言. Every row is
    checked first; one bad row and nothing is imported (422, with a report row by row) unless
    `mode=valid_only`. Uploading the same list again creates nothing new. Flags go in the
    query or in the form; at most 1,000 rows an upload."""
    flags = {**query, **upload}
    r = resources()
    with r.db.reads() as session:  # the token first, then the work of reading the file
        organiser(session, bearer_digest(), slug)
    sheet = read_sheet(flags["file"].read(), MAX_ROWS)
    options = bulk.Options(
        valid_only=flags.get("mode") == "valid_only",
        invited=flags.get("invited", False),
        category=flags.get("category"),
        source=(flags["file"].filename or "")[:200],
    )
    with r.db.sessions.begin() as session:
        event, actor = organiser(session, bearer_digest(), slug, lock=True)
        report = bulk.import_sheet(session, r.signer, event, actor, sheet, options).as_dict()
    return report, 201 if report["counts"]["created"] else 200


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
    with the Latin transliteration of names in other scripts."""
    return _download(slug, fmt, exports.badge_list)


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
