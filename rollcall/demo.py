"""The demo event: the Global Mayors' Forum 2023 in Guangzhou, with its areas (the venue, which
every badge may enter, the plenary hall, the award ceremony and the VIP lounge), four entrances
to the venue and a door to each hall, and working credentials written to var/demo.json.
Seeding again keeps the event and its valid tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.checkin import areas as checkin_areas
from services.checkin.models import ScannerToken
from services.registration import event_setup
from services.registration.event_setup import CategorySpec, EventSpec
from services.registration.models import Event, OrganizerToken
from shared import access, db
from shared.config import Settings

ALL_AREAS = ("venue", "plenary", "ceremony")
FORUM = EventSpec(
    slug="gmf2023",
    name="Global Mayors' Forum 2023",
    venue="Yuexiu International Congress Center, Guangzhou",
    timezone="Asia/Shanghai",
    starts_on=date(2023, 12, 7),
    ends_on=date(2023, 12, 9),
    capacity=1200,
    translations={"zh": {"name": "2023年全球市长论坛", "venue": "广州越秀国际会议中心"}},
    categories=(
        CategorySpec(
            "mayor",
            "Mayor or governor",
            None,
            False,
            (*ALL_AREAS, "vip-lounge"),
            "#b3261e",
            labels={"zh": "市长或州长"},
        ),
        CategorySpec(
            "delegate", "City delegate", 600, False, ALL_AREAS, "#1f6feb", labels={"zh": "城市代表"}
        ),
        CategorySpec(
            "international-organisation",
            "International organisation",
            120,
            False,
            ALL_AREAS,
            "#0b7a75",
            labels={"zh": "国际组织代表"},
        ),
        CategorySpec(
            "speaker",
            "Speaker",
            80,
            False,
            (*ALL_AREAS, "vip-lounge"),
            "#7c3aed",
            labels={"zh": "演讲嘉宾"},
        ),
        # Press accreditation is checked by the protocol office before a badge is issued.
        CategorySpec(
            "media", "Media", 150, True, ("venue", "plenary"), "#b45309", labels={"zh": "媒体"}
        ),
        CategorySpec("staff", "Staff", 200, False, ALL_AREAS, "#4b5563", labels={"zh": "工作人员"}),
        CategorySpec(
            "vip",
            "VIP guest",
            50,
            True,
            (*ALL_AREAS, "vip-lounge"),
            "#a16207",
            labels={"zh": "贵宾"},
        ),
    ),
)
# code, name, capacity, everyone
AREAS = (
    ("venue", "Venue", 1200, True),
    ("plenary", "Plenary hall", 900, False),
    ("ceremony", "Award ceremony", 600, False),
    ("vip-lounge", "VIP lounge", 60, False),
)
# The entrances of the congress centre (VIP: the protocol entrance, still the venue).
GATES = ("North", "South", "East", "VIP")
# A door of each hall inside: gate name → area code.
AREA_GATES = {"Plenary": "plenary", "Ceremony": "ceremony", "VIP Lounge": "vip-lounge"}
SUPERVISOR_GATE = "North"


def seed(settings: Settings) -> dict:
    """Create the demo event and gates unless they exist; returns what demo.json holds."""
    path = settings.var_dir / "demo.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    organizer_token = _organizer_token(settings, previous.get("organizer_token"))
    scanner_tokens = _scanner_tokens(settings, previous.get("scanner_tokens", {}), GATES)
    area_tokens = _scanner_tokens(settings, previous.get("area_scanner_tokens", {}), AREA_GATES)
    supervisor = _scanner_tokens(
        settings, {SUPERVISOR_GATE: previous.get("supervisor_token")}, (SUPERVISOR_GATE,),
        role="supervisor",
    )[SUPERVISOR_GATE]  # fmt: skip
    demo = {
        "event": FORUM.slug,
        "organizer_token": organizer_token,
        "scanner_tokens": scanner_tokens,
        "area_scanner_tokens": area_tokens,
        "supervisor_token": supervisor,
        "urls": {
            "registration": settings.registration_url,
            "checkin": settings.checkin_url,
            "register_page": f"{settings.registration_url}/events/{FORUM.slug}/register",
            "register": f"{settings.registration_url}/api/v1/events/{FORUM.slug}/registrations",
            "scan": f"{settings.checkin_url}/api/v1/scans",
            "headcount": f"{settings.checkin_url}/api/v1/events/{FORUM.slug}/headcount",
            "registration_openapi": f"{settings.registration_url}/openapi.json",
            "checkin_openapi": f"{settings.checkin_url}/openapi.json",
            "mail": str(settings.mail_dir),
        },
    }
    _write_private(path, json.dumps(demo, indent=2, ensure_ascii=False) + "\n")
    return demo


@contextmanager
def _session(url: str) -> Iterator[Session]:
    engine = db.make_engine(url)
    try:
        with db.make_sessions(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _organizer_token(settings: Settings, known: str | None) -> str:
    with _session(settings.registration_database_url) as session:
        event = session.scalar(select(Event).where(Event.slug == FORUM.slug))
        if event is None:
            return event_setup.create_event(session, FORUM).organizer_token
        if known and session.scalar(
            select(OrganizerToken.id).where(OrganizerToken.digest == access.digest(known))
        ):
            return known
        return event_setup.add_organizer_token(session, event, "demo")


def _scanner_tokens(
    settings: Settings, known: dict[str, str | None], gates, role: str = "scanner"
) -> dict[str, str]:
    """A token for each gate (gate name → token), the known one while it is still valid."""
    tokens = {}
    with _session(settings.checkin_database_url) as session:
        areas = {
            code: checkin_areas.ensure_area(
                session, FORUM.slug, code, name, capacity=capacity, everyone=everyone
            )
            for code, name, capacity, everyone in AREAS
        }
        for name in gates:
            area = areas[gates[name]] if isinstance(gates, dict) else areas["venue"]
            gate = checkin_areas.create_gate(session, FORUM.slug, name, area)
            token = known.get(name)
            valid = token and session.scalar(
                select(ScannerToken.gate_id).where(
                    ScannerToken.digest == access.digest(token), ScannerToken.role == role
                )
            )
            tokens[name] = (
                token
                if valid == gate.id
                else checkin_areas.issue_scanner_token(session, gate, f"demo {name} {role}", role)
            )
    return tokens


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(text)
