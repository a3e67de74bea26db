"""VIP arrival alerts: when a badge of a flagged category (VIP_CATEGORIES) is admitted at the
venue for the first time on a local day of its event, the protocol office is told at once by
e-mail (PROTOCOL_EMAIL) and SMS (PROTOCOL_PHONE), with name, title, delegation, category,
gate, area and local time; and every listener of the `vip.arrived` fact is called.

Every `checkin.admitted` is noted first (services/notify/arrivals.py), and "first at the venue"
is decided there, not by the mail: a re-entry after lunch, a hall door or a repeat of the same
event never alerts again, and a retried task finds the same scan and sends (once) what it had
not sent yet. One alert per badge per day: its idempotency key is
`vip-arrival/<event>/<badge>/<day>`, its Message-ID derived from it.

For other channels (webhooks): register a listener with `on_arrival`; it is called with a
`VipArrival` inside the worker's task, after the arrival is recorded and before the mail is
sent. It may be called again for the same arrival (a retried task): deduplicate on
`arrival.key`, e.g. by deriving the webhook delivery's key from it. `arrival.payload()` is the
JSON body of the `vip.arrived` fact. A transient error in a listener (the database away)
retries the task; any other fails this arrival's alert alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.notify import delivery, messages, office
from services.notify.arrivals import VENUE, Admission
from services.notify.dispatch import Outlet
from services.notify.models import KnownDelegate
from shared.config import Settings
from shared.events import CHECKIN_ADMITTED, envelope_schema

log = logging.getLogger(__name__)

VIP_ARRIVED = "vip.arrived"  # the fact listeners are told of
ALERT = "vip-arrival"  # the protocol office's e-mail
ALERT_SMS = "vip-arrival-sms"  # and its SMS
# An admission older than this (an offline scanner synced hours later, a backlog after an
# outage) is history, not news: it is counted, and protocol is not paged about it.
FRESH_FOR = timedelta(hours=2)
SMS_LENGTH = 320  # two SMS segments

NOTED, NOT_FIRST, STALE = "arrival noted", "not the day's first at the venue", "stale"
SOURCES = {
    "offline": "scanned offline, synced later",
    "manual": "checked in by hand",
}


@dataclass(frozen=True)
class Protocol:
    """Who is told, and about whom: from VIP_CATEGORIES, PROTOCOL_EMAIL and PROTOCOL_PHONE."""

    categories: frozenset[str]
    email: str | None = None
    phone: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Protocol:
        return cls(
            frozenset(settings.vip_categories), settings.protocol_email, settings.protocol_phone
        )


@dataclass(frozen=True)
class VipArrival:
    """The `vip.arrived` fact: a flagged delegate's first admission of the day at the venue."""

    key: str  # "vip-arrival/<event>/<badge>/<day>": one per badge per local day
    event_id: int
    event_name: str
    registration_id: int | None
    badge_id: int
    name: str  # as the delegate writes it; "" when notify does not know it (yet)
    title: str
    delegation: str | None
    organisation: str | None
    category: str
    category_label: str
    gate: str | None  # None: checked in at the organisers' desk
    area: str
    at: datetime  # UTC
    local: datetime  # in the event's time zone
    source: str

    def payload(self) -> dict:
        """The fact as JSON-ready values (a webhook body)."""
        return {
            "type": VIP_ARRIVED,
            "id": self.key,
            "event_id": self.event_id,
            "registration_id": self.registration_id,
            "badge_id": self.badge_id,
            "name": self.name,
            "title": self.title,
            "delegation": self.delegation,
            "organisation": self.organisation,
            "category": self.category,
            "category_label": self.category_label,
            "gate": self.gate,
            "area": self.area,
            "at": self.at.isoformat(),
            "local_time": self.local.isoformat(),
            "source": self.source,
        }


Listener = Callable[[VipArrival], None]
_listeners: list[Listener] = []


def on_arrival(listener: Listener) -> Listener:
    """Call `listener` with every VIP arrival from now on (usable as a decorator)."""
    _listeners.append(listener)
    return listener


def flagged(payload: dict, categories: frozenset[str]) -> bool:
    """Whether an admission may alert: a flagged category, entering the venue itself (a
    payload without an area is from before areas, when the venue was the only one)."""
    return payload["category"] in categories and (payload.get("area") or VENUE) == VENUE


def alert_key(event_id: int, badge_id: int, day: date, kind: str = ALERT) -> str:
    return f"{kind}/{event_id}/{badge_id}/{day.isoformat()}"


