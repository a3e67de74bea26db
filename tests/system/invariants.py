"""The issue's "nothing lost", counted from the sources of truth: the databases (read
directly, not through the proxy the services use), the SMTP sink's mail folder and checkin's
headcount API, against what the load driver was promised.

`Checker.count()` takes one look and returns a `Count`; `Checker.converged()` polls until the
count is whole (the system settles after a fault: nothing lost means all there, eventually)
and returns the last count either way, for the scenario to print and assert."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import Engine, select

from rollcall.smtp_sink import SmtpSink
from services.checkin.models import ReplicaBadge, Scan
from services.notify.delivery import idempotency_key
from services.notify.messages import BADGE_MAIL, message_id
from services.notify.models import SENT, Notification
from services.registration.models import Badge, Event, Registration
from services.registration.models import outbox as registration_outbox
from shared.events import DELEGATE_REGISTERED
from tests.integration.test_notify_faults import Tally
from tests.support.processes import wait_until
from tests.system.load import Answers


@dataclass
class Count:
    """One look at the whole system; `problems` says what is not (yet) as promised."""

    registrations: tuple[int, int] = (0, 0)  # acknowledged, found
    admissions: tuple[int, int] = (0, 0)  # acknowledged, in the scan log as admitted
    mails: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    # ^ expected, delivered (copies in the sink), distinct Message-IDs, repeats, recorded sent
    replica: tuple[int, int, int] = (0, 0, 0)  # registration's badges, matching rows, extra rows
    headcount: tuple[tuple[int, int, int], tuple[int, int, int]] = ((0, 0, 0), (0, 0, 0))
    # ^ the API's (registered, arrived, inside), and the same from the replica and scan log
    arrivals: tuple[int, int] = (0, 0)  # badges admitted in the log, their arrival recorded
    repeated: dict[str, int] = field(default_factory=dict)  # Message-ID → copies, when > 1
    problems: list[str] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        return not self.problems

    def report(self, scenario: str) -> str:
        (h_reg, h_arr, h_in), (l_reg, l_arr, l_in) = self.headcount
        return (
            f"[{scenario}] registrations acknowledged/found {self.registrations[0]}/"
            f"{self.registrations[1]}; admissions acknowledged/in scan log "
            f"{self.admissions[0]}/{self.admissions[1]}; badge mails expected/delivered/"
            f"distinct Message-IDs/repeats/recorded sent {'/'.join(map(str, self.mails))}; "
            f"replica rows matching {self.replica[1]}/{self.replica[0]} (extra {self.replica[2]});"
            f" headcount registered/arrived/inside {h_reg}/{h_arr}/{h_in} vs scan log "
            f"{l_reg}/{l_arr}/{l_in}; arrivals recorded {self.arrivals[1]}/{self.arrivals[0]}"
            + (f"; NOT YET: {'; '.join(self.problems)}" if self.problems else "")
        )


class Checker:
    def __init__(
        self, engine: Engine, mail_dir: Path, checkin_url: str, organizer_token: str, domain: str
    ):
        self.engine = engine
        self.tally = Tally(SmtpSink(mail_dir))  # reads the folder; never started here
        self.checkin_url = checkin_url
        self.organizer_token = organizer_token
        self.domain = domain
        self.accounted: dict[str, int] = {}  # Message-ID → copies, counted by a scenario before

    def account(self, count: Count) -> None:
        """Take `count`'s repeats as explained: a later scenario counts only its own."""
        self.accounted.update(count.repeated)

    def converged(self, answers: Answers, timeout: float, max_repeats: int, tick=None) -> Count:
        """Count until whole or `timeout` s have passed; returns the last count either way.
        `tick()` (if given) runs each round."""
        last: list[Count] = []
        started = time.monotonic()
        self.settling: list[str] = []  # what was missing, as it changed: where the time went

        def whole() -> bool:
            if tick:
                tick()
            last.append(self.count(answers, max_repeats))
            missing = "; ".join(last[-1].problems) or "whole"
            if not self.settling or not self.settling[-1].endswith(f": {missing}"):
                self.settling.append(f"{time.monotonic() - started:.1f} s: {missing}")
            return last[-1].whole

        with contextlib.suppress(TimeoutError):
            wait_until(whole, timeout, "the system to converge")
        if not last:  # every look failed (a service down): one more, to say why
            last.append(self.count(answers, max_repeats))
        return last[-1]

    def count(self, answers: Answers, max_repeats: int) -> Count:
        with answers.lock:
            registered, admitted = dict(answers.registered), dict(answers.admitted)
        c = Count()
        with self.engine.connect() as db:
            event_id = db.scalar(select(Event.id).where(Event.slug == "gmf2023"))
            registrations = {
                r.id: r
                for r in db.execute(
                    select(
                        Registration.id,
                        Registration.email,
                        Registration.status,
                        Registration.arrived_at,
                    ).where(Registration.event_id == event_id)
                )  # fmt: skip
            }
            badges = db.execute(
                select(Badge.id, Badge.registration_id, Badge.version, Badge.status).where(
                    Badge.event_id == event_id
                )
            ).all()
            replica = db.execute(
                select(ReplicaBadge.badge_id, ReplicaBadge.registration_id,
                       ReplicaBadge.version, ReplicaBadge.status)
                .where(ReplicaBadge.event_id == event_id)
            ).all()  # fmt: skip
            scans = db.execute(
                select(Scan.id, Scan.badge_id, Scan.area_id, Scan.result)
                .where(Scan.event_id == event_id)
                .order_by(Scan.occurred_at, Scan.id)
            ).all()
            registered_events = db.execute(
                select(registration_outbox.table.c.event_id, registration_outbox.table.c.payload)
                .where(registration_outbox.table.c.type == DELEGATE_REGISTERED)
            ).all()  # fmt: skip
            sent_keys = set(
                db.scalars(select(Notification.idempotency_key).where(Notification.state == SENT))
            )

        found = [i for i, email in registered.items() if
                 i in registrations and registrations[i].email == email]  # fmt: skip
        c.registrations = (len(registered), len(found))
        if len(found) < len(registered):
            c.problems.append(f"{len(registered) - len(found)} acknowledged registration(s) lost")

        logged = {s.id for s in scans if s.result == "admitted"}
        in_log = [scan_id for scan_id in admitted if scan_id in logged]
        c.admissions = (len(admitted), len(in_log))
        if len(in_log) < len(admitted):
            c.problems.append(f"{len(admitted) - len(in_log)} admitted scan(s) not in the log")

        self._count_mails(c, registrations, registered_events, sent_keys, max_repeats)
        self._count_replica(c, badges, replica)
        self._count_headcount(c, scans, replica)

        badge_owner = {b.id: b.registration_id for b in badges}
        arrived_badges = {s.badge_id for s in scans if s.result == "admitted"}
        recorded = [b for b in arrived_badges if registrations[badge_owner[b]].arrived_at]
        c.arrivals = (len(arrived_badges), len(recorded))
        if len(recorded) < len(arrived_badges):
            c.problems.append(f"{len(arrived_badges) - len(recorded)} arrival(s) not recorded")
        return c

    def _count_mails(self, c, registrations, registered_events, sent_keys, max_repeats) -> None:
        """Every delegate confirmed at registration is owed one badge mail, whose Message-ID
        derives from their `delegate.registered` event."""
        confirmed = {i for i, r in registrations.items() if r.status == "confirmed"}
        keys = {
            idempotency_key(event_id, BADGE_MAIL)
            for event_id, payload in registered_events
            if payload["delegate"]["id"] in confirmed
        }
        expected = {message_id(key, self.domain) for key in keys}
        counts: Counter = self.tally.counts()
        delivered = [mid for mid in expected if counts[mid] >= 1]
        copies = sum(counts[mid] for mid in expected)
        # Repeats an earlier scenario on this system already accounted for are not this one's.
        c.repeated = {mid: counts[mid] for mid in expected
                      if counts[mid] > 1 and self.accounted.get(mid) != counts[mid]}  # fmt: skip
        repeats = sum(n - 1 for n in c.repeated.values())
        recorded = len(keys & sent_keys)
        c.mails = (len(expected), copies, len(delivered), repeats, recorded)
        if len(delivered) < len(expected):
            c.problems.append(f"{len(expected) - len(delivered)} badge mail(s) not delivered")
        if recorded < len(keys):
            c.problems.append(f"{len(keys) - recorded} badge mail(s) not recorded sent")
        if repeats > max_repeats or any(n > 2 for n in c.repeated.values()):
            c.problems.append(f"{repeats} repeated badge mail(s), at most {max_repeats} allowed")

    def _count_replica(self, c, badges, replica) -> None:
        theirs = {tuple(b) for b in badges}
        ours = {tuple(r) for r in replica}
        c.replica = (len(theirs), len(theirs & ours), len(ours - theirs))
        if theirs != ours:
            c.problems.append(
                f"replica: {len(theirs - ours)} badge(s) missing or stale, "
                f"{len(ours - theirs)} extra"
            )

    def _count_headcount(self, c, scans, replica) -> None:
        """Presence replayed from the scan log (admitted in, exited out, per badge and area)."""
        inside: dict[tuple[int, int], bool] = {}
        for scan in scans:
            if scan.result in ("admitted", "exited"):
                inside[(scan.badge_id, scan.area_id)] = scan.result == "admitted"
        arrived = {badge for badge, _area in inside}
        now_inside = {badge for (badge, _area), yes in inside.items() if yes}
        registered = sum(1 for r in replica if r.status == "active")
        from_log = (registered, len(arrived), len(now_inside))
        answer = requests.get(
            f"{self.checkin_url}/api/v1/events/gmf2023/headcount",
            headers={"Authorization": f"Bearer {self.organizer_token}"},
            timeout=10,
        )
        answer.raise_for_status()
        body = answer.json()
        api = (body["registered"], body["arrived"], body["inside"])
        c.headcount = (api, from_log)
        if api != from_log:
            c.problems.append(f"headcount {api} differs from the scan log's {from_log}")
