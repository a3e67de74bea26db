"""One fault scenario, the same shape for each: a steady load starts, the system shows it works
(registrations acknowledged, badges admitted), the fault strikes while the load goes on, the
part comes back, the load goes on until the system takes it again, then stops; the checker
polls until every promise is kept (or its deadline passes) and the scenario prints what it
counted."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from tests.support.processes import wait_until
from tests.system.invariants import Count
from tests.system.load import Answers
from tests.system.system import System


@dataclass(frozen=True)
class Size:
    name: str
    fresh: bool  # a system of its own (else the module's shared one)
    rate: float  # registrations a second
    scan_rate: float  # scans a second at each gate
    warmup: int  # registrations acknowledged (and one admission) before the fault
    outage: float  # seconds Redis, or the database connection, stays down
    pause: float  # seconds before a killed process is started again (its start takes more)
    after: int  # registrations acknowledged after the part is back, before the load stops
    converge: float  # seconds the system may take to be whole again

    def __str__(self) -> str:
        return self.name


QUICK = Size(
    "quick", fresh=False, rate=1, scan_rate=1.5, warmup=3, outage=2, pause=0, after=2,
    converge=60,
)  # fmt: skip
FULL = Size(
    "full", fresh=True, rate=4, scan_rate=3, warmup=30, outage=10, pause=10, after=30,
    converge=240,
)  # fmt: skip


def hold(seconds: float) -> None:
    """Let an outage last `seconds` while the load goes on (time passing is the point)."""
    until = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() >= until, seconds + 5, f"{seconds} s of outage")


def acknowledged(answers: Answers) -> tuple[int, int]:
    with answers.lock:
        return len(answers.registered), len(answers.admitted)


@dataclass
class Outcome:
    count: Count
    answers: Answers
    during: Answers  # what the load was told while the part was down
    seconds: dict[str, float]


def run(
    name: str,
    system: System,
    size: Size,
    strike: Callable[[], None],
    revive: Callable[[], None],
    max_repeats: int = 0,
    outage: float | None = None,
    until: Callable[[Counter], bool] | None = None,
) -> Outcome:
    """Load; `strike()` (the fault); hold the outage (`size.outage`, or `outage` s, and until
    what the load was told meanwhile satisfies `until`); `revive()`; load until taken again;
    converge; print. Returns what was counted, for the test's asserts."""
    seconds: dict[str, float] = {}
    started = time.monotonic()
    with system.load(size.rate, size.scan_rate) as load:
        answers = load.answers
        _wait_for_load(
            answers,
            lambda: acknowledged(answers)[0] >= size.warmup and acknowledged(answers)[1] >= 1,
            f"{size.warmup} registrations and an admission before the fault",
        )
        before = answers.snapshot()
        struck = time.monotonic()
        try:
            strike()
            hold(size.outage if outage is None else outage)
            if until is not None:
                _wait_for_load(
                    answers, lambda: until(answers.snapshot() - before), "the outage to be felt"
                )
        finally:
            revive()
        seconds["down"] = time.monotonic() - struck
        during = Answers(outcomes=answers.snapshot() - before)
        back = acknowledged(answers)[0]
        _wait_for_load(
            answers,
            lambda: acknowledged(answers)[0] >= back + size.after,
            f"{size.after} more registrations once the part was back",
        )
        seconds["taken again"] = time.monotonic() - struck - seconds["down"]
    stopped = time.monotonic()
    count = system.checker.converged(answers, size.converge, max_repeats, tick=system.tick)
    system.checker.account(count)
    seconds["converged"] = time.monotonic() - stopped
    seconds["total"] = time.monotonic() - started
    print(f"\n{count.report(f'{name}, {size}')}")
    print(f"[{name}, {size}] load: {answers.summary()}")
    print(f"[{name}, {size}] while down: {during.summary()}; repeated Message-IDs: "
          f"{count.repeated or 'none'}; seconds: "
          + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))  # fmt: skip
    print(f"[{name}, {size}] settling: {' | '.join(system.checker.settling[-6:])}")
    return Outcome(count, answers, during, seconds)


def _wait_for_load(answers: Answers, predicate, what: str, timeout: float = 60) -> None:
    try:
        wait_until(predicate, timeout, what)
    except TimeoutError as error:
        raise TimeoutError(f"{error}; the load was told: {answers.summary()}") from None
