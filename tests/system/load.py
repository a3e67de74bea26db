"""A steady load on the running system, through its public API only: one thread registers
delegates at a fixed rate, one thread per gate scans badges, and every answer is kept. What
got a 2xx (a registration) or `admitted` (a scan) is a promise the system made: the invariant
checker later proves each one was kept.

Badge tokens are what the QR codes carry: the driver signs them with the deployment's badge
key (Ed25519 signatures are deterministic, so they are the very tokens the badge mails hold),
which saves decoding a PNG per delegate."""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests

from shared.badges import BadgeClaim, BadgeSigner

# Mayors and city delegates are confirmed at once (a badge mail goes out); media wait for
# approval (a "received" mail), so the load has both kinds of registration.
CATEGORIES = ("mayor", "delegate", "delegate", "international-organisation", "media")
LANGUAGES = ("en", "zh")
TIMEOUT = 10
EXITS = 0.3  # the share of scans that are exits


@dataclass
class Answers:
    """Everything the driver was told, shared by its threads (under `lock`)."""

    registered: dict[int, str] = field(default_factory=dict)  # 2xx: registration id → e-mail
    badges: list[tuple[int, int, str]] = field(default_factory=list)  # (badge id, version, token)
    admitted: dict[int, int] = field(default_factory=dict)  # scan id → badge id, when admitted
    outcomes: Counter = field(default_factory=Counter)  # "register 201", "scan unknown", …
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, outcome: str) -> None:
        with self.lock:
            self.outcomes[outcome] += 1

    def snapshot(self) -> Counter:
        with self.lock:
            return Counter(self.outcomes)

    def summary(self) -> str:
        with self.lock:
            return ", ".join(f"{k}: {n}" for k, n in sorted(self.outcomes.items()))


class LoadDriver:
    """Registers `rate` delegates a second and scans `scan_rate` badges a second at each gate
    (in, or now and then out) until stopped. Use as a context manager, or start() and stop()."""

    def __init__(
        self,
        registration_url: str,
        checkin_url: str,
        scanner_tokens: dict[str, str],
        signer: BadgeSigner,
        event_id: int,
        *,
        rate: float = 3.0,
        scan_rate: float = 3.0,
        answers: Answers | None = None,
    ):
        self.registration_url = registration_url
        self.checkin_url = checkin_url
        self.scanner_tokens = scanner_tokens
        self.signer = signer
        self.event_id = event_id
        self.rate = rate
        self.scan_rate = scan_rate
        self.answers = answers or Answers()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._numbers = itertools.count(1)

    def start(self) -> LoadDriver:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._register, daemon=True)]
        self._threads += [
            threading.Thread(target=self._scan, args=(gate,), daemon=True)
            for gate in self.scanner_tokens
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 5)

    def __enter__(self) -> LoadDriver:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # -- the threads ------------------------------------------------------------------------

    def _paced(self, per_second: float):
        """Yield at `per_second` on average until stopped (a load's pace, not a wait)."""
        interval = 1.0 / per_second
        next_at = time.monotonic()
        while not self._stop.is_set():
            yield
            next_at = max(next_at + interval, time.monotonic())
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _register(self) -> None:
        with requests.Session() as http:
            for _ in self._paced(self.rate):
                self._register_one(http, next(self._numbers))

    def _register_one(self, http: requests.Session, number: int) -> None:
        body = {
            "given_name": random.choice(["Clara", "小明", "Σίμος", "Amina"]),
            "family_name": f"Load {number}",
            "email": f"load-{uuid.uuid4().hex[:12]}@example.org",
            "organisation": "Fault suite",
            "city": "Guangzhou",
            "country": "CN",
            "category": CATEGORIES[number % len(CATEGORIES)],
            "language": LANGUAGES[number % len(LANGUAGES)],
            "consent": True,
        }
        url = f"{self.registration_url}/api/v1/events/gmf2023/registrations"
        try:
            response = http.post(url, json=body, timeout=TIMEOUT)
        except requests.RequestException as error:
            self.answers.note(f"register {type(error).__name__}")
            return
        self.answers.note(f"register {response.status_code}")
        if not response.ok:
            return
        created = response.json()
        badge = created.get("badge")
        with self.answers.lock:
            self.answers.registered[created["id"]] = body["email"]
            if badge and badge["status"] == "active":
                claim = BadgeClaim(self.event_id, badge["id"], badge["version"])
                self.answers.badges.append((badge["id"], badge["version"], self.signer.sign(claim)))

    def _scan(self, gate: str) -> None:
        headers = {"Authorization": f"Bearer {self.scanner_tokens[gate]}"}
        with requests.Session() as http:
            for _ in self._paced(self.scan_rate):
                with self.answers.lock:
                    badges = list(self.answers.badges)
                if badges:
                    self._scan_one(http, headers, random.choice(badges))

    def _scan_one(self, http: requests.Session, headers: dict, badge: tuple) -> None:
        badge_id, _version, token = badge
        # Some leave and come back (a re-entry is another admission), as at a real gate.
        direction = "out" if random.random() < EXITS else "in"
        try:
            response = http.post(
                f"{self.checkin_url}/api/v1/scans",
                json={"token": token, "direction": direction},
                headers=headers,
                timeout=TIMEOUT,
            )
        except requests.RequestException as error:
            self.answers.note(f"scan {type(error).__name__}")
            return
        if response.status_code != 200:
            self.answers.note(f"scan {response.status_code}")
            return
        answer = response.json()
        self.answers.note(f"scan {answer['result']}")
        if answer["result"] == "admitted":
            with self.answers.lock:
                self.answers.admitted[answer["scan_id"]] = badge_id
