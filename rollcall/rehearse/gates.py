"""One lane of the morning: a gate's scanner (or a registration desk) serving its queue in
order, a thread of its own. A person takes a few seconds at the gate (simulated time), then
the scan goes to the real checkin; the offline gate keeps its scans on the device while the
network is down and syncs them (`POST /scans/batch`) when it is back."""

from __future__ import annotations

import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

BATCH = 5000  # scans a sync may carry
HANDLING = {"gate": (3.0, 7.0), "desk": (45.0, 90.0)}  # seconds a person takes, by kind


@dataclass(slots=True)
class Outcome:
    gate: str
    kind: str  # gate, desk, offline
    direction: str
    queued: float  # seconds of the morning the person joined the queue
    served: float  # … and their turn came
    latency: float | None  # seconds the system took to answer; None: judged on the device
    result: str


class Gate:
    def __init__(self, name: str, token: str, api, sim, offline: bool = False, desk: bool = False):
        self.name, self.token, self.api, self.sim = name, token, api, sim
        self.can_go_offline, self.desk = offline, desk
        self.queue: queue.Queue = queue.Queue()
        self.device_queue: list[tuple[dict, object]] = []
        self.rng = random.Random(f"{name}:{sim.rng.random()}")
        self.thread = threading.Thread(target=self._serve, name=f"gate {name}", daemon=True)
        self.failure: BaseException | None = None
        self.refused: dict[int, str] = {}

    def start(self) -> None:
        if self.can_go_offline:
            self._download_badge_list()
        self.thread.start()

    def _download_badge_list(self) -> None:
        """What a scanner caches while online, to judge badges when the network is gone: here
        only the badges that may not pass (revoked or void), by id."""
        listed = self.api.get(
            "checkin", f"/api/v1/events/{self.sim.venue.slug}/badges/offline", self.token
        )
        self.refused = {b["id"]: b["status"] for b in listed["badges"] if b["status"] != "active"}

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.failure:
            raise self.failure

    def busy(self) -> bool:
        return self.queue.unfinished_tasks > 0

    def _serve(self) -> None:
        while (item := self.queue.get()) is not None:
            try:
                if item == "sync":
                    self._sync()
                else:
                    self._pass(*item)
            except BaseException as exc:  # reported by stop(); the lane keeps draining
                self.failure = self.failure or exc
            finally:
                self.queue.task_done()

    def _pass(self, queued: float, visit) -> None:
        served = self.sim.now()
        low, high = HANDLING["desk" if self.desk else "gate"]
        # The person shows the badge (or spells their name at the desk): simulated time.
        time.sleep(self.rng.uniform(low, high) / self.sim.speed)
        kind, latency = "gate", None
        if self.desk:
            kind, (result, latency) = "desk", self._by_hand(visit.delegate.badge_id)
        elif self.can_go_offline and self.sim.offline():
            # The device's own verdict (checked at sync): the cached list refuses a revoked badge.
            kind, result = "offline", self.refused.get(visit.delegate.badge_id, "admitted")
            if result != "admitted":
                self.sim.answered(
                    Outcome(self.name, kind, visit.direction, queued, served, None, result), visit
                )
                return
            scan = {"id": str(uuid.uuid4()), "token": visit.delegate.token, "direction": "in",
                    "scanned_at": datetime.now(UTC).isoformat()}  # fmt: skip
            self.device_queue.append((scan, visit))
        else:
            result, latency = self._scan(visit.delegate.token, visit.direction)
        outcome = Outcome(self.name, kind, visit.direction, queued, served, latency, result)
        self.sim.answered(outcome, visit)

    def _scan(self, token: str, direction: str) -> tuple[str, float]:
        answer, latency = self.api.call(
            "POST", "checkin", "/api/v1/scans", self.token,
            json={"token": token, "direction": direction},
        )  # fmt: skip
        return answer.json()["result"], latency

    def _by_hand(self, badge_id: int) -> tuple[str, float]:
        """The desk finds the delegate by badge number and checks them in with a reason."""
        slug = self.sim.venue.slug
        found, looked = self.api.call(
            "GET", "checkin", f"/api/v1/events/{slug}/badges", self.token,
            params={"q": str(badge_id)},
        )  # fmt: skip
        hits = [h for h in found.json()["results"] if h["badge"]["id"] == badge_id]
        if not hits:
            return "not_found", looked
        answer, checked = self.api.call(
            "POST", "checkin", f"/api/v1/events/{slug}/checkins", self.token,
            json={"badge_id": badge_id, "reason": "Forgot the badge at the hotel."},
        )  # fmt: skip
        return answer.json()["result"], looked + checked

    def _sync(self) -> None:
        """Back online: send the device's queue, and check each of the server's verdicts."""
        while self.device_queue:
            batch, self.device_queue = self.device_queue[:BATCH], self.device_queue[BATCH:]
            answer, seconds = self.api.call(
                "POST", "checkin", "/api/v1/scans/batch", self.token,
                json={"scans": [scan for scan, _ in batch]},
            )  # fmt: skip
            for verdict, (_scan, visit) in zip(answer.json()["results"], batch, strict=True):
                if verdict["result"] != "admitted":
                    self.sim.overruled(visit, verdict["result"])
            self.sim.synced(seconds, len(batch))
