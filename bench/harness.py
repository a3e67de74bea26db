"""Run the sections in order, on one system started for them all, and collect their figures.

The order keeps each section from disturbing the next: badges first (in this process, before
anything starts), then the gates at the forum's size, the live stream and offline sync, then
200,000 badges, and registration last (its burst leaves notify a backlog of badge mails).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench import flows, gates
from bench.load import REGISTER_SCRIPT, run_wrk
from bench.rendering import rendering
from bench.system import running_system

SECTIONS = ("badges", "baseline", "scan", "live", "offline", "scale", "registration")


@dataclass(frozen=True)
class Sizes:
    seconds: float = 10  # each wrk run
    concurrencies: tuple[int, ...] = (1, 16, 64)
    forum_badges: int = 800
    scale_badges: int = 200_000
    # The scale runs scan as many badges as the forum's runs, spread over the whole replica: the
    # same mix of first entries and re-entries (and the same downstream work: a first arrival
    # reaches registration and notify, a mayor's alerts the protocol office), so that only the
    # replica's size differs.
    scale_sample: int = 800
    scale_concurrencies: tuple[int, ...] = (1, 16, 64)
    registration_rate: float = 50
    registration_seconds: float = 20
    registration_burst_seconds: float = 10
    registration_connections: int = 16
    mail_wait: float = 90
    drain_wait: float = 60  # for the workers to finish an earlier section's events
    live_scans: int = 30
    live_interval: float = 0.5
    offline_scans: int = 5000
    qr_count: int = 300
    pdf_count: int = 40


FULL = Sizes()
QUICK = replace(
    FULL,
    seconds=3,
    scale_badges=50_000,
    scale_concurrencies=(16,),
    registration_seconds=5,
    registration_burst_seconds=3,
    mail_wait=40,
    drain_wait=20,
    live_scans=10,
    qr_count=100,
    pdf_count=10,
)
TINY = replace(  # the smoke test's: every section, at sizes that prove nothing but the harness
    FULL,
    seconds=1,
    concurrencies=(2,),
    forum_badges=100,
    scale_badges=1_000,
    scale_sample=100,
    scale_concurrencies=(2,),
    registration_rate=5,
    registration_seconds=1,
    registration_burst_seconds=1,
    registration_connections=2,
    mail_wait=30,
    drain_wait=20,
    live_scans=2,
    live_interval=0.3,
    offline_scans=100,
    qr_count=3,
    pdf_count=1,
)


def run(
    sections: tuple[str, ...],
    sizes: Sizes,
    database: str,
    work: Path,
    logs: Path | None = None,
    before_scan=None,
) -> dict:
    """Every section asked for, in SECTIONS' order; `before_scan(system, badges)` (tests) runs
    just before the scan runs; `logs` keeps every process's log there."""
    results: dict = {"machine": machine(), "database": database.split(":", 1)[0]}
    results["sizes"], results["section_s"] = sizes.__dict__, {}
    started = time.monotonic()

    def timed(name: str, measure, system=None, *, drain: bool = True) -> None:
        """Measure one section; one that breaks is reported and the others still run. With a
        system, note the CPU each of its processes used meanwhile, and first (unless `drain`
        is False) let its workers finish what earlier sections left them (recorded)."""
        if system is not None and drain:
            results.setdefault("drained", {})[name] = system.drain(sizes.drain_wait)
        began = time.monotonic()
        cpu = system.cpu_seconds() if system is not None else None
        try:
            results[name] = measure()
        except Exception as exc:  # a failed section fails the run, after the others ran
            results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
        results["section_s"][name] = round(time.monotonic() - began, 1)
        if cpu is not None:  # where the section's CPU went, process by process
            after = system.cpu_seconds()
            results.setdefault("cpu_s", {})[name] = {
                process: round(after[process] - cpu.get(process, 0.0), 1) for process in after
            }

    if "badges" in sections:
        timed("badges", lambda: rendering(sizes.qr_count, sizes.pdf_count))
    if set(sections) - {"badges"}:
        with running_system(database, logs=logs) as system:
            results["section_s"]["start"] = round(time.monotonic() - started, 1)
            forum = list(system.seed_badges(sizes.forum_badges))
            plans = work / "plans"
            if "baseline" in sections:
                timed(
                    "baseline",
                    lambda: [
                        r.as_dict()
                        for r in gates.baseline_runs(
                            system, sizes.concurrencies, sizes.seconds, plans
                        )
                    ],
                    system,
                    drain=False,
                )
            if "scan" in sections:
                if before_scan:
                    before_scan(system, forum)
                timed(
                    "scan",
                    lambda: [
                        r.as_dict()
                        for r in gates.scan_runs(
                            system, forum, sizes.concurrencies, sizes.seconds, plans / "scan"
                        )
                    ],
                    system,
                    drain=False,
                )
                results["memory_mb_forum"] = system.memory()
            if "live" in sections:
                badges = list(system.seed_badges(sizes.live_scans, system.open_event[0]))
                timed(
                    "live", lambda: flows.live_latency(system, badges, sizes.live_interval), system
                )
            if "offline" in sections:
                badges = list(system.seed_badges(sizes.offline_scans))
                timed(
                    "offline",
                    lambda: flows.offline_sync(system, badges, sizes.offline_scans),
                    system,
                )
            if "scale" in sections:
                timed("scale", lambda: scale(system, sizes, plans / "scale"), system)
            if "registration" in sections:
                timed("registration", lambda: registration(system, sizes), system)
    results["wall_s"] = round(time.monotonic() - started, 1)
    return results


def scale(system, sizes: Sizes, plan_dir: Path) -> dict:
    started = time.monotonic()
    more = system.seed_badges(sizes.scale_badges - system.seeded)
    seeded_in = time.monotonic() - started
    step = max(1, len(more) // sizes.scale_sample)
    sample = list(more[::step])
    runs = gates.scan_runs(system, sample, sizes.scale_concurrencies, sizes.seconds, plan_dir)
    return {
        "badges": system.seeded,
        "seeded_in_s": round(seeded_in, 1),
        "runs": [r.as_dict() for r in runs],
        "memory_mb": system.memory(),
    }


def registration(system, sizes: Sizes) -> dict:
    steady = flows.steady_registrations(
        system, sizes.registration_rate, sizes.registration_seconds, sizes.mail_wait
    )
    burst = run_wrk(
        system.url("registration"),
        REGISTER_SCRIPT,
        sizes.registration_connections,
        sizes.registration_burst_seconds,
        f"burst{os.getpid()}",
        flows.REGISTER_PATH,
    )
    return {"steady": steady, "burst": burst.as_dict()}


def machine() -> dict:
    return {"cores": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)}
