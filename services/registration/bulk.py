"""Importing an invitation list: the spreadsheet a protocol office keeps (CSV or XLSX, headers
in English or Chinese) read into rows, each row checked as the registration form checks one
delegate, then registered through `lifecycle.register`, so seats, waitlist, events and audit
all apply.

All or nothing unless asked otherwise: one bad row and nothing is written, and the report names
every bad cell by its row number as the spreadsheet shows it. Uploading a list again is
harmless: a row already registered with the same details is `unchanged`.

`import_sheet` does it all in the caller's transaction; a background job (`import_jobs`) uses
the steps, `check_rows`, `compare_registered`, `import_rows` and `record_import`, in parts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from marshmallow import ValidationError, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registration import delegate_lists, domain, lifecycle
from services.registration.access import Actor
from services.registration.delegate_lists import Sheet
from services.registration.models import AuditEntry, Category, Event, Registration
from services.registration.schemas import RegistrationIn, Text
from shared.badges import BadgeSigner
from shared.db import refresh_statistics
from shared.errors import Invalid
from shared.manage_links import ManageLinks

Progress = Callable[[str, int, int], None]
"""Called as rows are done: ("checking" or "importing", rows done, rows in all)."""

REPORTED = ("row", "email", "status", "registration_id", "registration_status", "errors")
COMPARED = ("given_name", "family_name", "organisation", "city", "country", "category",
            "language", "dietary", "accessibility")  # fmt: skip


class ImportRow(RegistrationIn):
    """One delegate as the registration form takes them, with the needs a list may carry."""

    dietary = Text(validate=validate.Length(max=200), load_default="")
    accessibility = Text(validate=validate.Length(max=200), load_default="")


@dataclass(frozen=True)
class Options:
    valid_only: bool = False  # import the good rows and report the rest
    invited: bool = False  # the organiser invites: approval is skipped
    category: str | None = None  # for rows that name none
    source: str = ""  # the file's name, for the audit trail


@dataclass
class RowResult:
    row: int
    email: str = ""
    status: str = "valid"  # valid (to create), created, unchanged or failed
    errors: list[dict] = field(default_factory=list)
    data: dict | None = None
    given: frozenset[str] = frozenset()  # the fields the row filled in
    registration_id: int | None = None
    registration_status: str | None = None

    def fail(self, name: str, column: str, message: str) -> None:
        self.status, self.data = "failed", None
        self.errors.append({"field": name, "column": column, "message": message})

    def outcome(self) -> dict:
        """What the report says of the row."""
        return {k: getattr(self, k) for k in REPORTED}

    def restore(self, outcome: dict) -> None:
        """Take back what an earlier run reported of the row (a job resumed)."""
        for name in REPORTED:
            setattr(self, name, outcome[name])
        self.data = None


@dataclass
class Report:
    options: Options
    rows: list[RowResult]
    ignored_columns: list[str]

    def counts(self) -> dict[str, int]:
        tally = {
            s: sum(r.status == s for r in self.rows) for s in ("created", "unchanged", "failed")
        }
        return {"rows": len(self.rows), **tally}

    def as_dict(self) -> dict:
        return {
            "mode": "valid_only" if self.options.valid_only else "all_or_nothing",
            "invited": self.options.invited,
            "counts": self.counts(),
            "ignored_columns": self.ignored_columns,
            "rows": [r.outcome() for r in self.rows],
        }


class ImportRefused(Invalid):
    """All or nothing, and some rows are bad: nothing is imported; the report says why."""

    def __init__(self, report: Report):
        failed = [r.row for r in report.rows if r.status == "failed"]
        listed = ", ".join(map(str, failed[:10])) + (", …" if len(failed) > 10 else "")
        rows = f"row {listed} has" if len(failed) == 1 else f"rows {listed} have"
        super().__init__(
            "invalid_rows",
            f"{len(failed)} of {len(report.rows)} rows cannot be imported ({rows} errors), so "
            "nothing was imported. Correct them and upload the file again, or import the valid "
            "rows only.",
            {"file": [f"Row {r.row}, {e['column']}: {e['message']}" for r in report.rows
                      for e in r.errors]},
        )  # fmt: skip
        self.report = report

    def body(self) -> dict:
        body = super().body()
        body["error"]["report"] = self.report.as_dict()  # the one error shape, and the detail
        return body


def check_rows(
    sheet: Sheet,
    categories: Iterable[Category],
    default_category: str | None = None,
    progress: Progress | None = None,
) -> list[RowResult]:
    """Each row as the registration form would take it; duplicates within the file fail."""
    delegate_lists.missing_columns(sheet, default_category)
    categories, schema = list(categories), ImportRow()
    first: dict[str, int] = {}
    results = []
    for done, (number, cells) in enumerate(sheet.rows, 1):
        raw = sheet.values(cells)
        if default_category:
            raw.setdefault("category", default_category)
        result = RowResult(number, raw.get("email", ""), given=frozenset(raw))
        _check(schema, result, delegate_lists.as_codes(raw, categories), sheet, categories)
        key = domain.email_key(result.email) if result.email else None
        if key in first:
            result.fail("email", sheet.header("email"), f"The same e-mail as row {first[key]}.")
        elif key:
            first[key] = number
        results.append(result)
        if progress:
            progress("checking", done, len(sheet.rows))
    return results


# The tables an import grows that registration looks rows up in by more than their key: their
# planner statistics are refreshed by each import (`shared.db.refresh_statistics`).
GROWN = ("registrations", "badges")


def import_sheet(
    session: Session,
    signer: BadgeSigner,
    links: ManageLinks,
    event: Event,
    actor: Actor,
    sheet: Sheet,
    options: Options | None = None,
    progress: Progress | None = None,
) -> Report:
    """Check every row, then register the valid ones; the caller holds the event's lock, so
    no registration can slip in between the check and the import."""
    options = options or Options()
    rows = check_rows(sheet, event.categories, options.category, progress)
    compare_registered(session, event, rows, sheet.header("email"))
    report = Report(options, rows, sheet.ignored)
    if not options.valid_only and any(r.status == "failed" for r in rows):
        raise ImportRefused(report)
    todo = [r for r in rows if r.status == "valid"]
    import_rows(session, signer, links, event, actor, todo, options, sheet, progress)
    record_import(session, event, actor, report)
    return report


def import_rows(
    session: Session,
    signer: BadgeSigner,
    links: ManageLinks,
    event: Event,
    actor: Actor,
    rows: list[RowResult],
    options: Options,
    sheet: Sheet,
    progress: Progress | None = None,
) -> None:
    """Register rows found valid, under the event's lock the caller holds. Each is compared
    with the registrations again first: a delegate may have registered since the rows were
    checked (between the parts of a background import), and is then reported as such."""
    compare_registered(session, event, rows, sheet.header("email"))
    todo = [r for r in rows if r.status == "valid"]
    for done, result in enumerate(todo, 1):
        registered = lifecycle.register_in(
            session,
            signer,
            links,
            event,
            result.data,
            invited=options.invited,
            actor=actor,
        )
        result.status, result.registration_id = "created", registered.id
        result.registration_status = registered.status
        if progress:
            progress("importing", done, len(todo))
    # In this transaction: ANALYZE counts the rows it inserted, so the next part's (or the next
    # import's) lookups are planned for the table as it is.
    refresh_statistics(session, *GROWN)


def record_import(session: Session, event: Event, actor: Actor | str, report: Report, **detail):
    """The audit entry of a whole import: which file, and how many rows did what."""
    detail = {"file": report.options.source, "invited": report.options.invited,
              **report.counts(), **detail}  # fmt: skip
    session.add(
        AuditEntry(event_id=event.id, actor=str(actor), action="delegates.imported", detail=detail)
    )


def _check(
    schema: ImportRow, result: RowResult, raw: dict, sheet: Sheet, categories: list[Category]
) -> None:
    try:
        data = schema.load(raw)
    except ValidationError as exc:
        data = None
        for name, messages in exc.messages.items():
            for message in messages if isinstance(messages, list) else [messages]:
                result.fail(name, sheet.header(name), _explain(name, str(message), raw))
    codes = [c.code for c in categories]
    if raw.get("category") and raw["category"] not in codes:
        message = f"Unknown category {raw['category']!r}; one of: {', '.join(codes)}."
        result.fail("category", sheet.header("category"), message)
    elif data is not None:
        result.data = data


def _explain(name: str, message: str, raw: dict) -> str:
    if message.startswith("Missing data"):
        return "This cell is empty, but it is required."
    if name == "country":
        return (
            f"Unknown country {raw[name]!r}: write a code such as CN or a name such as China, 中国."
        )
    return message


def compare_registered(session: Session, event: Event, rows: list[RowResult], column: str) -> None:
    """Rows whose delegate is registered already: `unchanged`, or failed if the details
    differ."""
    _compare(rows, _registered(session, event, rows), column)


def _registered(session: Session, event: Event, rows: list[RowResult]) -> dict:
    keys = sorted({domain.email_key(r.email) for r in rows if r.data})
    found = {}
    for start in range(0, len(keys), 500):
        query = select(Registration).where(
            Registration.event_id == event.id, Registration.email_key.in_(keys[start : start + 500])
        )
        found.update((r.email_key, r) for r in session.scalars(query))
    return found


def _compare(rows: list[RowResult], registered: dict, column: str) -> None:
    """A row whose delegate is registered already: unchanged if it says what the registration
    says (in the fields the row fills in), a duplicate otherwise."""
    for result in rows:
        existing = registered.get(domain.email_key(result.email)) if result.data else None
        if existing is None:
            continue
        differs = [
            f for f in COMPARED if f in result.given and getattr(existing, f) != result.data[f]
        ]
        if differs:
            message = (
                f"Already registered for this event (registration {existing.id}) with other "
                f"details: {', '.join(differs)}. Correct that registration instead."
            )
            result.fail("email", column, message)
        else:
            result.status, result.registration_id = "unchanged", existing.id
            result.registration_status = existing.status
