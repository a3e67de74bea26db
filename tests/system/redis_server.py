"""A private redis-server that a test can kill and start again on the SAME port, empty: what
a Redis restart without persistence (as in CI) looks like to every process connected to it.
(tests.support.processes.start_redis picks a new port each time, so clients would never see
"their" Redis come back.)"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import redis

from tests.support.processes import free_port, redis_executable, stop_process, wait_until


class RedisServer:
    def __init__(self, log_path: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> RedisServer:
        """Start (again) on the same port, without any data; returns once it answers PING."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        args = [redis_executable(), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            wait_until(lambda: self._answers(client), 10, f"redis-server on {self.port}")
        finally:
            client.close()
        self.starts += 1
        return self

    def _answers(self, client: redis.Redis) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited; see {self.log_path}")
        return bool(client.ping())

    def kill(self) -> None:
        """SIGKILL: every key, every queued and unacknowledged task, gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
