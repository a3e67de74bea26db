"""The morning of the opening plenary, simulated against the real gates, time compressed by
`speed`: arrivals from 07:30, most in the 30 minutes before 09:00, each heading for an entrance
(the named ones draw more people than the numbered ones) and joining the shortest line there,
that gate's or a neighbour's (one lane a gate, a few seconds a person, plus the real answer's
latency); some forgot their badge (they queue at the registration desk with the shortest line,
which checks them in by hand), some go out and come back,
a few leave for good, one gate loses the network and syncs its queue later, and a stolen,
revoked badge is tried.

The plan is made up front from the seed; the simulation keeps its own count of who must be
inside, and checks every answer the system gives against it."""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from dataclasses import dataclass, field

from rollcall.rehearse.drive import Delegate, Venue
from rollcall.rehearse.gates import Gate, Outcome

OPENING = 90 * 60  # 09:00, in seconds after 07:30
END = OPENING + 45 * 60
NO_SHOW, FORGOT, OUT_AND_BACK, LEAVES = 0.03, 0.02, 0.08, 0.02
OFFLINE_WINDOW = (OPENING - 10 * 60, OPENING + 5 * 60)  # 08:50 to 09:05
TO_A_DESK = ""  # the plan's gate for the forgetful: the desk with the shortest line, on arrival


@dataclass(order=True)
class Visit:
    """Someone reaching a gate (`at`, seconds of the morning) to pass it (`direction`)."""

    at: float
    seq: int
    delegate: Delegate = field(compare=False)
    gate: str = field(compare=False)
    direction: str = field(compare=False, default="in")
    expect: str = field(compare=False, default="admitted")
    then: str = field(compare=False, default="")  # after this: "out-and-back", "leave", ""
    # Drawn with the plan, so that a seed gives the same morning: where and when they go out.
    out_gate: str = field(compare=False, default="")
    stay: float = field(compare=False, default=0.0)  # seconds inside before going out
    away: float = field(compare=False, default=0.0)  # seconds outside before coming back


@dataclass
class Morning:
    """What happened: every pass (for the plots and figures), and the simulation's count."""

    passes: list[Outcome] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    arrived_at: dict[int, str] = field(default_factory=dict)  # badge id → first gate
    inside: set[int] = field(default_factory=set)
    sync_seconds: list[float] = field(default_factory=list)
    synced: int = 0
    offline_gate: str | None = None
    wall_seconds: float = 0.0
    lanes: list[str] = field(default_factory=list)  # the gates, then the desks
    desks: list[str] = field(default_factory=list)


