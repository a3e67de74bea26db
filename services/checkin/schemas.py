"""The checkin API's contract: what gates, supervisors and organisers send and get."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import Schema, ValidationError, fields, validate

from services.checkin.admission import Direction, Result

CODE = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,39}$", error="Lower-case letters, digits and -.")
ROW_ID = validate.Range(min=1, max=2**31 - 1)
TOKEN = validate.Length(min=1, max=512)
# Device clocks are trusted within reason: a time outside these years is a broken clock.
DEVICE_TIME = validate.Range(
    min=datetime(2000, 1, 1, tzinfo=UTC),
    max=datetime(2100, 1, 1, tzinfo=UTC),
    error="Not a plausible time.",
)


class Text(fields.String):
    """A line a person typed: trimmed, without control characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        # A lone surrogate (JSON can spell `\ud800`) cannot be stored in UTF-8 either.
        if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise ValidationError("Must not contain control characters.")
        return text


def text(max_length: int, **kwargs) -> Text:
    return Text(validate=validate.Length(min=1, max=max_length), **kwargs)


# --- scanning --------------------------------------------------------------------------------


class ScanIn(Schema):
    token = fields.String(
        required=True, validate=TOKEN, metadata={"description": "the text of the badge's QR code"}
    )
    direction = fields.Enum(Direction, by_value=True, load_default=Direction.IN)
    area = fields.String(
        validate=CODE,
        load_default=None,
        metadata={"description": "another area of the event than the gate's own (a moving device)"},
    )


class ScannedBadge(Schema):
    """All a scanner may learn of a badge: whom to greet, and in which category."""

    id = fields.Integer(attribute="badge_id")
    display_name = fields.String()
    category = fields.String()


class ScanOut(Schema):
    result = fields.Enum(Result, by_value=True, metadata={"description": "admitted, exited, …"})
    passes = fields.Function(lambda o: o.result.passes, metadata={"description": "green or red"})
    message = fields.String(metadata={"description": "the line under the answer, with reasons"})
    gate = fields.String(allow_none=True)
    area = fields.String(metadata={"description": "the area's code"})
    scanned_at = fields.AwareDateTime()
    badge = fields.Nested(ScannedBadge, allow_none=True)
    inside_since = fields.AwareDateTime(allow_none=True)
    inside_gate = fields.String(allow_none=True)
    scan_id = fields.Integer(metadata={"description": "its entry in the scan log"})


class QueuedScanIn(Schema):
    id = fields.UUID(required=True, metadata={"description": "the device's own id for the scan"})
    token = fields.String(required=True, validate=TOKEN)
    direction = fields.Enum(Direction, by_value=True, load_default=Direction.IN)
    scanned_at = fields.AwareDateTime(
        required=True, validate=DEVICE_TIME, metadata={"description": "the device's clock"}
    )
    area = fields.String(validate=CODE, load_default=None)


class BatchIn(Schema):
    scans = fields.List(
        fields.Nested(QueuedScanIn), required=True, validate=validate.Length(min=1, max=5000)
    )


class BatchAnswer(Schema):
    id = fields.String(metadata={"description": "the device's id for the scan"})
    result = fields.Enum(Result, by_value=True)
    passes = fields.Function(lambda o: o["result"].passes)
    message = fields.String()
    gate = fields.String(allow_none=True)
    area = fields.String(allow_none=True)
    scanned_at = fields.AwareDateTime(metadata={"description": "when the server logged it"})
    occurred_at = fields.AwareDateTime(metadata={"description": "when it happened"})
    badge = fields.Nested(ScannedBadge, allow_none=True)
    inside_since = fields.AwareDateTime(allow_none=True)
    inside_gate = fields.String(allow_none=True)
    conflict = fields.Integer(
        allow_none=True, metadata={"description": "the conflict record this scan is part of"}
    )


class BatchOut(Schema):
    results = fields.List(fields.Nested(BatchAnswer), metadata={"description": "in sent order"})
    applied = fields.Integer(metadata={"description": "scans applied now"})
    replayed = fields.Integer(metadata={"description": "scans applied before, answered again"})


class DeviceOut(Schema):
    event = fields.String()
    gate = fields.String()
    area = fields.String(metadata={"description": "the code of the gate's area"})
    area_name = fields.String()
    role = fields.String(metadata={"description": "scanner or supervisor"})


# --- the offline badge list --------------------------------------------------------------------


class VerifyKey(Schema):
    kid = fields.Integer(metadata={"description": "the key id byte a token carries"})
    algorithm = fields.Constant("Ed25519")
    public_key = fields.String(metadata={"description": "raw 32 bytes, base64url, unpadded"})


class OfflineBadge(Schema):
    id = fields.Integer(attribute="badge_id")
    version = fields.Integer()
    status = fields.String(metadata={"description": "active, revoked or void"})
    reason = fields.String(attribute="status_reason", allow_none=True)
    display_name = fields.String()
    category = fields.String()
    areas = fields.List(fields.String(), metadata={"description": "area codes it may enter"})


class AreaBrief(Schema):
    code = fields.String()
    name = fields.String()
    everyone = fields.Boolean()


class CategoryBrief(Schema):
    code = fields.String()
    label = fields.String()
    labels = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": 'the label in other languages: {"zh": "市长或州长"}'},
    )
    colour = fields.String(metadata={"description": "the badge colour, #rrggbb"})


class OfflineListOut(Schema):
    event = fields.String()
    event_id = fields.Integer()
    timezone = fields.String()
    generated_at = fields.AwareDateTime()
    token_format = fields.String(
        metadata={
            "description": "base32 (RFC 4648, unpadded) of 12 bytes `>BBIIH` (format 1, key id,"
            " event id, badge id, version) followed by their 64-byte Ed25519 signature"
        }
    )
    keys = fields.List(fields.Nested(VerifyKey))
    areas = fields.List(fields.Nested(AreaBrief))
    categories = fields.List(fields.Nested(CategoryBrief))
    badges = fields.List(fields.Nested(OfflineBadge))


class OfflineListQuery(Schema):
    since = fields.AwareDateTime(
        load_default=None,
        validate=DEVICE_TIME,
        metadata={"description": "only badges changed since (an earlier list's generated_at)"},
    )


# --- areas, gates and device tokens ----------------------------------------------------------


class AreaIn(Schema):
    code = fields.String(required=True, validate=CODE)
    name = text(100, required=True)
    capacity = fields.Integer(load_default=None, allow_none=True, validate=ROW_ID)
    everyone = fields.Boolean(
        load_default=False, metadata={"description": "every valid badge may enter (the venue)"}
    )


class AreaPatch(Schema):
    name = text(100)
    capacity = fields.Integer(allow_none=True, validate=ROW_ID)
    everyone = fields.Boolean()


class AreaOut(Schema):
    code = fields.String()
    name = fields.String()
    capacity = fields.Integer(allow_none=True)
    everyone = fields.Boolean()


class GateIn(Schema):
    name = text(64, required=True)
    area = fields.String(required=True, validate=CODE)


class GatePatch(Schema):
    name = text(64)
    area = fields.String(validate=CODE)


class GateOut(Schema):
    id = fields.Integer()
    name = fields.String()
    area = fields.String(metadata={"description": "the code of its area"})
    tokens = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "role → count"}
    )


class TokenIn(Schema):
    label = text(100, required=True)
    role = fields.String(load_default="scanner", validate=validate.OneOf(["scanner", "supervisor"]))


class TokenOut(Schema):
    id = fields.String(metadata={"description": "to revoke it by"})
    token = fields.String(metadata={"description": "shown this once"})
    label = fields.String()
    role = fields.String()
    gate = fields.String()
    area = fields.String()


class DeviceTokenOut(Schema):
    """A device token as its gate lists it: never the token itself."""

    id = fields.String(metadata={"description": "the start of the token's digest"})
    label = fields.String()
    role = fields.String()
    created_at = fields.DateTime()


# --- the desk: search, check-in by hand, undo, conflicts, audit ------------------------------


class SearchQuery(Schema):
    q = text(100, required=True, metadata={"description": "part of a name, or a badge number"})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class FoundBadge(ScannedBadge):
    registration_id = fields.Integer()
    version = fields.Integer()
    status = fields.String()
    country = fields.String()


class SearchHit(Schema):
    badge = fields.Nested(FoundBadge)
    inside = fields.List(fields.String(), metadata={"description": "areas it is inside now"})


class SearchOut(Schema):
    results = fields.List(fields.Nested(SearchHit))


class ManualCheckinIn(Schema):
    badge_id = fields.Integer(required=True, validate=ROW_ID)
    reason = text(500, required=True, metadata={"description": "why by hand: forgot the badge…"})
    area = fields.String(validate=CODE, load_default=None, metadata={"description": "organisers"})
    direction = fields.Enum(Direction, by_value=True, load_default=Direction.IN)


class UndoIn(Schema):
    reason = text(500, required=True)


class UndoOut(Schema):
    id = fields.Integer(metadata={"description": "the compensating log entry"})
    undoes = fields.Integer()
    badge_id = fields.Integer()
    area = fields.String()
    inside = fields.Boolean(metadata={"description": "whether the badge is still inside"})
    at = fields.AwareDateTime()
    reason = fields.String()


class ConflictScan(Schema):
    id = fields.Integer()
    gate = fields.String(allow_none=True)
    source = fields.String()
    result = fields.String()
    occurred_at = fields.AwareDateTime()
    scanned_at = fields.AwareDateTime()


class ConflictOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    area = fields.String()
    badge = fields.Nested(ScannedBadge, allow_none=True)
    winner = fields.Nested(ConflictScan, metadata={"description": "the admission that stands"})
    loser = fields.Nested(ConflictScan, metadata={"description": "counted as already inside"})
    detected_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class ConflictsQuery(Schema):
    resolved = fields.Boolean(load_default=None, allow_none=True)


class ConflictsOut(Schema):
    conflicts = fields.List(fields.Nested(ConflictOut))


class ResolveIn(Schema):
    note = text(1000, required=True)


class AuditQuery(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    before = fields.Integer(load_default=None, validate=ROW_ID)


class AuditEntryOut(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    actor = fields.String()
    action = fields.String()
    detail = fields.Dict()


class AuditOut(Schema):
    entries = fields.List(fields.Nested(AuditEntryOut))


class CloseDayIn(Schema):
    before = fields.AwareDateTime(
        load_default=None,
        validate=DEVICE_TIME,
        metadata={"description": "check out whoever entered before this; default: now"},
    )


class CloseDayOut(Schema):
    checked_out = fields.Integer()


# --- headcount -------------------------------------------------------------------------------


class Count(Schema):
    registered = fields.Integer()
    arrived = fields.Integer()
    inside = fields.Integer()


class GateCount(Schema):
    area = fields.String()
    arrived = fields.Integer(metadata={"description": "first arrivals in its area through it"})
    inside = fields.Integer(metadata={"description": "inside its area now, having entered here"})


class AreaCategoryCount(Schema):
    arrived = fields.Integer()
    inside = fields.Integer()


class AreaCount(Schema):
    name = fields.String()
    everyone = fields.Boolean()
    capacity = fields.Integer(allow_none=True)
    arrived = fields.Integer(metadata={"description": "badges that have entered it, ever"})
    inside = fields.Integer()
    left = fields.Integer(metadata={"description": "arrived and not inside now"})
    occupancy = fields.Float(allow_none=True, metadata={"description": "inside / capacity"})
    level = fields.String(metadata={"description": "ok, warning (≥ 90 %), alarm (≥ 100 %)"})
    by_category = fields.Dict(keys=fields.String(), values=fields.Nested(AreaCategoryCount))


class HeadcountOut(Count):
    event = fields.String()
    as_of = fields.AwareDateTime()
    by_area = fields.Dict(keys=fields.String(), values=fields.Nested(AreaCount))
    by_gate = fields.Dict(keys=fields.String(), values=fields.Nested(GateCount))
    by_category = fields.Dict(keys=fields.String(), values=fields.Nested(Count))
    by_country = fields.Dict(keys=fields.String(), values=fields.Nested(Count))
