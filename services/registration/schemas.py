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
        address = super()._deserialize(value, attr, data, **kwargs).strip()
        if has_control_characters(address):  # the e-mail validator lets a lone surrogate by
            raise ValidationError("Must not contain control characters.")
        return address


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


LANGUAGE_TAG = validate.Regexp(
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", error="A language code, such as fr, ar or zh-Hant."
)


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
        metadata={
            "description": "from an invitation: skips approval in its category (a "
            "delegation's code also makes the registrant a member, the first one its head)"
        },
    )
    latin_name = Text(
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={
            "description": "the name in Latin letters, printed under a non-Latin name; "
            "omitted: transliterated",
            "example": "WANG Xiaoming",
        },
    )
    title = Text(
        validate=validate.Length(max=200),
        metadata={"description": "rank or title, for protocol", "example": "Mayor"},
    )
    interpreter = fields.String(
        allow_none=True,
        validate=LANGUAGE_TAG,
        metadata={"description": "the language an interpreter is needed for; null: none"},
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
    latin_name = Text(
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "null: the transliteration a library makes"},
    )
    title = Text(validate=validate.Length(max=200))
    interpreter = fields.String(allow_none=True, validate=LANGUAGE_TAG)
    protocol_notes = Text(
        validate=validate.Length(max=1000),
        metadata={"description": "handling notes for the protocol office"},
    )

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
            "description": "delegate (agreed to the privacy notice), delegation (the head of "
            "their delegation confirmed they agreed), organiser (entered by an organiser, no "
            "consent of the delegate's) or unrecorded"
        }
    )
    version = fields.String(allow_none=True, metadata={"description": "of the privacy notice"})
    given_at = UtcDateTime(allow_none=True)


class DelegationRef(Schema):
    id = fields.Integer()
    name = fields.String()


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
    latin_name = fields.String(
        allow_none=True, metadata={"description": "as the delegate wrote it; null: transliterated"}
    )
    printed_latin_name = fields.String(
        allow_none=True,
        metadata={"description": "what the badge prints under a non-Latin name; null: nothing"},
    )
    title = fields.String()
    interpreter = fields.String(allow_none=True)
    protocol_notes = fields.String()
    delegation = fields.Nested(DelegationRef, allow_none=True)
    arrived_at = UtcDateTime(
        allow_none=True, metadata={"description": "first admitted at a gate; null: not yet"}
    )
    badge = fields.Nested(BadgeOut, allow_none=True)
    consent = fields.Nested(ConsentOut)
    erased_at = UtcDateTime(
        allow_none=True,
        metadata={"description": "when the personal data was erased; null while it is kept"},
    )
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class WarningOut(Schema):
    code = fields.String(metadata={"example": "possible_duplicate"})
    message = fields.String()


class RegistrationCreated(RegistrationOut):
    manage_token = fields.String(
        metadata={"description": "shown once: lets the delegate view and change this registration"}
    )
    warnings = fields.List(
        fields.Nested(WarningOut),
        metadata={"description": "registered, but worth a look: possible_duplicate"},
    )


class RegistrationQuery(Schema):
    q = Text(  # a NUL would reach the database's LIKE, which PostgreSQL refuses
        validate=validate.Length(max=100),
        metadata={"description": "part of a name (any script), e-mail, organisation, city"},
    )
    status = fields.String(
        validate=validate.OneOf(["pending", "confirmed", "waitlisted", "cancelled", "rejected"])
    )
    category = Text(validate=validate.Length(max=40))  # no NUL for PostgreSQL
    country = CountryCode()
    delegation = fields.Integer(
        validate=validate.Range(min=1, max=2**31 - 1),  # an integer column's range
        metadata={"description": "a delegation's id: its members"},
    )
    arrived = fields.Boolean(metadata={"description": "true: admitted at a gate; false: not yet"})
    duplicates = fields.Boolean(
        metadata={
            "description": "true: only registrations that look like another one (same "
            "name, organisation and city under another address)"
        }
    )


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


TRANSLATED = fields.String(validate=validate.OneOf([lang for lang in LANGUAGES if lang != "en"]))


