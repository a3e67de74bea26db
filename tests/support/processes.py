"""Real processes for tests: a free port and a throw-away redis-server (from the product's own
rollcall.processes), any subprocess with a log file, and polling with a deadline (never a bare
sleep to wait for something)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from rollcall import processes
from rollcall.processes import descendants, free_port, redis_executable

__all__ = [
    "ROOT",
    "descendants",
    "free_port",
    "running",
    "redis_executable",
    "start_process",
    "start_redis",
    "stop_process",
    "wait_until",
]

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
"""The repository root: every process started here runs in it."""


def wait_until(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """Call `predicate` until it returns something truthy, and return that; raise
    TimeoutError naming `what` (and the last exception the predicate raised) after `timeout` s."""
    deadline = time.monotonic() + timeout
    delay, last_error = 0.02, None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # a server still starting refuses connections: keep polling
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def start_redis() -> tuple[str, subprocess.Popen]:
    """Start a private, non-persistent redis-server on a free port; returns (url, process).

    Stop it with `stop_process(process)`."""
    log = tempfile.NamedTemporaryFile(prefix="redis-", suffix=".log", delete=False)  # noqa: SIM115
    log.close()
    return processes.start_redis(Path(log.name))


def start_process(args: Sequence[str], env: Mapping[str, str], log_path: Path) -> subprocess.Popen:
    """Start `args` in the repository root with exactly `env`, stdout and stderr appended to
    `log_path`, in its own process group so stopping it also reaches its children."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(args),
            env=dict(env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(p: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM the process (a graceful shutdown); if it is still running after `timeout` s,
    SIGKILL its whole process group. Returns its exit code."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            # Not yet reaped, so the group id is still this process's own.
            os.killpg(p.pid, signal.SIGKILL)
    return p.wait(timeout)


def running(pids: Sequence[int]) -> list[int]:
    """Those of `pids` that are still running (zombies count as gone)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive
