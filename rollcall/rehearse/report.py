"""The rehearsal's report: arrivals per gate per 5 minutes and queue length per gate as PNG
plots, scan latencies, and the system's headcount checked against the simulation's count."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no display, no global state
from matplotlib.patches import Rectangle

from rollcall.rehearse.morning import END, OFFLINE_WINDOW, OPENING, Morning

BIN = 5 * 60
GRID = 30  # seconds between two queue samples
MAX_LINES = 10  # more gates than this are drawn as a heat map
MAX_LABELS = 60  # a heat map names every gate up to this many, else one in every few
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


def queue_minutes(morning: Morning) -> dict:
    """How long people stood in line (simulated minutes, p50/p95/max): at the gates, and at
    the desks."""
    waits = defaultdict(list)
    for p in morning.passes:
        waits["desk" if p.kind == "desk" else "gate"].append((p.served - p.queued) / 60)
    figures = {}
    for kind in ("gate", "desk"):
        values = np.array(waits[kind] or [0.0])
        p50, p95 = np.percentile(values, [50, 95])
        figures[kind] = {"p50": round(float(p50), 1), "p95": round(float(p95), 1),
                         "max": round(float(values.max()), 1)}  # fmt: skip
    return figures


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


def plot_arrivals(morning: Morning, path: Path) -> None:
    passes, gates = morning.passes, morning.lanes
    bins = int(END // BIN) + 2
    counts = np.zeros((len(gates), bins))
    for p in passes:
        if p.result == "admitted":
            counts[gates.index(p.gate), min(int(p.served // BIN), bins - 1)] += 1
    title = "Arrivals per gate per 5 minutes"
    _draw(counts, morning, BIN, title, "admissions", path, bars=True)


def plot_queues(morning: Morning, path: Path) -> None:
    """Queue length: who joined a gate's queue and whose turn has not come yet, sampled every
    30 s of the morning."""
    passes, gates = morning.passes, morning.lanes
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
    _draw(lengths, morning, GRID, title, "people waiting", path, bars=False)


def _draw(values, morning: Morning, step, title, unit, path: Path, bars: bool) -> None:
    gates, desks, offline_gate = morning.lanes, morning.desks, morning.offline_gate
    heat_map = len(gates) > MAX_LINES
    if heat_map and len(desks) > 1:  # the desks as one row: together, on the gates' scale
        at_desk = np.isin(gates, desks)
        values = np.vstack([values[~at_desk], values[at_desk].sum(axis=0)])
        gates = [g for g in gates if g not in set(desks)] + [f"{len(desks)} desks together"]
    height = min(5.5 + max(0, len(gates) - 40) * 0.06, 12) if heat_map else 5.5
    figure = Figure(figsize=(11, height), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    times = [CLOCK + timedelta(seconds=i * step) for i in range(values.shape[1])]
    labels = [t.strftime("%H:%M") for t in times]
    offline = [moment / step for moment in OFFLINE_WINDOW] if offline_gate else None
    if not heat_map:
        x = np.arange(values.shape[1])
        if bars:
            bottom = np.zeros(values.shape[1])
            for row, gate in enumerate(gates):
                axes.bar(x, values[row], bottom=bottom, label=gate, width=0.9)
                bottom += values[row]
        else:
            for row, gate in enumerate(gates):
                axes.step(x, values[row], where="post", label=gate)
        if offline:
            axes.axvspan(*offline, color="grey", alpha=0.2, label=f"{offline_gate} offline")
        axes.legend(loc="upper left", fontsize="small")
        axes.set_ylabel(unit)
    else:
        image = axes.imshow(values, aspect="auto", interpolation="nearest", cmap="viridis")
        figure.colorbar(image, ax=axes, label=unit)
        axes.set_ylabel(f"{len(morning.lanes) - len(desks)} gates and {len(desks)} desk(s)")
        last = len(gates) - 1
        rows = [*range(0, last, math.ceil(len(gates) / MAX_LABELS)), last]
        axes.set_yticks(rows, [gates[row] for row in rows], fontsize="x-small")
        if offline:  # a frame around the offline gate's row while it was offline
            row = gates.index(offline_gate)
            box = Rectangle((offline[0], row - 0.5), offline[1] - offline[0], 1, fill=False,
                            edgecolor="red", linewidth=1.5)  # fmt: skip
            axes.add_patch(box)
            axes.annotate(f"{offline_gate} offline", (offline[1], row), xytext=(6, 0),
                          textcoords="offset points", color="red", fontsize="small",
                          va="center")  # fmt: skip
    every = max(1, 600 // step)  # a tick every 10 minutes, or 20, 40…
    while values.shape[1] / every > 14:
        every *= 2
    ticks = range(0, values.shape[1], every)
    axes.set_xticks(list(ticks), [labels[i] for i in ticks])
    axes.axvline(OPENING / step, color="black", linestyle="--", linewidth=1)
    axes.set_title(f"{title} (dashed: opening plenary, 09:00)")
    axes.set_xlabel("time of the morning (simulated)")
    figure.savefig(path)
