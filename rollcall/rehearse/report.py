"""The rehearsal's report: arrivals per gate per 5 minutes and queue length per gate as PNG
plots, scan latencies, and the system's headcount checked against the simulation's count."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no display, no global state

from rollcall.rehearse.gates import Outcome
from rollcall.rehearse.morning import END, OFFLINE_WINDOW, OPENING, Morning

BIN = 5 * 60
GRID = 30  # seconds between two queue samples
MAX_LINES = 10  # more gates than this are drawn as a heat map
CLOCK = datetime(2023, 12, 7, 7, 30)


def percentiles(seconds: list[float]) -> dict:
    """p50/p95/p99/max in milliseconds, and the count."""
    if not seconds:
        return {"count": 0}
    values = np.array(seconds) * 1000
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"count": len(seconds), "p50_ms": round(float(p50), 1), "p95_ms": round(float(p95), 1),
            "p99_ms": round(float(p99), 1), "max_ms": round(float(values.max()), 1)}  # fmt: skip


def latency_figures(morning: Morning) -> dict:
    by_kind = defaultdict(list)
    for p in morning.passes:
        if p.latency is not None:
            by_kind[p.kind].append(p.latency)
    return {
        "scan": percentiles(by_kind["gate"]),
        "desk": percentiles(by_kind["desk"]),
        "offline_sync": percentiles(morning.sync_seconds) | {"scans": morning.synced},
    }


def headcount_problems(headcount: dict, morning: Morning, registered: int) -> list[str]:
    """Every way the system's figures differ from the simulation's own count."""
    problems = []
    expected = {"registered": registered, "arrived": len(morning.arrived_at),
                "inside": len(morning.inside)}  # fmt: skip
    for key, value in expected.items():
        if headcount.get(key) != value:
            problems.append(f"{key}: the system says {headcount.get(key)}, the simulation {value}")
    first_gates = Counter(morning.arrived_at.values())
    for gate, counts in headcount.get("by_gate", {}).items():
        if counts["arrived"] != first_gates.get(gate, 0):
            problems.append(
                f"arrived at {gate}: the system says {counts['arrived']}, "
                f"the simulation {first_gates.get(gate, 0)}"
            )
    return problems + morning.mismatches


def _gates(passes: list[Outcome]) -> list[str]:
    return sorted({p.gate for p in passes})


def plot_arrivals(passes: list[Outcome], path: Path, offline_gate: str | None = None) -> None:
    gates = _gates(passes)
    bins = int(END // BIN) + 2
    counts = np.zeros((len(gates), bins))
    for p in passes:
        if p.result == "admitted":
            counts[gates.index(p.gate), min(int(p.served // BIN), bins - 1)] += 1
    title = "Arrivals per gate per 5 minutes"
    _draw(counts, gates, BIN, title, "admissions", path, bars=True, offline_gate=offline_gate)


def plot_queues(passes: list[Outcome], path: Path, offline_gate: str | None = None) -> None:
    """Queue length: who joined a gate's queue and whose turn has not come yet, sampled every
    30 s of the morning."""
    gates = _gates(passes)
    last = max((p.served for p in passes), default=END)
    grid = np.arange(0, max(last, END) + GRID, GRID)
    lengths = np.zeros((len(gates), len(grid)))
    for row, gate in enumerate(gates):
        joined = np.sort([p.queued for p in passes if p.gate == gate])
        turned = np.sort([p.served for p in passes if p.gate == gate])
        lengths[row] = np.searchsorted(joined, grid, "right") - np.searchsorted(
            turned, grid, "right"
        )
    title = "Queue length per gate"
    _draw(
        lengths, gates, GRID, title, "people waiting", path, bars=False, offline_gate=offline_gate
    )


def _draw(values, gates, step, title, unit, path: Path, bars: bool, offline_gate=None) -> None:
    figure = Figure(figsize=(11, 5.5), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    times = [CLOCK + timedelta(seconds=i * step) for i in range(values.shape[1])]
    labels = [t.strftime("%H:%M") for t in times]
    if len(gates) <= MAX_LINES:
        x = np.arange(values.shape[1])
        if bars:
            bottom = np.zeros(values.shape[1])
            for row, gate in enumerate(gates):
                axes.bar(x, values[row], bottom=bottom, label=gate, width=0.9)
                bottom += values[row]
        else:
            for row, gate in enumerate(gates):
                axes.step(x, values[row], where="post", label=gate)
        axes.legend(loc="upper left", fontsize="small")
        axes.set_ylabel(unit)
    else:
        image = axes.imshow(values, aspect="auto", interpolation="nearest", cmap="viridis")
        figure.colorbar(image, ax=axes, label=unit)
        axes.set_ylabel(f"gate (of {len(gates)})")
        axes.set_yticks(range(0, len(gates), max(1, len(gates) // 10)))
    every = max(1, 600 // step)  # a tick every 10 minutes, or 20, 40…
    while values.shape[1] / every > 14:
        every *= 2
    ticks = range(0, values.shape[1], every)
    axes.set_xticks(list(ticks), [labels[i] for i in ticks])
    axes.axvline(OPENING / step, color="black", linestyle="--", linewidth=1)
    if offline_gate:
        start, end = (moment / step for moment in OFFLINE_WINDOW)
        axes.axvspan(start, end, color="grey", alpha=0.2, label=f"{offline_gate} offline")
        if len(gates) <= MAX_LINES:
            axes.legend(loc="upper left", fontsize="small")
    axes.set_title(f"{title} (dashed: opening plenary, 09:00)")
    axes.set_xlabel("time of the morning (simulated)")
    figure.savefig(path)