class CategoryIn(Schema):
    code = fields.String(required=True, validate=SLUG)
    label = _text(100)
    labels = fields.Dict(
        keys=TRANSLATED,
        values=Text(validate=validate.Length(min=1, max=100)),
        metadata={"description": "the label in other languages", "example": {"zh": "市长"}},
    )
    capacity = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=MAX_SEATS))
    needs_approval = fields.Boolean()
    areas = fields.List(fields.String(validate=SLUG), validate=validate.Length(max=50))
    colour = fields.String(validate=COLOUR)


class EventTranslation(Schema):
    name = _text(200, required=False)
    venue = _text(200, required=False)


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
    translations = fields.Dict(
        keys=TRANSLATED,
        values=fields.Nested(EventTranslation),
        metadata={"description": "name and venue in other languages"},
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
    labels = fields.Dict(keys=fields.String(), values=fields.String())
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
    translations = fields.Dict()


class EventCreated(EventOut):
    organizer_token = fields.String(metadata={"description": "shown once"})


class DelegationIn(Schema):
    """A delegation as an organiser sets it up."""

    name = _text(200, metadata={"example": "Guangzhou"})
    kind = fields.String(
        required=True,
        validate=validate.OneOf(["city", "organisation"]),
        metadata={"description": "city or organisation"},
    )
    organisation = _text(200, metadata={"example": "Guangzhou Municipal People's Government"})
    city = _text(100, metadata={"example": "Guangzhou"})
    country = CountryCode(required=True, metadata={"example": "CN"})
    category = fields.String(
        required=True, metadata={"description": "its members' category", "example": "delegate"}
    )
    quota = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "members at most, the head included"},
    )
    notes = Text(
        load_default="",
        validate=validate.Length(max=1000),
        metadata={"description": "protocol handling notes", "example": "Arrives by motorcade."},
    )


class DelegationPatch(DelegationIn):
    class Meta:
        exclude = ("kind", "organisation", "city", "country", "category")

    head_id = fields.Integer(
        allow_none=True, metadata={"description": "a live member's registration id"}
    )


class MemberIn(RegistrationIn):
    """A member, as the head of their delegation (or an organiser) registers them. The head
    confirms the member agreed to the privacy notice (`consent`)."""

    class Meta:
        exclude = ("invitation_code",)

    category = fields.String(
        metadata={"description": "organisers only; the delegation's category by default"}
    )
    protocol_notes = Text(load_default="", validate=validate.Length(max=1000))
    consent = fields.Boolean(
        metadata={
            "description": "true: the member agreed to the privacy notice (required from a "
            "head; an organiser's entry records none)"
        }
    )
    consent_version = fields.String(validate=validate.Length(max=32))


class SubstituteIn(MemberIn):
    class Meta:
        exclude = ("invitation_code", "category")


class MemberOut(Schema):
    id = fields.Integer()
    display_name = fields.String()
    given_name = fields.String()
    family_name = fields.String()
    latin_name = fields.String(allow_none=True)
    email = fields.String()
    title = fields.String()
    category = fields.String()
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    interpreter = fields.String(allow_none=True)
    protocol_notes = fields.String()
    badge = fields.Nested(BadgeOut, allow_none=True)
    arrived_at = UtcDateTime(allow_none=True)
    is_head = fields.Function(lambda m: m.delegation is not None and m.delegation.head_id == m.id)


class ArrivalOut(Schema):
    members = fields.Integer(metadata={"description": "holding a place in the quota"})
    confirmed = fields.Integer()
    arrived = fields.Integer(metadata={"description": "confirmed members admitted at a gate"})
    state = fields.String(
        metadata={"description": "no_confirmed_members, expected, partly_arrived or arrived"}
    )


class DelegationOut(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    organisation = fields.String()
    city = fields.String()
    country = fields.String()
    category = fields.String()
    quota = fields.Integer()
    notes = fields.String()
    head_id = fields.Integer(allow_none=True)
    arrival = fields.Nested(ArrivalOut)
    created_at = UtcDateTime()


class DelegationDetail(DelegationOut):
    members = fields.List(fields.Nested(MemberOut))


class DelegationCreated(DelegationOut):
    code = fields.String(
        metadata={
            "description": "shown once: whoever registers with it joins the delegation (up to "
            "`quota`), the first as its head"
        }
    )
