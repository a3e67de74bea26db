"""The checkin API's contract."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.checkin.admission import Direction, Result


class ScanIn(Schema):
    token = fields.String(
        required=True,
        validate=validate.Length(min=1, max=512),
        metadata={"description": "the text of the badge's QR code"},
    )
    direction = fields.Enum(Direction, by_value=True, load_default=Direction.IN)


class ScannedBadge(Schema):
    """All a scanner may learn of a badge: whom to greet, and in which category."""

    id = fields.Integer(attribute="badge_id")
    display_name = fields.String()
    category = fields.String()


class ScanOut(Schema):
    result = fields.Enum(Result, by_value=True, metadata={"description": "admitted, exited, …"})
    passes = fields.Function(lambda o: o.result.passes, metadata={"description": "green or red"})
    message = fields.String()
    gate = fields.String()
    scanned_at = fields.AwareDateTime()
    badge = fields.Nested(ScannedBadge, allow_none=True)
    inside_since = fields.AwareDateTime(allow_none=True)
    inside_gate = fields.String(allow_none=True)


class DeviceOut(Schema):
    event = fields.String()
    gate = fields.String()


class Count(Schema):
    registered = fields.Integer()
    arrived = fields.Integer()
    inside = fields.Integer()


class GateCount(Schema):
    arrived = fields.Integer(metadata={"description": "first arrivals through this gate"})
    inside = fields.Integer(metadata={"description": "inside now, having entered here"})


class HeadcountOut(Count):
    event = fields.String()
    by_gate = fields.Dict(keys=fields.String(), values=fields.Nested(GateCount))
    by_category = fields.Dict(keys=fields.String(), values=fields.Nested(Count))
