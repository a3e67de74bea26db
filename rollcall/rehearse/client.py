"""The rehearsal's HTTP client: each call goes to the next replica of the service (round
robin, as a load balancer spreads it), on a keep-alive connection of the calling thread."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import requests

IDLE_CLOSE = 1.0  # seconds; below gunicorn's default keep-alive of 2 s


class ApiError(RuntimeError):
    """An answer the rehearsal did not expect: its status and body say why."""


@dataclass
class Api:
    """Base URLs of each service's replicas (`{"registration": [...], "checkin": [...]}`)."""

    urls: dict[str, list[str]]
    timeout: float = 120  # a loaded 2-core machine answers slowly; no answer is a failure
    _turns: dict[str, itertools.count] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self._turns = {service: itertools.count() for service in self.urls}

    def _session(self) -> requests.Session:
        """This thread's session. A connection idle for a while is closed first: gunicorn
        drops keep-alive connections after 2 s, and a request sent on one as it closes is
        reset without an answer (and must not be retried blindly: a scan may have counted)."""
        local = self._local
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        elif time.monotonic() - local.used > IDLE_CLOSE:
            session.close()  # the pools are dropped; the session opens new connections
        local.used = time.monotonic()
        return session

    def call(
        self,
        method: str,
        service: str,
        path: str,
        token: str | None = None,
        expect=(200,),
        retries: int = 0,
        **kw,
    ) -> tuple[requests.Response, float]:
        """The answer and its latency in seconds; an unexpected status raises ApiError.
        `retries`: times to send again after no answer (only for requests that are safe to
        repeat: an Idempotency-Key, an import that recognises its rows)."""
        replicas = self.urls[service]
        base = replicas[next(self._turns[service]) % len(replicas)]
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        while True:
            started = time.perf_counter()
            try:
                answer = self._session().request(
                    method, base + path, headers=headers, timeout=self.timeout, **kw
                )
            except (requests.ConnectionError, requests.Timeout):
                if retries <= 0:
                    raise
                retries -= 1
                continue
            latency = time.perf_counter() - started
            if answer.status_code != 429 or 429 in expect:
                break
            # A running system's rate limit (REGISTRATION_RATE_LIMIT): wait as it asks. The
            # request had no effect, so sending it again is safe.
            time.sleep(float(answer.headers.get("Retry-After", "1")))
        if answer.status_code not in expect:
            raise ApiError(f"{method} {base}{path}: {answer.status_code} {answer.text[:500]}")
        return answer, latency

    def get(self, service: str, path: str, token: str | None = None, **kw) -> dict:
        return self.call("GET", service, path, token, **kw)[0].json()

    def post(self, service: str, path: str, token: str | None = None, **kw) -> dict:
        return self.call("POST", service, path, token, **kw)[0].json()
