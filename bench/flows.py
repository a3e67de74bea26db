"""The flows across services: registration (throughput, and 201 → badge mail in the SMTP
sink at a steady rate), live (a scan's answer → the dashboard's stream shows the new number)
and offline sync (one device's queue of scans in one request)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path
from urllib.parse import urlsplit

from bench import plans
from bench.gates import UNKNOWN_BADGES, post_json, reset_presence
from bench.system import OPEN_EVENT, System

REGISTER_PATH = f"/api/v1/events/{OPEN_EVENT.slug}/registrations"


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of `values` in milliseconds (given in seconds)."""
    if not values:
        return {}
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)

    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0), "count": len(values)}


class Connections(threading.local):
    """A keep-alive HTTP connection per thread to one server."""

    @staticmethod
    @contextmanager
    def to(base: str) -> Iterator[Connections]:
        opened: list[http.client.HTTPConnection] = []
        try:
            yield Connections(base, opened)
        finally:
            for connection in opened:
                connection.close()

    def __init__(self, base: str, opened: list):
        self.host, self.port = urlsplit(base).hostname, urlsplit(base).port
        self.connection: http.client.HTTPConnection | None = None
        self.opened = opened  # every thread's, to close them all at the end

    def post(self, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.opened.append(self.connection)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            self.connection.request("POST", path, json.dumps(body), all_headers)
            answer = self.connection.getresponse()
            return answer.status, json.loads(answer.read() or b"{}")
        except (OSError, http.client.HTTPException):
            self.connection.close()  # the next request opens a new one
            self.connection = None
            raise


def steady_registrations(system: System, rate: float, seconds: float, mail_wait: float) -> dict:
    """`rate` registrations a second for `seconds`; each 201's latency, then the time from
    each 201 to its badge mail arriving in the SMTP sink (the file's name is its arrival)."""
    run = uuid.uuid4().hex[:8]
    answered: dict[str, int] = {}  # address → wall-clock ns of the 201
    latencies, failures = [], Counter()

    def register(n: int) -> None:
        email = f"steady-{run}-{n}@bench.example.org"
        body = {
            "given_name": "Clara",
            "family_name": "Steady",
            "email": email,
            "organisation": f"Bench delegation {run}-{n}",  # a person of their own
            "city": "Guangzhou",
            "country": "CN",
            "category": "delegate",
            "language": "en",
            "consent": True,
        }
        started = time.perf_counter()
        try:
            status, answer = connections.post(REGISTER_PATH, body)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            failures[type(exc).__name__] += 1
            return
        latencies.append(time.perf_counter() - started)
        if status == 201 and answer.get("status") == "confirmed":
            answered[email] = time.time_ns()
        else:
            failures[f"http_{status}"] += 1

    count = int(rate * seconds)
    start = time.monotonic()
    with Connections.to(system.url("registration")) as connections, ThreadPoolExecutor(32) as pool:
        for n in range(count):
            pace = start + n / rate - time.monotonic()
            if pace > 0:
                time.sleep(pace)  # the schedule of arrivals, not a wait for a result
            pool.submit(register, n)
    sent_for = time.monotonic() - start
    mails = _mail_arrivals(system.settings.mail_dir, set(answered), mail_wait)
    delays = [(mails[a] - t) / 1e9 for a, t in answered.items() if a in mails]
    return {
        "rate": rate,
        "sent": count,
        "seconds": round(sent_for, 1),
        "confirmed": len(answered),
        "failures": dict(failures),
        "latency_ms": percentiles(latencies),
        "mails": len(delays),
        "missing_mails": len(answered) - len(delays),
        # A mail not there after `mail_wait` counts as that late: the figures are then a floor.
        "mail_ms": percentiles(delays + [mail_wait] * (len(answered) - len(delays))),
    }


def _mail_arrivals(mail_dir: Path, addresses: set[str], timeout: float) -> dict[str, int]:
    """Address → arrival (ns) of its first mail, polled until every address has one."""
    found: dict[str, int] = {}
    seen: set[str] = set()
    parser = BytesHeaderParser()
    deadline = time.monotonic() + timeout
    while len(found) < len(addresses) and time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")):
            if path.name in seen:
                continue
            seen.add(path.name)
            with open(path, "rb") as mail:
                headers = parser.parse(mail)
            arrived = int(path.name.split("-", 1)[0])
            for _name, address in getaddresses(headers.get_all("To", [])):
                if address in addresses and address not in found:
                    found[address] = arrived
        time.sleep(0.1)
    return found


def live_latency(system: System, badges: list[int], interval: float, timeout: float = 10) -> dict:
    """Scan each badge in (`interval` s apart, a busy gate) at the open event, where nothing
    else moves anyone, and time each admitted answer to the moment the dashboard's stream
    shows the headcount that includes it."""
    checkin = system.url("checkin")
    _event_id, organizer, scanner = system.open_event
    tickets = f"{checkin}/api/v1/events/{OPEN_EVENT.slug}/live/tickets"
    ticket = post_json(tickets, {}, organizer)
    stream = _HeadcountStream(checkin, ticket["stream"])
    try:
        base = stream.wait_for(lambda inside: True, timeout)
        headers = {"Authorization": f"Bearer {scanner}"}
        delays, wrong = [], 0
        start = time.monotonic()
        with Connections.to(checkin) as gate:
            for n, badge in enumerate(badges):
                pace = start + n * interval - time.monotonic()
                if pace > 0:
                    time.sleep(pace)  # the gate's pace, not a wait for a result
                body = {"token": system.token(badge, event_id=_event_id)}
                status, answer = gate.post("/api/v1/scans", body, headers)
                answered = time.monotonic()
                if status != 200 or answer.get("result") != "admitted":
                    wrong += 1
                    continue
                expected = base + n + 1 - wrong
                stream.wait_for(lambda inside, e=expected: inside >= e, timeout)
                delays.append(stream.when(expected, answered) - answered)
    finally:
        stream.close()
        # A change makes the server write to the closed stream and let go of its thread.
        reset_presence(system, OPEN_EVENT.slug, organizer)
    return {"scans": len(badges), "wrong": wrong, "stream_ms": percentiles(delays)}


class _HeadcountStream:
    """The live stream read on a thread of its own: when each `inside` figure first showed."""

    def __init__(self, base: str, path: str):
        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.connection.request("GET", path, headers={"Accept": "text/event-stream"})
        self.answer = self.connection.getresponse()
        if self.answer.status != 200:
            raise RuntimeError(f"live stream answered {self.answer.status}")
        self.shown: list[tuple[float, int]] = []  # (monotonic time, inside)
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event = None
        try:
            for raw in self.answer:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "headcount":
                    inside = json.loads(line.removeprefix("data: "))["inside"]
                    with self.changed:
                        self.shown.append((time.monotonic(), inside))
                        self.changed.notify_all()
        except (OSError, ValueError, AttributeError):  # closed under the reader: the end
            return

    def wait_for(self, predicate, timeout: float) -> int:
        with self.changed:
            if not self.changed.wait_for(
                lambda: self.shown and predicate(self.shown[-1][1]), timeout
            ):
                raise TimeoutError(f"the live stream showed no such headcount in {timeout} s")
            return self.shown[-1][1]

    def when(self, inside: int, after: float) -> float:
        """When the stream first showed `inside` (or more) after `after`, or just before it
        (a snapshot computed between the commit and the answer reaching the gate: 0 ms)."""
        return max(after, next(t for t, shown in self.shown if shown >= inside))

    def close(self) -> None:
        # Shut the socket first: closing alone waits for the reader's recv (the next keep-alive).
        with suppress(OSError):
            self.connection.sock.shutdown(socket.SHUT_RDWR)
        self.connection.close()


def offline_sync(system: System, badges: list[int], scans: int) -> dict:
    """One device's queue of `scans` (a gate's morning, two hours ago, a second apart) in one
    request, every answer checked in order; then the same queue again (answered from the log)."""
    queue, expected = _morning(system, badges, scans)
    headers = {"Authorization": f"Bearer {system.scanner_tokens['South']}"}
    timings, wrong, first_wrong = [], 0, None
    for _attempt in range(2):
        with Connections.to(system.url("checkin")) as gate:
            started = time.perf_counter()
            status, answer = gate.post("/api/v1/scans/batch", {"scans": queue}, headers)
            timings.append(time.perf_counter() - started)
        got = [r["result"] for r in answer.get("results", [])] if status == 200 else []
        mismatches = [(e, g) for e, g in zip(expected, got, strict=False) if e != g]
        wrong += len(mismatches) + abs(len(expected) - len(got))
        if (mismatches or len(got) != len(expected)) and first_wrong is None:
            first_wrong = f"HTTP {status}; first mismatches {mismatches[:3]}"
    return {
        "scans": len(queue),
        "seconds": round(timings[0], 2),
        "again_seconds": round(timings[1], 2),
        "outcomes": dict(Counter(expected)),
        "wrong": wrong,
        "first_wrong": first_wrong,
    }


def _morning(system: System, badges: list[int], scans: int) -> tuple[list[dict], list[str]]:
    """`scans` queued scans: mostly first entries, some exits and re-entries, repeats, a few
    unknown and damaged codes; and the result each must get."""
    steps: list[plans.Step] = []
    texts = iter(system.token(b) for b in badges)
    inside: list[str] = []
    rng = plans.random.Random(11)
    while len(steps) < scans:
        roll = rng.random()
        if roll < 0.08 and inside:
            steps.append(plans.Step(inside.pop(rng.randrange(len(inside))), "out", "exited"))
        elif roll < 0.11 and inside:
            steps.append(plans.Step(rng.choice(inside), "in", "already_inside"))
        elif roll < 0.12:
            steps.append(plans.Step(system.token(UNKNOWN_BADGES + len(steps)), "in", "unknown"))
        elif roll < 0.13:
            steps.append(plans.Step(plans.damaged(system.token(1), rng), "in", "invalid"))
        else:
            text = next(texts)
            inside.append(text)
            steps.append(plans.Step(text, "in", "admitted"))
    start = datetime.now(UTC) - timedelta(hours=2)
    queue = [
        {
            "id": str(uuid.uuid4()),
            "token": s.token,
            "direction": s.direction,
            "scanned_at": (start + timedelta(seconds=n)).isoformat(),
        }
        for n, s in enumerate(steps)
    ]
    return queue, [s.expected for s in steps]
