"""Every process of the Procfile as a child of this one, each started, killed and restarted by
name, with as many replicas as wanted: the shape the fault suite, the benchmark and the
rehearsal run (one place knows how the deployment's processes are started: the Procfile).

    with Cluster(env, log_dir, replicas=2) as cluster:
        cluster.urls("checkin")          # ["http://127.0.0.1:41234", "http://127.0.0.1:41240"]
        cluster.kill("notify_worker.1")  # SIGKILL, the whole process group
        cluster.start("notify_worker.1") # the same command, the same port

Names are the Procfile's, with `.1`, `.2`… for the replicas. `notify_beat` is never
replicated (one scheduler per deployment), and `smtp_sink` only runs when asked for.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rollcall.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
PROCFILE = ROOT / "Procfile"
WEB_PORTS = {
    "registration": "REGISTRATION_PORT",
    "checkin": "CHECKIN_PORT",
    "notify": "NOTIFY_PORT",
}
SINGLETONS = {"notify_beat", "smtp_sink"}


def procfile(path: Path = PROCFILE) -> dict[str, str]:
    """The Procfile's processes: name → command line (not yet expanded)."""
    entries = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            entries[name.strip()] = command.strip()
    return entries


@dataclass
class Member:
    """One process of the cluster: its command, environment and log, and, while it runs, its
    Popen (the leader of a process group of its own)."""

    name: str
    kind: str
    command: str
    env: dict[str, str]
    log: Path
    url: str | None = None
    process: subprocess.Popen | None = None
    log_offset: int = 0  # where this run's output begins in the log

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Cluster:
    """The processes of the Procfile, `replicas` of each (but the singletons).

    `env` is every process's environment (databases, Redis, keys, SMTP…); web replicas get
    ports of their own, Celery workers node names of their own. `web_workers` and
    `worker_concurrency` override the Procfile's gunicorn `--workers` and Celery
    `--concurrency` when given. `only` limits the cluster to those Procfile names."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        replicas: int = 1,
        only: Iterable[str] | None = None,
        smtp_sink: bool = False,
        web_workers: int | None = None,
        worker_concurrency: int | None = None,
    ):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._sigterm = None  # the SIGTERM handler to restore on leaving (_exit_on_sigterm)
        base = dict(env)
        base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
        wanted = set(only) if only is not None else None
        self.members: dict[str, Member] = {}
        for kind, command in procfile().items():
            left_out = wanted is not None and kind not in wanted
            if left_out or (kind == "smtp_sink" and not smtp_sink):
                continue
            command = _override(command, "--workers", web_workers)
            command = _override(command, "--concurrency", worker_concurrency)
            count = 1 if kind in SINGLETONS else replicas
            for index in range(1, count + 1):
                name = kind if kind in SINGLETONS else f"{kind}.{index}"
                member_env = dict(base)
                url = None
                if kind in WEB_PORTS:
                    given = base.get(WEB_PORTS[kind]) if index == 1 else None
                    port = int(given) if given else free_port()
                    member_env[WEB_PORTS[kind]] = str(port)
                    url = f"http://127.0.0.1:{port}"
                # Celery node names must differ between replicas (`%h` is the host name).
                member_command = command.replace("%h", f"%h-{index}") if count > 1 else command
                log = self.log_dir / f"{name}.log"
                self.members[name] = Member(name, kind, member_command, member_env, log, url)

    # -- the whole cluster ----------------------------------------------------------------

    def __enter__(self) -> Cluster:
        self._sigterm = _exit_on_sigterm()
        try:
            self.start_all()
            self.wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop_all()
        finally:
            if self._sigterm is not None:
                signal.signal(signal.SIGTERM, self._sigterm)

    def start_all(self) -> None:
        for name in self.members:
            self.start(name)

    def stop_all(self, timeout: float = 10) -> None:
        """SIGTERM every process group, then SIGKILL whatever is left after `timeout` s."""
        running = [m for m in self.members.values() if m.running]
        for member in running:
            _signal_group(member, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for member in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                member.process.wait(max(0.1, deadline - time.monotonic()))
            _signal_group(member, signal.SIGKILL)  # any child left behind in the group
            member.process.wait()

    def wait_ready(self, timeout: float = 90) -> None:
        """Until every web process answers HTTP and every Celery worker says it is ready."""
        for name in self.members:
            self.wait_member_ready(name, timeout)

    def urls(self, kind: str) -> list[str]:
        """The base URLs of a web service's replicas."""
        return [m.url for m in self.members.values() if m.kind == kind and m.url]

    def names(self, kind: str) -> list[str]:
        return [m.name for m in self.members.values() if m.kind == kind]

    def pids(self) -> dict[str, int]:
        return {m.name: m.process.pid for m in self.members.values() if m.running}

    # -- one process ------------------------------------------------------------------------

    def start(self, name: str) -> None:
        member = self.members[name]
        if member.running:
            return
        with open(member.log, "ab") as log:
            log.write(f"--- starting {name}: {member.command}\n".encode())
            log.flush()
            member.log_offset = log.tell()
            member.process = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {member.command}"],
                env=member.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill reaches its children
            )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` (SIGKILL: a crash) to the process and every child of it, and reap it."""
        member = self.members[name]
        if member.process is None:
            return
        _signal_group(member, sig)
        member.process.wait(30)

    def restart(self, name: str, timeout: float = 90) -> None:
        self.kill(name, signal.SIGTERM)
        self.start(name)
        self.wait_member_ready(name, timeout)

    def wait_member_ready(self, name: str, timeout: float = 90) -> None:
        member = self.members[name]
        deadline = time.monotonic() + timeout
        while not self._ready(member):
            if not member.running:
                code = member.process.returncode
                raise RuntimeError(f"{name} exited with {code}; see {member.log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} was not ready within {timeout} s; see {member.log}")
            time.sleep(0.1)

    def _ready(self, member: Member) -> bool:
        if member.url:
            try:
                with urllib.request.urlopen(f"{member.url}/healthz", timeout=2):
                    return True
            except urllib.error.HTTPError:  # 503 "degraded" is an answer: the server is up
                return True
            except OSError:
                return False
        if member.kind.endswith("_worker"):
            with open(member.log, "rb") as log:
                log.seek(member.log_offset)
                return b" ready." in log.read()
        return member.running


def _override(command: str, option: str, value: int | None) -> str:
    if value is None:
        return command
    return re.sub(rf"{option}\s+\S+", f"{option} {value}", command)


def _exit_on_sigterm():
    """Make SIGTERM (a `timeout`, a `kill`, a CI runner giving up) exit this process through
    its `with` blocks, so the cluster stops its processes instead of leaving them running
    without a parent. Only in the main thread and where SIGTERM still has its default action;
    returns the handler to restore, or None when it left SIGTERM alone."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None

    def _exit(signum: int, _frame) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    return signal.SIG_DFL


def _signal_group(member: Member, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(member.process.pid, sig)
