"""The issue's crash proofs, on real processes: a notify worker (prefork, two children) on a
real Redis, the real SMTP sink, a real database.

- A worker SIGKILLed (its whole process group, as the OOM killer or a lost node would) in the
  middle of a batch of badge mails: after it restarts, every mail is delivered, each with its
  own Message-ID; a repeat may come only from the window no sender can close (the sink had
  accepted the mail before the kill, the worker died before recording it), so at most one per
  message in flight at the kill, and its first copy arrived before the kill.
- An SMTP server down for a while delays the mails but loses none, and sends none twice.

`make test` runs quick versions (40 mails, 5 s outage); `make test-faults` the issue's numbers
(200 mails, 30 s outage). Both shorten two production timings, by their settings, so that
recovery fits a test: a message's sending lease (NOTIFY_SENDING_LEASE, 5 min → LEASE s) and the
broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT, 1 h → VISIBILITY s); the test sends
`notify.redrive_stalled` every second, as beat does every minute. Everything else is the
production code path, the worker's command line included."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesHeaderParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from rollcall.smtp_sink import SmtpSink
from services.notify.delivery import idempotency_key
from services.notify.messages import BADGE_MAIL, message_id
from services.notify.models import SENT, Notification
from tests.support.factories import registered_envelope
from tests.support.notify_stack import MAIL_DOMAIN, notify_stack
from tests.support.processes import (
    wait_until,
)

TASK = "notify.delegate_message"
CONCURRENCY = 2
LEASE = 10  # seconds a message may stay "sending" before the redrive takes it over
VISIBILITY = 20  # seconds before Redis hands an unacknowledged task to another worker

QUICK = pytest.mark.integration
FULL = pytest.mark.faults


class Tally:
    """The mails the sink has stored: each file's Message-ID and arrival time (ns), read once."""

    def __init__(self, sink: SmtpSink):
        self.sink = sink
        self._seen: dict[Path, tuple[str, int]] = {}

    def mails(self) -> list[tuple[str, int]]:
        for path in self.sink.messages():
            if path not in self._seen:
                with open(path, "rb") as mail:
                    headers = BytesHeaderParser().parse(mail)
                self._seen[path] = (headers["Message-ID"], int(path.name.split("-")[0]))
        return list(self._seen.values())

    def counts(self) -> Counter:
        return Counter(mid for mid, _at in self.mails())


PREFORK = ("--pool=prefork", "-c", str(CONCURRENCY))


@contextmanager
def fault_stack(home: Path, database_url: str) -> Iterator[SimpleNamespace]:
    """notify_stack with no worker yet (`start_worker()` starts a prefork one, again after a
    kill), a short sending lease and visibility timeout, and a tally of the sink's mail."""
    env = {"NOTIFY_SENDING_LEASE": str(LEASE), "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY)}
    with notify_stack(home, database_url, pool=None, **env) as stack:
        start = stack.start_worker
        stack.start_worker = lambda: start(PREFORK)
        stack.tally = Tally(stack.sink)
        yield stack


class Beat:
    """Stands in for beat: sends `notify.redrive_stalled` at most once a second."""

    def __init__(self, stack):
        self.stack, self._last = stack, 0.0

    def tick(self) -> None:
        if time.monotonic() - self._last >= 1.0:
            self.stack.app.send_task("notify.redrive_stalled", queue="notify")
            self._last = time.monotonic()


def badge_mails(stack, count: int) -> list[str]:
    """Publish `count` registrations (half in Chinese); returns their mails' Message-IDs."""
    wanted = []
    for n in range(count):
        envelope = registered_envelope(language=("en", "zh")[n % 2])
        stack.publish(TASK, envelope)
        wanted.append(message_id(idempotency_key(envelope["event_id"], BADGE_MAIL), MAIL_DOMAIN))
    return wanted


def all_delivered(stack, beat: Beat, wanted: list[str]) -> bool:
    beat.tick()
    return set(wanted) <= set(stack.tally.counts())


def sent_rows(stack) -> int:
    with stack.sessions() as session:
        return session.scalar(select(func.count()).where(Notification.state == SENT))


@pytest.mark.parametrize("size", [pytest.param(40, marks=QUICK), pytest.param(200, marks=FULL)])
def test_a_worker_killed_mid_batch_delivers_every_badge_mail_after_restart(
    database_url, tmp_path, size
):
    with fault_stack(tmp_path, database_url) as stack:
        worker = stack.start_worker()
        wanted = badge_mails(stack, size)
        wait_until(lambda: len(stack.tally.mails()) >= size // 3, 60 + size, "a third of the batch")

        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        killed_at = time.time_ns()
        before_kill = len(stack.tally.mails())
        stack.start_worker()
        beat = Beat(stack)
        wait_until(
            lambda: all_delivered(stack, beat, wanted),
            VISIBILITY + LEASE + 60 + size,
            f"all {size} mails after the restart (see {stack.worker_log})",
        )

        counts = stack.tally.counts()
        repeats = {mid: n for mid, n in counts.items() if n > 1}
        print(
            f"\n{size} badge mails, SIGKILL after {before_kill} had arrived: "
            f"{sum(counts.values())} mails stored, {len(set(wanted) & set(counts))} distinct "
            f"Message-IDs of {size}, {len(repeats)} repeated "
            f"(at most {CONCURRENCY} were in flight at the kill)"
        )
        assert set(counts) == set(wanted)
        assert len(repeats) <= CONCURRENCY and all(n == 2 for n in repeats.values())
        first_copy = {}
        for mid, at in sorted(stack.tally.mails(), key=lambda m: m[1]):
            first_copy.setdefault(mid, at)
        # A repeat is a mail the sink had accepted before the kill, resent after it.
        assert all(first_copy[mid] < killed_at for mid in repeats)
        wait_until(lambda: sent_rows(stack) == size, 30, "every notification recorded sent")


@pytest.mark.parametrize(
    ("size", "outage"), [pytest.param(10, 5, marks=QUICK), pytest.param(50, 30, marks=FULL)]
)
def test_an_smtp_server_down_for_a_while_delays_the_mails_but_loses_none(
    database_url, tmp_path, size, outage
):
    with fault_stack(tmp_path, database_url) as stack:
        stack.start_worker()
        stack.sink.stop()
        down_since = time.monotonic()
        wanted = badge_mails(stack, size)

        def tried_every_one_while_down() -> bool:
            with stack.sessions() as session:
                tried = session.scalar(
                    select(func.count()).where(
                        Notification.attempts >= 1, Notification.state != SENT
                    )
                )
            return time.monotonic() - down_since >= outage and tried == size

        wait_until(tried_every_one_while_down, outage + 60, "every mail tried while down")
        assert stack.tally.mails() == []
        stack.sink.start()
        beat = Beat(stack)
        wait_until(
            lambda: all_delivered(stack, beat, wanted),
            LEASE + 120,
            f"all {size} mails after the outage (see {stack.worker_log})",
        )

        counts = stack.tally.counts()
        with stack.sessions() as session:
            attempts = session.scalars(select(Notification.attempts)).all()
        print(
            f"\n{size} badge mails, SMTP down {outage} s: {sum(counts.values())} mails stored, "
            f"{len(counts)} distinct Message-IDs, attempts per mail {min(attempts)}–{max(attempts)}"
        )
        assert set(counts) == set(wanted) and set(counts.values()) == {1}
        wait_until(lambda: sent_rows(stack) == size, 30, "every notification recorded sent")
