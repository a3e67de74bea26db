"""The registration API's contract: every body in and out, as marshmallow schemas."""

from __future__ import annotations

from datetime import UTC

import pycountry
from marshmallow import Schema, ValidationError, fields, validate

from services.registration.domain import clean_text, has_control_characters

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


def _text(max_length: int, required: bool = True, **kwargs) -> Text:
    return Text(
        required=required,
        validate=validate.Length(min=1 if required else 0, max=max_length),
        **kwargs,
    )


class RegistrationIn(Schema):
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


class BadgeOut(Schema):
    id = fields.Integer()
    version = fields.Integer()
    status = fields.String()


class RegistrationOut(Schema):
    id = fields.Integer()
    event = fields.Function(lambda r: r.event.slug)
    status = fields.String()
    given_name = fields.String()
    family_name = fields.String()
    display_name = fields.String()
    email = fields.String()
    organisation = fields.String()
    city = fields.String()
    country = fields.String()
    category = fields.String()
    language = fields.String()
    badge = fields.Nested(BadgeOut, allow_none=True)
    created_at = fields.AwareDateTime(default_timezone=UTC)


class RegistrationCreated(RegistrationOut):
    manage_token = fields.String(
        metadata={"description": "shown once: lets the delegate view and change this registration"}
    )


class CategoryOut(Schema):
    code = fields.String()
    label = fields.String()


class EventOut(Schema):
    slug = fields.String()
    name = fields.String()
    venue = fields.String()
    timezone = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    categories = fields.List(fields.Nested(CategoryOut))
