"""`rollcall import-delegates FILE --event SLUG`: import an invitation list on the server, with
a progress bar; for lists bigger than an upload may be. The same checks and report as the
organisers' upload (`POST /api/v1/events/<slug>/imports`)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text


@click.command("import-delegates")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--event", "slug", required=True, help="The event's slug, such as gmf2023.")
@click.option("--valid-only", is_flag=True, help="Import the good rows, report the others.")
@click.option("--invited", is_flag=True, help="Invited by the organisers: skip approval.")
@click.option("--category", help="Category code for rows that name none.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the whole report, row by row, to this JSON file.",
)
def import_delegates(
    file: Path,
    slug: str,
    valid_only: bool,
    invited: bool,
    category: str | None,
    report_path: Path | None,
) -> None:
    """Import an invitation list (CSV or XLSX) into an event. One bad row and nothing is
    imported, unless --valid-only; importing a list again creates nothing new."""
    from services.registration import bulk
    from services.registration.access import Actor
    from services.registration.delegate_lists import read_sheet
    from services.registration.event_setup import event_by_slug
    from shared.badges import signer_from
    from shared.config import Settings
    from shared.db import Database
    from shared.errors import Problem
    from shared.manage_links import links_from

    settings = Settings.from_env()
    database = Database.at(settings.registration_database_url)
    actor = Actor("organiser", f"cli:{getpass.getuser()}")
    options = bulk.Options(valid_only, invited, category, file.name)
    console = Console(soft_wrap=True)
    try:
        sheet = read_sheet(file.read_bytes())
        with _ProgressBars() as progress, database.sessions.begin() as session:
            event = event_by_slug(session, slug, lock=True)
            report = bulk.import_sheet(
                session,
                signer_from(settings),
                links_from(settings),
                event,
                actor,
                sheet,
                options,
                progress,
            )
    except bulk.ImportRefused as refused:
        report = refused.report
        console.print(Text(refused.message, style="red"))
    except Problem as problem:
        raise click.ClickException(problem.message) from problem
    finally:
        database.engine.dispose()
    _show(console, report.as_dict())
    if report_path:
        report_path.write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n")
    if report.counts()["failed"]:
        raise SystemExit(1)


class _ProgressBars:
    """A rich progress bar for each stage `bulk` reports ("checking", "importing")."""

    def __enter__(self):
        self.progress = Progress(
            TextColumn("{task.description:>9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.tasks: dict[str, int] = {}
        self.progress.start()
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total)
        self.progress.update(self.tasks[stage], completed=done)

    def __exit__(self, *_exc) -> None:
        self.progress.stop()


def _show(console: Console, report: dict) -> None:
    counts = report["counts"]
    console.print(
        f"{counts['rows']} rows: {counts['created']} created, {counts['unchanged']} unchanged, "
        f"{counts['failed']} failed"
    )
    if report["ignored_columns"]:
        console.print(Text(f"Columns not imported: {', '.join(report['ignored_columns'])}"))
    failed = [r for r in report["rows"] if r["errors"]]
    if failed:
        table = Table("Row", "Column", "Problem")
        for row in failed:
            for error in row["errors"]:
                table.add_row(str(row["row"]), Text(error["column"]), Text(error["message"]))
        console.print(table)