def alert(
    admission: Admission, outlet: Outlet, protocol: Protocol, send_sms: Callable[[dict], None]
) -> str:
    """Alert protocol when a noted admission is a flagged delegate's first arrival of the day
    at the venue, once (a retry sends only what was not sent). Returns what happened."""
    envelope, payload, local = admission.envelope, admission.payload, admission.local
    if not flagged(payload, protocol.categories):
        return NOTED
    if not admission.first:
        return NOT_FIRST
    key = alert_key(payload["event_id"], payload["badge_id"], local.date())
    sms_key = alert_key(payload["event_id"], payload["badge_id"], local.date(), ALERT_SMS)
    if outlet.now() - payload["at"] > FRESH_FOR:
        for stale in (key, sms_key):
            delivery.give_up(outlet.sessions, stale, "stale: admitted too long ago")
        return STALE

    event = admission.event
    labels = (event.categories or {}) if event else {}
    fact = _fact(outlet, payload, key, event.name if event else "", labels, local)
    for listener in _listeners:
        listener(fact)
    if protocol.phone:
        send_sms(
            {
                "key": sms_key,
                "kind": ALERT_SMS,
                "event_type": CHECKIN_ADMITTED,
                "to": protocol.phone,
                "text": sms_text(fact),
                "delegate_id": fact.registration_id,
            }
        )
    if not protocol.email:
        return "alerted (no PROTOCOL_EMAIL)"
    owed = delivery.Owed(
        key=key,
        kind=ALERT,
        event_type=CHECKIN_ADMITTED,
        recipient=protocol.email,
        language="en",
        delegate_id=fact.registration_id,
        task_args=envelope_schema().dump(envelope),
    )

    def build():
        return office.build(
            ALERT,
            to=protocol.email,
            subject=subject(fact),
            context=context(fact),
            mail_from=outlet.mail_from,
            idempotency_key=key,
            now=outlet.now(),
        )

    return delivery.deliver(outlet.sessions, owed, build, outlet.send)


def _fact(
    outlet: Outlet, payload: dict, key: str, event_name: str, labels: dict, local: datetime
) -> VipArrival:
    delegate = None
    if payload.get("registration_id") is not None:
        with outlet.sessions() as session:
            delegate = session.get(KnownDelegate, payload["registration_id"])
            if delegate is not None:
                session.expunge(delegate)
    known = delegate is not None and delegate.erased_at is None
    category = payload["category"]
    return VipArrival(
        key=key,
        event_id=payload["event_id"],
        event_name=event_name,
        registration_id=payload.get("registration_id"),
        badge_id=payload["badge_id"],
        name=(delegate.display_name or "") if known else "",
        title=(delegate.title or "") if known else "",
        delegation=delegate.delegation if known else None,
        organisation=delegate.organisation if known else None,
        category=category,
        category_label=(labels.get(category) or {}).get("label")
        or category.replace("-", " ").title(),
        gate=payload.get("gate"),
        area=payload.get("area") or VENUE,
        at=payload["at"],
        local=local,
        source=payload.get("source") or "gate",
    )


def who(fact: VipArrival) -> str:
    """ "Mayor Clara Brugada", or the badge number when notify does not know the name."""
    name = messages.one_line(fact.name)
    if not name:
        return f"badge {fact.badge_id}"
    # "zh" writes a Chinese title after the name (王小明市长), any other before (Mayor Clara).
    return messages.addressee(name, messages.one_line(fact.title), "zh")


def where(fact: VipArrival) -> str:
    return f"{fact.gate} gate" if fact.gate else "the organisers' desk"


def subject(fact: VipArrival) -> str:
    return f"VIP arrival: {who(fact)}, {where(fact)}, {fact.local:%H:%M}"


def context(fact: VipArrival) -> dict:
    return {
        "fact": fact,
        "who": who(fact),
        "where": where(fact),
        "area": fact.area.replace("-", " ").title(),
        "time": f"{fact.local:%H:%M} on {fact.local:%a} {fact.local.day} {fact.local:%b %Y}",
        "zone": fact.local.tzname() or "",
        "timezone": getattr(fact.local.tzinfo, "key", ""),
        "source": SOURCES.get(fact.source),
    }


def sms_text(fact: VipArrival) -> str:
    """One short line: who, of which delegation, where, when."""
    party = fact.delegation or fact.organisation
    parts = [
        f"VIP arrival: {who(fact)}",
        f"({messages.one_line(party)})" if party else "",
        f"[{fact.category_label}],",
        f"{where(fact)}, {fact.area.replace('-', ' ').title()},",
        f"{fact.local:%H:%M}",
    ]
    text = " ".join(p for p in parts if p)
    if fact.source in SOURCES:
        text += f" ({SOURCES[fact.source]})"
    return text if len(text) <= SMS_LENGTH else text[: SMS_LENGTH - 1] + "…"
