"""The registration API's contract: every body in and out, as marshmallow schemas."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import available_timezones

import pycountry
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.registration import privacy
from services.registration.domain import clean_text, has_control_characters
from shared.db import as_utc

LANGUAGES = ("en", "zh")


class Text(fields.String):
    """A line of text as a person writes it: NFC, trimmed, no control characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_control_characters(text):
            raise ValidationError("Must not contain control characters.")
        return clean_text(text)


class CountryCode(fields.String):
    """An ISO 3166-1 alpha-2 code, in capitals."""

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
            raise ValidationError("Not an ISO 3166-1 alpha-2 country code, such as CN or MX.")
        return code


class EmailAddress(fields.Email):
    """An e-mail address, without the white space a paste brings along."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class UtcDateTime(fields.AwareDateTime):
    """A moment stored in UTC, always shown with its offset (SQLite hands it back naive)."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=UTC, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(value and as_utc(value), attr, obj, **kwargs)


class Consent(fields.Boolean):
    """JSON `true` and nothing else: consent is given explicitly, or not at all."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is not True:
            raise ValidationError(privacy.CONSENT_NEEDED)
        return True


def _text(max_length: int, required: bool = True, **kwargs) -> Text:
    return Text(
        required=required,
        validate=validate.Length(min=1 if required else 0, max=max_length),
        **kwargs,
    )


class RegistrationIn(Schema):
    """A delegate's details, as the registration form and an organiser's import take them."""

    given_name = _text(100, metadata={"example": "小明"})
    family_name = _text(100, required=False, load_default="", metadata={"example": "王"})
    email = EmailAddress(required=True, validate=validate.Length(max=254))
    organisation = _text(200, metadata={"example": "Guangzhou Municipal Government"})
    city = _text(100, metadata={"example": "Guangzhou"})
    country = CountryCode(
        required=True, metadata={"description": "ISO 3166-1 alpha-2 code", "example": "CN"}
    )
    category = fields.String(required=True, metadata={"example": "mayor"})
    language = fields.String(
        load_default="en",
        validate=validate.OneOf(LANGUAGES),
        metadata={"description": "language of the e-mails: en or zh"},
    )
    invitation_code = fields.String(
        validate=validate.Length(max=40),
        metadata={"description": "from an invitation: skips approval in its category"},
    )


class DelegateRegistrationIn(RegistrationIn):
    """A delegate registering themselves: their details and their consent to the privacy
    notice (`GET /api/v1/events/<slug>` has its text)."""

    consent = Consent(
        required=True,
        error_messages={"required": privacy.CONSENT_NEEDED, "null": privacy.CONSENT_NEEDED},
        metadata={"description": "true: the delegate agrees to the privacy notice"},
    )
    consent_version = fields.String(
        validate=validate.Length(max=32),
        metadata={
            "description": "the version of the privacy notice the delegate read; refused when "
            "it is no longer the current one",
            "example": privacy.NOTICE.version,
        },
    )


class RegistrationPatch(Schema):
    """Corrections a delegate (or an organiser) makes; a change to a printed field reissues
    the badge."""

    given_name = _text(100, required=False)
    family_name = _text(100, required=False)
    email = EmailAddress(validate=validate.Length(max=254))
    organisation = _text(200, required=False)
    city = _text(100, required=False)
    country = CountryCode()
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    dietary = Text(validate=validate.Length(max=200))
    accessibility = Text(validate=validate.Length(max=200))

    @validates_schema
    def _something(self, data: dict, **_kwargs) -> None:
        if not data:
            raise ValidationError("Send at least one field to change.")
        if "given_name" in data and not data["given_name"]:
            raise ValidationError("Must not be blank.", "given_name")


class ReasonIn(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=500))


class OptionalReasonIn(Schema):
    reason = Text(validate=validate.Length(max=500), load_default=None)


class BadgeOut(Schema):
    id = fields.Integer()
    version = fields.Integer()
    status = fields.String(metadata={"description": "active, revoked or void"})
    reason = fields.String(attribute="status_reason", allow_none=True)


class ConsentOut(Schema):
    basis = fields.String(
        metadata={
            "description": "delegate (agreed to the privacy notice), organiser (entered by an "
            "organiser, no consent of the delegate's) or unrecorded"
        }
    )
    version = fields.String(allow_none=True, metadata={"description": "of the privacy notice"})
    given_at = UtcDateTime(allow_none=True)


class RegistrationOut(Schema):
    id = fields.Integer()
    event = fields.Function(lambda r: r.event.slug)
    status = fields.String(
        metadata={"description": "pending, confirmed, waitlisted, cancelled or rejected"}
    )
    status_reason = fields.String(allow_none=True)
    given_name = fields.String()
    family_name = fields.String()
    display_name = fields.String()
    email = fields.String()
    organisation = fields.String()
    city = fields.String()
    country = fields.String()
    category = fields.String()
    language = fields.String()
    dietary = fields.String()
    accessibility = fields.String()
    badge = fields.Nested(BadgeOut, allow_none=True)
    consent = fields.Nested(ConsentOut)
    erased_at = UtcDateTime(
        allow_none=True,
        metadata={"description": "when the personal data was erased; null while it is kept"},
    )
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class RegistrationCreated(RegistrationOut):
    manage_token = fields.String(
        metadata={"description": "shown once: lets the delegate view and change this registration"}
    )


class RegistrationQuery(Schema):
    q = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "part of a name (any script), e-mail, organisation, city"},
    )
    status = fields.String(
        validate=validate.OneOf(["pending", "confirmed", "waitlisted", "cancelled", "rejected"])
    )
    category = fields.String(validate=validate.Length(max=40))
    country = CountryCode()


class AuditOut(Schema):
    at = UtcDateTime()
    actor = fields.String()
    action = fields.String()
    registration_id = fields.Integer(allow_none=True)
    detail = fields.Dict()


class InvitationIn(Schema):
    category = fields.String(required=True)
    uses = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10000))
    label = _text(200, metadata={"example": "Delegation of the City of Halandri"})


class InvitationOut(Schema):
    id = fields.Integer()
    category = fields.String()
    label = fields.String()
    hint = fields.String(metadata={"description": "the code's last characters"})
    uses_allowed = fields.Integer()
    uses = fields.Integer()
    revoked_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()


class InvitationCreated(InvitationOut):
    code = fields.String(metadata={"description": "shown once: give it to the invitee"})


MAX_SEATS = 10_000_000  # far beyond any congress or fair; keeps numbers in the database's range
SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,63}$", error="Lower-case letters, digits, hyphens.")
COLOUR = validate.Regexp(r"^#[0-9a-fA-F]{6}$", error="A colour such as #1f6feb.")


class CategoryIn(Schema):
    code = fields.String(required=True, validate=SLUG)
    label = _text(100)
    capacity = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=MAX_SEATS))
    needs_approval = fields.Boolean()
    areas = fields.List(fields.String(validate=SLUG), validate=validate.Length(max=50))
    colour = fields.String(validate=COLOUR)


class TimeZone(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        name = super()._deserialize(value, attr, data, **kwargs)
        if name not in available_timezones():
            raise ValidationError("Not a time zone name, such as Asia/Shanghai.")
        return name


class EventIn(Schema):
    slug = fields.String(required=True, validate=SLUG)
    name = _text(200)
    venue = _text(200)
    timezone = TimeZone(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    capacity = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=MAX_SEATS))
    retention_days = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=0, max=3650),
        metadata={
            "description": "days after the event's last day that personal data is kept, then "
            "erased automatically (anonymous counts stay); null: kept until a period is set"
        },
    )
    categories = fields.List(
        fields.Nested(CategoryIn), required=True, validate=validate.Length(min=1, max=50)
    )

    @validates_schema
    def _dates(self, data: dict, **_kwargs) -> None:
        if {"starts_on", "ends_on"} <= set(data) and data["ends_on"] < data["starts_on"]:
            raise ValidationError("The event cannot end before it starts.", "ends_on")


class EventPatch(EventIn):
    class Meta:
        exclude = ("slug",)


class CategoryOut(Schema):
    code = fields.String()
    label = fields.String()
    capacity = fields.Integer(allow_none=True)
    needs_approval = fields.Boolean()
    areas = fields.List(fields.String())
    colour = fields.String()


class PrivacyNoticeOut(Schema):
    version = fields.String()
    text_en = fields.String()
    text_zh = fields.String()


class EventOut(Schema):
    slug = fields.String()
    name = fields.String()
    venue = fields.String()
    timezone = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    capacity = fields.Integer(allow_none=True)
    retention_days = fields.Integer(allow_none=True)
    personal_data_kept_until = fields.Date(
        allow_none=True,
        metadata={"description": "the last day personal data is kept; erased the day after"},
    )
    privacy_notice = fields.Nested(
        PrivacyNoticeOut,
        metadata={"description": "what a delegate agrees to when registering (`consent`)"},
    )
    categories = fields.List(fields.Nested(CategoryOut))


class EventCreated(EventOut):
    organizer_token = fields.String(metadata={"description": "shown once"})
