"""Rate limits kept in Redis, so every gunicorn worker and every replica shares one count:
a fixed window per client (by address, or by the credential it presents), refused with 429,
`Retry-After` and the one JSON error shape.

Three kinds of guard use it: a limit on some endpoints (registrations, the manage-token
endpoints, scans), and a limit on failed credentials per address (`limit_failed_tokens`), so
guessing tokens, manage links or stream tickets stops after a few tries a minute whichever
endpoint is used. Limits are counted under the credential's digest, never the credential.

When Redis cannot be reached the request is let through: a flood guard must not turn a
Redis outage into a registration or gate outage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from flask import Flask, g, request

from shared.access import digest
from shared.errors import Problem

log = logging.getLogger(__name__)

Key = Callable[[], str | None]
"""Who a request counts against, or None for a request this limit does not count."""


class TooManyRequests(Problem):
    status = 429


class RateLimit:
    def __init__(self, client: redis.Redis, name: str, limit: int, window: int = 60):
        self.client, self.name, self.limit, self.window = client, name, limit, window

    def _key(self, who: str, window_start: int) -> str:
        return f"ratelimit:{self.name}:{who}:{window_start}"

    def hit(self, who: str) -> int:
        """Count one request by `who`; returns 0 when allowed, else seconds to wait."""
        return hit_all([(self, who)])

    def failures(self, who: str) -> int:
        """How many `who` has spent in this window (without counting one more)."""
        now = int(time.time())
        try:
            return int(self.client.get(self._key(who, now - now % self.window)) or 0)
        except redis.RedisError as exc:
            log.warning("rate limit %s not checked: %s", self.name, type(exc).__name__)
            return 0

    def rest_of_window(self) -> int:
        """Seconds until the window ends and the counts start afresh."""
        return self.window - int(time.time()) % self.window or 1


def hit_all(hits: list[tuple[RateLimit, str]]) -> int:
    """Count one request against each (limit, who) in one round-trip to Redis (the limits
    share a client): 0 when every limit allows it, else the longest wait in seconds."""
    now = int(time.time())
    pipe = hits[0][0].client.pipeline(transaction=False)
    for rate, who in hits:
        key = rate._key(who, now - now % rate.window)
        pipe.incr(key)
        pipe.expire(key, rate.window + 1)
    try:
        counts = pipe.execute()[::2]
    except redis.RedisError as exc:
        names = ", ".join(rate.name for rate, _ in hits)
        log.warning("rate limit %s not checked: %s", names, type(exc).__name__)
        return 0
    waits = [
        (now - now % rate.window) + rate.window - now or 1
        for (rate, _), count in zip(hits, counts, strict=True)
        if count > rate.limit
    ]
    return max(waits, default=0)


def by_address() -> str:
    return request.remote_addr or "unknown"


def by_bearer() -> str | None:
    """The presented bearer token's digest (a device, a delegate), or None without one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return digest(token.strip())[:32] if scheme.lower() == "bearer" and token.strip() else None


def too_many(wait: int, message: str):
    """The 429 answer: JSON error shape, with `Retry-After`."""
    body = TooManyRequests("too_many_requests", f"{message} Try again in {wait} seconds.").body()
    return body, 429, {"Retry-After": str(wait)}


def limit_endpoints(
    app: Flask, endpoints: set[str], *limits: RateLimit | tuple[RateLimit, Key]
) -> None:
    """Apply each limit to the named Flask endpoints (e.g. "registration.register"), counted
    per its key (a `(limit, key)` pair; a bare limit counts per client address), all of them
    in one round-trip to Redis."""
    keyed = [limit if isinstance(limit, tuple) else (limit, by_address) for limit in limits]
    keyed = [(rate, key) for rate, key in keyed if rate.limit > 0]
    if not keyed:
        return

    @app.before_request
    def _limit():
        if request.endpoint not in endpoints:
            return None
        hits = [(rate, who) for rate, key in keyed if (who := key()) is not None]
        wait = hit_all(hits) if hits else 0
        if wait:
            return too_many(wait, "Too many requests.")
        return None


def limit_failed_tokens(app: Flask, rate: RateLimit) -> None:
    """After `rate.limit` answers of 401 (an unknown or missing token, a bad ticket) to one
    address within the window, refuse every request from it that presents a credential,
    before the credential is even looked up; pages and public endpoints stay open.

    Gates behind one venue address must not stop because one device holds a revoked token:
    a credential that was accepted from the address while it was failing stays welcome."""
    if rate.limit <= 0:
        return

    def credential() -> str | None:
        ticket = request.args.get("ticket")
        return by_bearer() or (digest(ticket)[:32] if ticket else None)

    def welcome_key(who: str) -> str:
        return f"ratelimit:{rate.name}:welcome:{by_address()}:{who}"

    @app.before_request
    def _refuse_guessers():
        who = credential()
        g.rate_failing = False
        if who is None:
            return None
        failures = rate.failures(by_address())
        g.rate_failing = failures > 0
        if failures >= rate.limit and not _welcome(rate, welcome_key(who)):
            wait = rate.rest_of_window()
            return too_many(wait, "Too many failed credentials from your address.")
        return None

    @app.after_request
    def _count_failures(response):
        if response.status_code == 401:
            rate.hit(by_address())
        elif getattr(g, "rate_failing", False) and response.status_code not in (403, 429):
            _remember(rate, welcome_key(credential()), rate.window * 5)
        return response


def _welcome(rate: RateLimit, key: str) -> bool:
    try:
        return bool(rate.client.exists(key))
    except redis.RedisError:
        return True


def _remember(rate: RateLimit, key: str, seconds: int) -> None:
    try:
        rate.client.set(key, 1, ex=seconds)
    except redis.RedisError as exc:
        log.warning("rate limit %s not noted: %s", rate.name, type(exc).__name__)
