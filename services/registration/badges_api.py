"""Badges to download and print: the QR as PNG, a printable PDF (A6 or a 4"×3" lanyard card)
for a delegate, and a print sheet of many for the protocol office."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from services.registration import resources
from services.registration.access import organiser, organiser_required, registration_actor
from services.registration.changes import badge_token
from services.registration.models import Badge, Registration
from services.registration.schemas import Text
from shared.access import bearer_digest, bearer_required
from shared.badges import qr_png
from shared.dates import event_dates
from shared.errors import Conflict, ErrorBody, NotFound
from shared.printing.badge_print import PrintedBadge, badge_pdf, print_sheet

blp = Blueprint("badges", __name__, url_prefix="/api/v1", description="Badges to print")
BEARER = [{"bearer": []}]


class PrintArgs(Schema):
    size = fields.String(load_default="a6", validate=validate.OneOf(["a6", "lanyard"]))


class SheetArgs(PrintArgs):
    category = Text(validate=validate.Length(max=40))  # no NUL for PostgreSQL


@blp.get("/registrations/<id:registration_id>/badge.png")
@bearer_required
@blp.response(200, content_type="image/png")
@blp.alt_response(409, schema=ErrorBody)
@blp.doc(security=BEARER)
def badge_qr(registration_id: int):
    """The badge's QR code, for the delegate (manage token) or an organiser."""
    registration = _with_active_badge(registration_id)
    return Response(qr_png(badge_token(registration, resources().signer)), mimetype="image/png")


@blp.get("/registrations/<id:registration_id>/badge.pdf")
@bearer_required
@blp.arguments(PrintArgs, location="query")
@blp.response(200, content_type="application/pdf")
@blp.alt_response(409, schema=ErrorBody)
@blp.doc(security=BEARER)
def badge_document(args: dict, registration_id: int):
    """The printable badge: the name as written (and in Latin letters under another script),
    organisation, city and country, the category's colour band, and the QR code."""
    registration = _with_active_badge(registration_id)
    pdf = badge_pdf(printed(registration, resources().signer), size=args["size"])
    return _pdf(pdf, f"badge-{registration.badge.id}.pdf")


@blp.get("/events/<slug>/badges.pdf")
@organiser_required
@blp.arguments(SheetArgs, location="query")
@blp.response(200, content_type="application/pdf")
@blp.alt_response(404, schema=ErrorBody)
@blp.doc(security=BEARER)
def badge_sheet(args: dict, slug: str):
    """A print sheet (A4 pages with cut marks) of every active badge, or one category's."""
    r = resources()
    with r.db.reads() as session:
        event, _actor = organiser(session, bearer_digest(), slug)
        query = (
            select(Registration)
            .join(Badge)
            .where(Registration.event_id == event.id, Badge.status == "active")
            .options(joinedload(Registration.badge), joinedload(Registration.event))
            .order_by(Registration.family_name, Registration.given_name, Registration.id)
        )
        if args.get("category"):
            query = query.where(Registration.category == args["category"])
        badges = [printed(reg, r.signer) for reg in session.scalars(query).unique()]
    if not badges:
        raise NotFound("no_badges", "There are no valid badges to print here yet.")
    return _pdf(print_sheet(badges, size=args["size"]), f"badges-{slug}.pdf")


def printed(registration: Registration, signer) -> PrintedBadge:
    event = registration.event
    category = next(c for c in event.categories if c.code == registration.category)
    return PrintedBadge(
        display_name=registration.display_name,
        latin_name=registration.printed_latin_name,
        organisation=registration.organisation,
        city=registration.city,
        country_code=registration.country,
        category_label=category.label,
        category_colour=category.colour,
        event_name=event.name,
        event_dates=event_dates(event.starts_on, event.ends_on, "en"),
        token=badge_token(registration, signer),
        badge_id=registration.badge.id,
    )


def _with_active_badge(registration_id: int) -> Registration:
    with resources().db.reads() as session:
        registration, _actor = registration_actor(session, bearer_digest(), registration_id)
        badge = registration.badge
        if badge is None or badge.status != "active":
            raise Conflict("no_active_badge", "This registration has no valid badge to show.")
        _ = registration.event.categories
        return registration


def _pdf(content: bytes, filename: str) -> Response:
    response = Response(content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