class Simulation:
    def __init__(self, api, venue: Venue, delegates: list[Delegate], seed: int, speed: float):
        self.rng = random.Random(f"{seed}:morning")
        self.speed, self.venue, self.api = speed, venue, api
        self.result = Morning()
        self.lock = threading.Lock()
        self.agenda: list[Visit] = []
        self.wake = threading.Condition()
        self.seq = itertools.count()
        names = list(venue.gates)
        self.entrances = [n for n in names if n != "VIP"] or names
        offline = self.entrances[-1] if len(self.entrances) > 1 else None
        self.result.offline_gate = offline
        self.gates = {
            name: Gate(name, token, api, self, offline=name == offline)
            for name, token in venue.gates.items()
        } | {name: Gate(name, token, api, self, desk=True) for name, token in venue.desks.items()}
        self.result.lanes, self.result.desks = list(self.gates), list(venue.desks)
        self.online = [n for n in self.entrances if n != offline]
        self._plan(delegates)

    # -- the plan ---------------------------------------------------------------------------

    def _plan(self, delegates: list[Delegate]) -> None:
        rng = self.rng
        # North draws the most, then South and East; the numbered gates each as many as East.
        weights = [1 / (min(i, 2) + 1) ** 0.5 for i in range(len(self.entrances))]
        coming = [d for d in delegates if rng.random() >= NO_SHOW]
        self.stolen = rng.choice(coming)  # revoked before the morning; its thief tries it
        forgetful = rng.choice([d for d in coming if d is not self.stolen])  # one at least
        for delegate in coming:
            vip = delegate.category in ("mayor", "vip") and "VIP" in self.gates
            gate = "VIP" if vip else rng.choices(self.entrances, weights)[0]
            if delegate is self.stolen:
                self._schedule(Visit(self._arrival(), 0, delegate, gate, expect="revoked"))
            elif delegate is forgetful or rng.random() < FORGOT:
                self._schedule(Visit(self._arrival(), 0, delegate, TO_A_DESK))
            else:
                roll, then = rng.random(), ""
                if gate != self.result.offline_gate:
                    then = "out-and-back" if roll < OUT_AND_BACK else ""
                    then = "leave" if OUT_AND_BACK <= roll < OUT_AND_BACK + LEAVES else then
                visit = Visit(self._arrival(), 0, delegate, gate, then=then)
                if then:
                    visit.out_gate = rng.choice(self.online)
                    visit.stay, visit.away = rng.uniform(600, 2400), rng.uniform(300, 1200)
                self._schedule(visit)

    def _arrival(self) -> float:
        """Seconds after 07:30: 72 % in the half hour before the opening, peaking at 08:50;
        18 % earlier; 10 % late."""
        roll = self.rng.random()
        if roll < 0.72:
            return self.rng.triangular(OPENING - 1800, OPENING, OPENING - 600)
        if roll < 0.90:
            return self.rng.uniform(0, OPENING - 1800)
        return min(OPENING + self.rng.expovariate(1 / 600), END)

    def _schedule(self, visit: Visit) -> None:
        visit.seq = next(self.seq)
        with self.wake:
            heapq.heappush(self.agenda, visit)
            self.wake.notify()

    # -- running it -------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds of the simulated morning since 07:30."""
        return (time.monotonic() - self.started) * self.speed

    def offline(self) -> bool:
        return OFFLINE_WINDOW[0] <= self.now() < OFFLINE_WINDOW[1]

    def run(self, advance) -> Morning:
        """Play the morning; returns once every visit has been answered and the offline gate
        has synced."""
        self.advance = advance
        self.started = time.monotonic()
        for gate in self.gates.values():
            gate.start()
        sync_due = OFFLINE_WINDOW[1] if self.result.offline_gate else None
        while True:
            with self.wake:
                due = self.agenda[0].at if self.agenda else None
                if sync_due is not None and (due is None or sync_due <= due):
                    due, visit = sync_due, None
                elif due is None:
                    if self._busy():
                        self.wake.wait(0.2)
                        continue
                    break
                else:
                    visit = self.agenda[0]
                wait = (due - self.now()) / self.speed
                if wait > 0:
                    self.wake.wait(wait)  # woken early when a sooner visit is added
                    continue
                if visit is None:
                    sync_due = None
                else:
                    heapq.heappop(self.agenda)
            if visit is None:
                self.gates[self.result.offline_gate].queue.put("sync")
            else:
                if visit.gate == TO_A_DESK:
                    visit.gate = self._shortest_desk_line()
                elif visit.direction == "in":
                    visit.gate = self._shortest_line_near(visit.gate)
                self.gates[visit.gate].queue.put((self.now(), visit))
        for gate in self.gates.values():
            gate.stop()
        self.result.wall_seconds = time.monotonic() - self.started
        return self.result

    def _shortest_desk_line(self) -> str:
        """The desk a forgetful delegate walks to: the one with the fewest people at it."""
        return min(self.result.desks, key=lambda name: self.gates[name].queue.unfinished_tasks)

    def _shortest_line_near(self, gate: str) -> str:
        """Where someone heading for `gate` queues: the shortest line of that gate and the ones
        beside it. (The VIP gate and the gate that goes offline keep their own.)"""
        if gate not in self.online:
            return gate
        at = self.online.index(gate)
        nearby = self.online[max(0, at - 1) : at + 2]
        return min(nearby, key=lambda name: (self.gates[name].queue.unfinished_tasks, name != gate))

    def _busy(self) -> bool:
        return any(g.busy() for g in self.gates.values())

    # -- what gates report ------------------------------------------------------------------

    def answered(self, outcome: Outcome, visit: Visit) -> None:
        """A gate's answer for `visit`: checked, counted, and what the person does next."""
        self.advance(1 if visit.direction == "in" and visit.then != "back" else 0)
        with self.lock:
            self.result.passes.append(outcome)
            if outcome.result != visit.expect:
                self.result.mismatches.append(
                    f"badge {visit.delegate.badge_id} at {visit.gate} ({visit.direction}): "
                    f"expected {visit.expect}, got {outcome.result}"
                )
                return
            badge = visit.delegate.badge_id
            if outcome.result == "admitted":
                self.result.arrived_at.setdefault(badge, visit.gate)
                self.result.inside.add(badge)
            elif outcome.result == "exited":
                self.result.inside.discard(badge)
        if visit.then in ("out-and-back", "leave"):
            again = "back" if visit.then == "out-and-back" else ""
            out = Visit(self.now() + visit.stay, 0, visit.delegate, visit.out_gate, "out",
                        "exited", then=again, away=visit.away)  # fmt: skip
            self._schedule(out)
        elif visit.then == "back" and visit.direction == "out":
            later = self.now() + visit.away
            self._schedule(Visit(later, 0, visit.delegate, visit.gate, then="back"))

    def synced(self, seconds: float, count: int) -> None:
        with self.lock:
            self.result.sync_seconds.append(seconds)
            self.result.synced += count

    def overruled(self, visit: Visit, result: str) -> None:
        """The server judged an offline admission otherwise at sync: a mismatch, uncounted."""
        with self.lock:
            self.result.mismatches.append(
                f"badge {visit.delegate.badge_id} at {visit.gate} (offline): admitted on the "
                f"device, {result} at sync"
            )
            self.result.inside.discard(visit.delegate.badge_id)
            if self.result.arrived_at.get(visit.delegate.badge_id) == visit.gate:
                del self.result.arrived_at[visit.delegate.badge_id]

    def people_expected(self) -> int:
        """Everyone who comes (the progress bar's total): one first visit each."""
        return len(self.agenda)
