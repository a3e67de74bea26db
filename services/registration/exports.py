"""What organisers take away: every registration of an event, and the badge print list (the
confirmed delegates with an active badge), as CSV or XLSX, each cell safe to open in Excel.

Column headers are the ones `delegate_lists` reads, so an exported list can be edited and
imported again."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from services.registration import spreadsheets
from services.registration.changes import badge_token
from services.registration.domain import Status
from services.registration.models import Event, Registration
from shared import countries
from shared.badges import BadgeSigner
from shared.db import as_utc, utcnow

FORMATS = {"csv": spreadsheets.CSV_TYPE, "xlsx": spreadsheets.XLSX_TYPE}
REGISTRATION_HEADERS = [
    "Registration ID", "Status", "Status reason", "Given name", "Family name", "Display name",
    "E-mail", "Organisation", "City", "Country", "Country name", "Category", "Category label",
    "Language", "Dietary needs", "Accessibility needs", "Badge ID", "Badge version",
    "Badge status", "Registered at", "Updated at",
]  # fmt: skip
BADGE_HEADERS = [
    "Display name", "Latin name", "Organisation", "City", "Country name", "Category label",
    "Colour", "Badge ID", "Badge version", "Registration ID", "QR code",
]  # fmt: skip


@dataclass(frozen=True)
class Export:
    filename: str  # ASCII only, safe in a Content-Disposition header
    content_type: str
    content: bytes


def registrations(session: Session, event: Event, fmt: str) -> Export:
    """Every registration of the event, whatever its status, oldest first."""
    zone = ZoneInfo(event.timezone)
    labels = {c.code: c.label for c in event.categories}
    headers = [*REGISTRATION_HEADERS]
    headers[-2:] = [f"{h} ({event.timezone})" for h in headers[-2:]]
    rows = [
        [
            r.id,
            r.status,
            r.status_reason or "",
            r.given_name,
            r.family_name,
            r.display_name,
            r.email,
            r.organisation,
            r.city,
            r.country,
            country_name(r.country),
            r.category,
            labels.get(r.category, ""),
            r.language,
            r.dietary,
            r.accessibility,
            r.badge.id if r.badge else None,
            r.badge.version if r.badge else None,
            r.badge.status if r.badge else "",
            _local(r.created_at, zone),
            _local(r.updated_at, zone),
        ]
        for r in _registrations(session, event)
    ]
    return _export(event, "registrations", fmt, headers, rows)


def badge_list(session: Session, event: Event, fmt: str, signer: BadgeSigner) -> Export:
    """Confirmed delegates with an active badge, by category, then name: what the protocol
    office prints, or sends to a print shop. The Latin name stands under a name in another
    script on the badge; the QR code column is the text its QR code holds (the signed token a
    gate reads), for printers that draw the code themselves."""
    categories = {c.code: c for c in event.categories}
    order = {c.code: i for i, c in enumerate(event.categories)}
    confirmed = [
        r
        for r in _registrations(session, event)
        if r.status == Status.CONFIRMED.value and r.badge and r.badge.status == "active"
    ]
    confirmed.sort(key=lambda r: (order.get(r.category, len(order)), r.display_name.casefold()))
    rows = []
    for r in confirmed:
        category = categories.get(r.category)
        rows.append(
            [
                r.display_name,
                latin_name(r),
                r.organisation,
                r.city,
                country_name(r.country),
                category.label if category else r.category,
                category.colour if category else "",
                r.badge.id,
                r.badge.version,
                r.id,
                badge_token(r, signer),
            ]
        )
    return _export(event, "badges", fmt, BADGE_HEADERS, rows)


def latin_name(registration: Registration) -> str:
    """The name in Latin letters for a name in another script; empty for a Latin name."""
    return registration.printed_latin_name or ""


def country_name(code: str) -> str:
    return countries.name(code)


def _registrations(session: Session, event: Event) -> list[Registration]:
    query = (
        select(Registration)
        .where(Registration.event_id == event.id)
        .options(selectinload(Registration.badge))
        .order_by(Registration.id)
    )
    return list(session.scalars(query))


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return as_utc(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _export(event: Event, what: str, fmt: str, headers: list[str], rows: list[list]) -> Export:
    stamp = utcnow().astimezone(ZoneInfo(event.timezone)).strftime("%Y%m%d-%H%M")
    slug = re.sub(r"[^A-Za-z0-9-]", "-", event.slug)
    filename = f"{slug}-{what}-{stamp}.{fmt}"
    if fmt == "csv":
        return Export(filename, FORMATS[fmt], spreadsheets.write_csv(headers, rows))
    return Export(filename, FORMATS[fmt], spreadsheets.write_xlsx(headers, rows, what))
