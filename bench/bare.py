"""The baseline: a bare Flask endpoint shaped like the scan (JSON in, a small JSON answer out),
served by gunicorn with the checkin line of the Procfile (workers, worker class, threads,
access log), so scan ÷ baseline says how much of this machine's ceiling the stack leaves to
the scan itself: no database, no Redis, no signature check here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from flask import Flask, request

from rollcall.cluster import ROOT, procfile
from rollcall.processes import free_port


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/api/v1/scans")
    def scan():
        body = request.get_json()
        return {"result": "bare", "direction": body["direction"], "length": len(body["token"])}

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


def command(port: int) -> str:
    """The Procfile's checkin command, serving this app on `port`."""
    line = procfile()["checkin"]
    return line.replace("$CHECKIN_PORT", str(port)).replace(
        "'services.checkin:create_app()'", "'bench.bare:create_app()'"
    )


@contextmanager
def serving(log: Path, timeout: float = 30) -> Iterator[str]:
    """The bare app under gunicorn on a free port; yields its base URL."""
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {command(port)}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _answers(f"{url}/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bare endpoint did not come up; see {log}")
            time.sleep(0.1)
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False
