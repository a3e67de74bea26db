"""The dress rehearsal from end to end: the system (running, or started here), the event and
its gates, the delegates registered and approved, every badge mail read, the morning played,
and the report written; any difference between the system and the simulation fails it."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rollcall.rehearse import checks, drive, report, system
from rollcall.rehearse.mails import MailBox, MailTimeout
from rollcall.rehearse.morning import Simulation
from rollcall.rehearse.people import Roster, cities


@dataclass
class Options:
    delegates: int = 800
    gates: int = 4
    desks: int | None = None  # registration desks; None: one per 2,000 delegates
    seed: int = 2023
    speed: float = 60.0
    replicas: int = 1
    database_url: str | None = None  # the private system's; None: SQLite files
    against: dict | None = None  # a running system: system.running_system's arguments
    out_dir: Path = Path("var/rehearsal")
    mail_timeout: float = 600.0
    workers: int = 4  # registrations in flight
    badges: str = "mail"  # where the tokens come from: the badge mails, or "api" (quicker)
    web_workers: int | None = None  # gunicorn workers of each own web process; None: Procfile's


@dataclass
class Outcome:
    ok: bool
    report: dict = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)


def rehearse(options: Options, console: Console) -> Outcome:
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    slug = f"rehearsal-{stamp}-{options.seed}"[:64]
    out = options.out_dir / slug
    out.mkdir(parents=True, exist_ok=True)
    with _system(options, out) as target, _bars(console) as bars:
        desks = options.desks or drive.desks_for(options.delegates)
        console.print(f"[bold]Rehearsal {slug}[/]: {options.delegates} delegates, "
                      f"{options.gates} gates, {desks} desk(s), seed {options.seed}, "
                      f"speed ×{options.speed:g}; {target.description}")  # fmt: skip
        venue = drive.set_up_event(target, slug, options.gates, desks, _wait_for)
        roster = Roster(options.delegates, options.seed)
        since = time.time() - 1
        timings = {"start": time.monotonic() - started}
        registering = bars.add_task("registering", total=options.delegates)
        registered = drive.register_everyone(
            target.api, venue, roster, lambda n: bars.advance(registering, n), options.workers
        )
        approving = bars.add_task("approving", total=len(registered.pending))
        drive.approve(target.api, venue, registered.pending, lambda n: bars.advance(approving, n))
        timings["register"] = time.monotonic() - started - sum(timings.values())
        mailbox = MailBox(target.mail_dir, registered.delegates, since,
                          read_codes=options.badges == "mail")  # fmt: skip
        if options.badges == "mail":
            mails = bars.add_task("badge mails", total=options.delegates)
            mailbox.wait_for_badges(options.mail_timeout, lambda n: bars.advance(mails, n))
        else:
            fetched = bars.add_task("badge list", total=options.delegates)
            drive.fetch_badges(target.api, venue, registered.delegates.values(),
                               lambda n: bars.advance(fetched, n))  # fmt: skip
        timings["mail"] = time.monotonic() - started - sum(timings.values())

        delegates = sorted(registered.delegates.values(), key=lambda d: d.number)
        simulation = Simulation(target.api, venue, delegates, options.seed, options.speed)
        drive.revoke(target.api, venue, simulation.stolen, "Reported stolen at the hotel.")
        _wait_for(lambda: _revoked_at_gates(target, venue, simulation.stolen.badge_id), 60,
                  "the revocation to reach the gates")  # fmt: skip
        # The doors open once the gates know every badge: with two checkin workers the
        # revocation may reach the replica before an earlier batch of new badges does.
        _wait_for(lambda: _headcount(target, venue)["registered"] == options.delegates - 1,
                  120, "every badge to reach the gates")  # fmt: skip
        morning_bar = bars.add_task("the morning", total=simulation.people_expected())
        morning = simulation.run(lambda n: bars.advance(morning_bar, n))
        timings["morning"] = time.monotonic() - started - sum(timings.values())
        problems = []
        if options.badges != "mail":  # the badge mails, sent while the morning ran, all came?
            mails = bars.add_task("badge mails", total=options.delegates)
            try:
                mailbox.wait_for_badges(options.mail_timeout, lambda n: bars.advance(mails, n))
            except MailTimeout as late:
                problems.append(str(late))
            timings["mail_after"] = time.monotonic() - started - sum(timings.values())

        headcount = _headcount(target, venue)
        problems += report.headcount_problems(headcount, morning, options.delegates - 1)
        doubled = mailbox.doubled()
        problems += [f"{n} badge mails to {address}" for address, n in doubled.items()]
        repeated = mailbox.repeated_message_ids()
        problems += [f"Message-ID {mid} sent {n} times" for mid, n in repeated.items()]
        if target.checkin_database_url:
            problems += checks.double_admissions(target.checkin_database_url, slug)
    plots = [out / "arrivals.png", out / "queues.png"]
    report.plot_arrivals(morning, plots[0])
    report.plot_queues(morning, plots[1])
    figures = {
        "event": slug,
        "system": target.description,
        "options": {k: str(v) for k, v in asdict(options).items() if k != "against"},
        "delegates": options.delegates,
        "countries": len({c.country for c in cities()}),
        "cities": len(cities()),
        "delegations": len(roster.delegations),
        "approved": len(registered.pending),
        "gates": options.gates,
        "desks": len(venue.desks),
        "latency": report.latency_figures(morning),
        "queue_minutes": report.queue_minutes(morning),
        "headcount": {k: headcount.get(k) for k in ("registered", "arrived", "inside")},
        "simulation": {
            "registered": options.delegates - 1,
            "arrived": len(morning.arrived_at),
            "inside": len(morning.inside),
        },  # fmt: skip
        "offline_gate": morning.offline_gate,
        "scan_log_checked": bool(target.checkin_database_url),
        "seconds": {k: round(v, 1) for k, v in timings.items()}
        | {"total": round(time.monotonic() - started, 1)},
        "problems": problems,
        "plots": [str(p) for p in plots],
    }
    (out / "report.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
    _show(console, figures)
    return Outcome(not problems, figures, plots)


@contextmanager
def _system(options: Options, out: Path):
    if options.against:
        yield system.running_system(**options.against)
    else:
        with system.own_system(
            out / "system", options.database_url, options.replicas, options.web_workers
        ) as target:
            yield target


@contextmanager
def _bars(console: Console):
    bars = Progress(
        TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console,
    )  # fmt: skip
    with bars:
        yield bars


def _revoked_at_gates(target, venue, badge_id: int) -> bool:
    found = target.api.get(
        "checkin", f"/api/v1/events/{venue.slug}/badges", venue.supervisor,
        params={"q": str(badge_id)},
    )  # fmt: skip
    return any(h["badge"]["id"] == badge_id and h["badge"]["status"] != "active"
               for h in found["results"])  # fmt: skip


def _headcount(target, venue) -> dict:
    """checkin's headcount of the event (`registered`: the active badges its replica holds)."""
    path = f"/api/v1/events/{venue.slug}/headcount"
    return target.api.get("checkin", path, venue.organizer_token)


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
    return result


def _show(console: Console, figures: dict) -> None:
    table = Table("figure", "value", title=f"Rehearsal {figures['event']}")
    for kind, numbers in figures["latency"].items():
        table.add_row(f"{kind} latency", ", ".join(f"{k} {v}" for k, v in numbers.items()))
    for kind, minutes in figures["queue_minutes"].items():
        table.add_row(f"{kind} queue (min)", ", ".join(f"{k} {v}" for k, v in minutes.items()))
    for key in ("registered", "arrived", "inside"):
        system_says, simulated = figures["headcount"][key], figures["simulation"][key]
        table.add_row(f"headcount {key}", f"{system_says} (simulation: {simulated})")
    table.add_row("seconds", ", ".join(f"{k} {v}" for k, v in figures["seconds"].items()))
    table.add_row("plots", "\n".join(figures["plots"]))
    console.print(table)
    if figures["problems"]:
        console.print(f"[bold red]{len(figures['problems'])} problem(s):[/]")
        for problem in figures["problems"][:30]:
            console.print(f"  {problem}", markup=False)
    else:
        console.print("[bold green]Headcount matches the simulation; no double admission, "
                      "no doubled mail.[/]")  # fmt: skip
