"""Rate limits kept in Redis, so every gunicorn worker and every replica shares one count:
a fixed window per client (by address), refused with 429 and `Retry-After`.

When Redis cannot be reached the request is let through: a flood guard must not turn a
Redis outage into a registration outage."""

from __future__ import annotations

import logging
import time

import redis
from flask import Flask, request

from shared.errors import Problem

log = logging.getLogger(__name__)


class TooManyRequests(Problem):
    status = 429


class RateLimit:
    def __init__(self, client: redis.Redis, name: str, limit: int, window: int = 60):
        self.client, self.name, self.limit, self.window = client, name, limit, window

    def hit(self, who: str) -> int:
        """Count one request by `who`; returns 0 when allowed, else seconds to wait."""
        now = int(time.time())
        window_start = now - now % self.window
        key = f"ratelimit:{self.name}:{who}:{window_start}"
        try:
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, self.window + 1)
            count = pipe.execute()[0]
        except redis.RedisError as exc:
            log.warning("rate limit %s not checked: %s", self.name, type(exc).__name__)
            return 0
        return 0 if count <= self.limit else window_start + self.window - now or 1


def limit_endpoints(app: Flask, endpoints: set[str], rate: RateLimit) -> None:
    """Apply `rate` to the named Flask endpoints (e.g. "registration.register")."""
    if rate.limit <= 0:
        return

    @app.before_request
    def _limit():
        if request.endpoint not in endpoints:
            return
        wait = rate.hit(request.remote_addr or "unknown")
        if wait:
            problem = TooManyRequests(
                "too_many_requests",
                f"Too many requests from your address; try again in {wait} seconds.",
            )
            return problem.body(), 429, {"Retry-After": str(wait)}
