"""Faults, nothing lost (issue 6): the whole system as real processes under a steady load of
registrations and scans, and one part at a time taken away and given back: (a) Redis killed and
restarted empty, (b) the notify worker SIGKILLed, (c) checkin's worker and registration's
outbox relay SIGKILLed, (d) the registration service killed while the gates keep scanning,
(e) the database connection cut. Once the part is back, every registration that got a 2xx
exists, every `admitted` scan is in the scan log, every confirmed delegate got one badge mail
(a repeat only from the window between SMTP acceptance and its record, counted), checkin's
replica matches registration, the headcount equals the scan log, and every arrival reached
registration. Each scenario prints what it counted.

`make test` runs the quick versions on one shared system (a few seconds of load each, short
outages); `make test-faults` the long ones, each on a fresh system (more load, 10 s outages).
"""

from __future__ import annotations

import signal

import pytest

from tests.system.scenario import FULL, QUICK, run
from tests.system.system import NOTIFY_CONCURRENCY, System

SIZES = pytest.mark.parametrize(
    "size",
    [pytest.param(QUICK, marks=pytest.mark.e2e, id="quick"),
     pytest.param(FULL, marks=pytest.mark.faults, id="full")],
)  # fmt: skip


ANSWERS = {"register 201"} | {f"scan {result}" for result in
           ("admitted", "already_inside", "exited", "not_inside", "unknown")}  # fmt: skip


def failures(outcomes, prefix: str = "") -> int:
    """How many requests got no answer, or an error, rather than one of the usual answers."""
    return sum(n for k, n in outcomes.items() if k.startswith(prefix) and k not in ANSWERS)


def assert_kept(outcome, system: System, max_repeats: int = 0) -> None:
    # A process that died by itself (a worker that could not reconnect) shows here first.
    stopped = [name for name, member in system.cluster.members.items() if not member.running]
    assert not stopped, f"stopped by themselves: {stopped} (see {system.cluster.log_dir})"
    count = outcome.count
    assert count.whole, count.report("not whole")
    assert count.registrations[0] > 0 and count.admissions[0] > 0, outcome.answers.summary()
    assert count.mails[0] > 0 and count.mails[1] == count.mails[0] + count.mails[3]
    assert count.mails[3] <= max_repeats


@SIZES
def test_redis_restarted_empty_loses_no_event(system: System, size):
    """The queues vanish with Redis: the outboxes are the truth, the relays publish again."""
    outcome = run("redis restarted empty", system, size, system.redis.kill, system.redis.start)
    assert_kept(outcome, system)
    assert system.redis.starts >= 2


@SIZES
def test_a_sigkilled_notify_worker_sends_every_badge_mail_once(system: System, size):
    outcome = run(
        "notify worker SIGKILLed", system, size,
        lambda: system.cluster.kill("notify_worker.1"),
        lambda: system.revive("notify_worker.1"),
        max_repeats=NOTIFY_CONCURRENCY, outage=size.pause,
    )  # fmt: skip
    assert_kept(outcome, system, NOTIFY_CONCURRENCY)


@SIZES
def test_a_sigkilled_checkin_worker_and_relay_lose_no_event(system: System, size):
    names = ("checkin_worker.1", "registration_relay.1")

    def strike():
        for name in names:
            system.cluster.kill(name, signal.SIGKILL)

    outcome = run("checkin worker and relay SIGKILLed", system, size, strike,
                  lambda: system.revive(*names), outage=size.pause)  # fmt: skip
    assert_kept(outcome, system)


@SIZES
def test_gates_keep_admitting_while_registration_is_down(system: System, size):
    outcome = run(
        "registration service killed", system, size,
        lambda: system.cluster.kill("registration.1"),
        lambda: system.revive("registration.1"), outage=size.pause,
        until=lambda told: failures(told, "register ") and told["scan admitted"],
    )  # fmt: skip
    assert_kept(outcome, system)
    during = outcome.during.outcomes
    assert failures(during, "register "), "the registration service was down"
    assert during["scan admitted"] > 0, "the gates went on admitting meanwhile"


@SIZES
def test_a_database_connection_cut_loses_nothing(system: System, size):
    outcome = run(
        "database connection cut", system, size, system.proxy.cut, system.proxy.restore,
        max_repeats=NOTIFY_CONCURRENCY, until=failures,
    )  # fmt: skip
    assert_kept(outcome, system, NOTIFY_CONCURRENCY)
    assert failures(outcome.during.outcomes), "the database was unreachable"
    errors = [k for k in outcome.answers.snapshot() if k.endswith(" 500")]
    assert not errors, "an unreachable database is a 503 (try again), not a 500"
