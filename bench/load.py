"""Drive an HTTP endpoint with wrk and a Lua script, and read back the figures the script's
done() prints.

Why wrk: it is C on epoll, so on this 2-core machine it takes a sliver of the CPU the server
needs (an asyncio client in Python spends about as much per request as the server does, and
its own figures would move with it). Each wrk thread gets one connection (`-t c -c c`), so a
thread's Lua state sees its requests and answers strictly in turn, and can check each answer
against the plan its connection follows (bench/plans.py, bench/scan.lua). wrk's CPU time is
reported with every run, so the share the generator took is on the table.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
SCAN_SCRIPT = HERE / "scan.lua"
REGISTER_SCRIPT = HERE / "register.lua"


class LoadError(RuntimeError):
    """wrk is missing, failed, or printed no figures."""


@dataclass
class Run:
    """One wrk run: throughput, latency (ms) and what the answers were."""

    connections: int
    requests: int
    seconds: float
    right: int
    wrong: int
    first_wrong: str
    outcomes: dict[str, int]
    errors: dict[str, int]
    latency_ms: dict[str, float]
    generator_cpu_s: float
    extra: dict = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "connections": self.connections,
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "throughput": round(self.throughput, 1),
            "latency_ms": self.latency_ms,
            "right": self.right,
            "wrong": self.wrong,
            "first_wrong": self.first_wrong or None,
            "outcomes": self.outcomes,
            "errors": self.errors,
            "generator_cpu_s": round(self.generator_cpu_s, 2),
            "generator_cpu_share": round(self.generator_cpu_s / self.seconds, 3)
            if self.seconds
            else None,
        }


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise LoadError("wrk is not installed (Debian: apt-get install wrk)")
    return found


def run_wrk(url: str, script: Path, connections: int, seconds: float, *args: str) -> Run:
    """`connections` connections (a thread each) for `seconds` against `url`."""
    command = [
        wrk_path(),
        "-t",
        str(connections),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        "--",
        *args,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise LoadError(
            f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}"
        )
    figures = json.loads(line.removeprefix("BENCH_JSON "))
    return Run(
        connections=connections,
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        right=figures["right"],
        wrong=figures["wrong"],
        first_wrong=figures["first_wrong"],
        outcomes=figures["outcomes"],
        errors=figures["errors"],
        latency_ms={k: round(v / 1000, 2) for k, v in figures["latency_us"].items()},
        generator_cpu_s=cpu,
    )
