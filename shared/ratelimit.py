"""Flood limits kept in Redis, so every gunicorn worker and every replica shares one count:
a fixed window per client (by address, or by the credential it presents), refused with 429,
`Retry-After` and the one JSON error shape. Each app has one `Guard`, which checks all of a
request's limits in one round-trip to Redis (one small Lua script): on a gate's scan, the
failed credentials of its address, the device's own limit and the address's.

Limits are counted under the credential's digest, never the credential."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from flask import Flask, g, request

from shared.access import digest
from shared.errors import Problem

log = logging.getLogger(__name__)

Key = Callable[[], str | None]
"""Who a request counts against, or None for a request this limit does not count."""


class TooManyRequests(Problem):
    status = 429


@dataclass(frozen=True)
class RateLimit:
    """`limit` requests per `window` seconds per client (0: no limit), counted under `name`."""

    name: str
    limit: int
    window: int = 60

    def key(self, who: str, now: int) -> str:
        return f"ratelimit:{self.name}:{who}:{now - now % self.window}"

    def rest_of_window(self, now: int) -> int:
        """Seconds until the window ends and the counts start afresh."""
        return self.window - now % self.window or 1


# One request's whole check, in one round-trip: the failed credentials of its address (KEYS[1],
# up to ARGV[1]; 0 skips it) unless this credential was welcome from there (KEYS[2]); then,
# unless that refuses it, one more on each limit's counter (KEYS[3..], expiring after ARGV[2..]).
# Answers the failures, then -1 (refused for them) or each counter's count.
_CHECK = """
local failures = 0
if ARGV[1] ~= "0" then
  failures = tonumber(redis.call("GET", KEYS[1]) or "0")
  if failures >= tonumber(ARGV[1]) and redis.call("EXISTS", KEYS[2]) == 0 then
    return {failures, -1}
  end
end
local answer = {failures}
for i = 3, #KEYS do
  answer[i - 1] = redis.call("INCR", KEYS[i])
  redis.call("EXPIRE", KEYS[i], ARGV[i - 1])
end
return answer
"""


class Guard:
    """Every flood limit of one app, kept in Redis so every gunicorn worker and every replica
    shares one count, and checked before each request in one round-trip.

    - `limit(endpoints, ...)`: requests to some endpoints (registrations, the manage-token
      endpoints, scans), per client address or per a key of the request (its credential);
    - `failed_credentials`: after that many answers of 401 to one address within the window
      (an unknown or missing token, a bad ticket), every request from it that presents a
      credential is refused before the credential is even looked up; pages and public
      endpoints stay open. Gates behind one venue address must not stop because one device
      holds a revoked token: a credential accepted from the address while it was failing
      stays welcome. A request refused so is not counted against the other limits.

    When Redis cannot be reached the request is let through: a flood guard must not turn a
    Redis outage into a registration or gate outage."""

    def __init__(self, app: Flask, client: redis.Redis, failed_credentials: RateLimit):
        self.client, self.failed = client, failed_credentials
        self.limits: list[tuple[frozenset[str], RateLimit, Key]] = []
        self._check = client.register_script(_CHECK)
        app.extensions["guard"] = self
        app.before_request(self._before)
        app.after_request(self._after)

    def limit(self, endpoints: set[str], *limits: RateLimit | tuple[RateLimit, Key]) -> None:
        """Apply each limit to the named Flask endpoints (e.g. "registration.register"),
        counted per its key (a `(limit, key)` pair; a bare limit counts per client address)."""
        for limit in limits:
            rate, key = limit if isinstance(limit, tuple) else (limit, by_address)
            if rate.limit > 0:
                self.limits.append((frozenset(endpoints), rate, key))

    def _before(self):
        now = int(time.time())
        who = _credential() if self.failed.limit > 0 else None
        g.rate_failing = False
        hits = [
            (rate, counted)
            for endpoints, rate, key in self.limits
            if request.endpoint in endpoints and (counted := key()) is not None
        ]
        if who is None and not hits:
            return None
        keys = [self.failed.key(by_address(), now), self._welcome_key(who)]
        keys += [rate.key(counted, now) for rate, counted in hits]
        args = [self.failed.limit if who else 0] + [rate.window + 1 for rate, _ in hits]
        try:
            failures, *counts = self._check(keys=keys, args=args)
        except redis.RedisError as exc:
            log.warning("rate limits not checked: %s", type(exc).__name__)
            return None
        g.rate_failing = who is not None and failures > 0
        if counts == [-1]:
            wait = self.failed.rest_of_window(now)
            return too_many(wait, "Too many failed credentials from your address.")
        waits = [
            rate.rest_of_window(now)
            for (rate, _), count in zip(hits, counts, strict=True)
            if count > rate.limit
        ]
        return too_many(max(waits), "Too many requests.") if waits else None

    def _after(self, response):
        if self.failed.limit <= 0:
            return response
        try:
            if response.status_code == 401:
                key = self.failed.key(by_address(), int(time.time()))
                self.client.pipeline(transaction=False).incr(key).expire(
                    key, self.failed.window + 1
                ).execute()
            elif g.get("rate_failing") and response.status_code not in (403, 429):
                self.client.set(self._welcome_key(_credential()), 1, ex=self.failed.window * 5)
        except redis.RedisError as exc:
            log.warning("rate limit %s not noted: %s", self.failed.name, type(exc).__name__)
        return response

    def _welcome_key(self, who: str | None) -> str:
        return f"ratelimit:{self.failed.name}:welcome:{by_address()}:{who}"


def guard(app: Flask) -> Guard:
    """The app's guard (made with the app, by shared.web)."""
    return app.extensions["guard"]


def by_address() -> str:
    return request.remote_addr or "unknown"


def by_bearer() -> str | None:
    """The presented bearer token's digest (a device, a delegate), or None without one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return digest(token.strip())[:32] if scheme.lower() == "bearer" and token.strip() else None


def _credential() -> str | None:
    """The request's credential (a bearer token or a stream ticket), as a digest."""
    ticket = request.args.get("ticket")
    return by_bearer() or (digest(ticket)[:32] if ticket else None)


def too_many(wait: int, message: str):
    """The 429 answer: JSON error shape, with `Retry-After`."""
    body = TooManyRequests("too_many_requests", f"{message} Try again in {wait} seconds.").body()
    return body, 429, {"Retry-After": str(wait)}
