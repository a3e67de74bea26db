"""Throttling per channel: SMTP servers rate-limit bulk mail (and providers suspend senders
who exceed their quota), so every SMTP hand-over takes a token from a bucket that refills at
`NOTIFY_MAIL_RATE` tokens a second.

Why a token bucket in Redis rather than Celery's `rate_limit`: Celery enforces a task's rate
limit in each worker process on its own, so `--scale notify-worker=4` would send at four times
the configured rate, and it counts task runs, not mails (a redelivered event that finds its
mail sent already would use up a slot). The bucket lives in Redis (already the broker), so
every notify worker on every machine shares one rate, and only real hand-overs take a token.
One Lua script does the refill and the take atomically on Redis's own clock, so the workers'
clocks do not matter. When Redis cannot be asked (it is also the broker, so rarely), mail
goes out unthrottled rather than not at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from email.message import EmailMessage

import redis

from services.notify.mailer import MailDeferred

log = logging.getLogger(__name__)

# Holds (tokens, at). Returns "0" when a token was taken, else the seconds until one will be.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class Throttle:
    """A token bucket shared by every process that names the same `channel` in one Redis."""

    def __init__(
        self,
        client: redis.Redis,
        rate: float,
        channel: str = "smtp",
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("a throttle needs a positive rate; do not throttle at all instead")
        self.rate = rate
        self.burst = max(1.0, rate)  # one second's worth may go at once
        self.key = f"notify:throttle:{channel}"
        self.max_wait = max_wait
        self._take = client.register_script(_TAKE)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Throttle({self.key}, {self.rate}/s)"

    def try_take(self) -> float:
        """Take a token if one is there: 0.0; else the seconds until one will be."""
        return float(self._take(keys=[self.key], args=[self.rate, self.burst]))

    def take(self) -> None:
        """Wait for a token; MailDeferred (the task retries later) after `max_wait` s."""
        deadline = time.monotonic() + self.max_wait
        while True:
            try:
                wait = self.try_take()
            except redis.RedisError as exc:
                log.warning("mail throttle unavailable, unthrottled: %s", type(exc).__name__)
                return
            if wait <= 0:
                return
            if time.monotonic() + wait > deadline:
                raise MailDeferred(f"throttled: no token for {self.key} within {self.max_wait} s")
            self._sleep(wait)

    def wrap(self, send: Callable[[EmailMessage], None]) -> Callable[[EmailMessage], None]:
        """`send`, taking a token before each message."""

        def throttled(message: EmailMessage) -> None:
            self.take()
            send(message)

        return throttled
