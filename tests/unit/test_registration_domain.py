"""Names and addresses as people write them: display order per script, comparison keys,
normalisation, and the registration form's schema."""

from __future__ import annotations

import unicodedata

import pytest
from marshmallow import ValidationError

from services.registration.domain import (
    clean_text,
    display_name,
    email_key,
    has_control_characters,
)
from services.registration.schemas import RegistrationIn

pytestmark = pytest.mark.unit

DECOMPOSED_E = "e\u0301"  # "e" + combining acute accent
COMPOSED_E = "\u00e9"


# --- display_name ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "family", "shown"),
    [
        ("小明", "王", "王小明"),
        ("太郎", "山田", "山田太郎"),
        ("はなこ", "やまだ", "やまだはなこ"),
        ("ハナコ", "ヤマダ", "ヤマダハナコ"),
        ("花子", "佐々木", "佐々木花子"),
        ("민수", "김", "김 민수"),
        ("Γιώργος", "Παπαδόπουλος", "Γιώργος Παπαδόπουλος"),
        ("José Ángel", "Pérez Núñez", "José Ángel Pérez Núñez"),
        ("محمد", "العلي", "محمد العلي"),
        ("Иван", "Петров", "Иван Петров"),
        ("Clara", "Brugada", "Clara Brugada"),
    ],
    ids=[
        "chinese",
        "japanese-kanji",
        "japanese-hiragana",
        "japanese-katakana",
        "japanese-iteration-mark",
        "korean",
        "greek",
        "spanish",
        "arabic",
        "cyrillic",
        "latin",
    ],
)
def test_display_name_follows_the_order_of_the_names_script(given, family, shown):
    assert display_name(given, family) == shown


def test_mixed_latin_and_chinese_name_keeps_western_order_with_a_space():
    assert display_name("Xiaoming", "王") == "Xiaoming 王"
    assert display_name("小明", "Wang") == "小明 Wang"


@pytest.mark.parametrize("given", ["小明", "Clara", "민수", "Иван"])
def test_display_name_without_a_family_name_is_the_given_name(given):
    assert display_name(given, "") == given
    assert display_name(f" {given} ", "   ") == given


def test_display_name_is_cleaned_like_every_other_text():
    assert display_name("  José\u3000 Ángel ", f"P{DECOMPOSED_E}rez") == "José Ángel Pérez"
    assert display_name(" 小明 ", " 王 ") == "王小明"


# --- email_key, clean_text, has_control_characters -------------------------------------------


def test_email_key_folds_case_and_surrounding_space():
    assert email_key("  Wang.XiaoMing@Example.COM \n") == "wang.xiaoming@example.com"
    assert email_key("Wang.XiaoMing@Example.COM") == email_key("wang.xiaoming@example.com")


def test_email_key_folds_inner_white_space_and_full_case():
    assert email_key("a  b@example.org") == "a b@example.org"
    assert email_key("STRASSE@example.de") == email_key("straße@example.de")


def test_clean_text_makes_a_decomposed_accent_equal_the_composed_one():
    assert DECOMPOSED_E != COMPOSED_E
    assert clean_text(f"Jos{DECOMPOSED_E}") == f"Jos{COMPOSED_E}"
    assert unicodedata.is_normalized("NFC", clean_text(f"Jos{DECOMPOSED_E}"))


def test_clean_text_trims_and_folds_white_space():
    assert clean_text("  Guangzhou \t Municipal\u00a0\u3000Government \n") == (
        "Guangzhou Municipal Government"
    )
    assert clean_text("   ") == ""


@pytest.mark.parametrize(
    "text",
    ["a\x00b", "a\nb", "a\rb", "a\tb", "\x1b[31mred", "a\x7fb", "a\u200bb", "\u202eevil"],
    ids=["nul", "lf", "cr", "tab", "escape", "delete", "zero-width-space", "bidi-override"],
)
def test_control_and_format_characters_are_found(text):
    assert has_control_characters(text)


@pytest.mark.parametrize(
    "text",
    ["王小明", "José Pérez", "محمد العلي", "👩\u200d🔬", "O'Brien-Smith"],
    ids=["chinese", "spanish", "arabic", "zero-width-joiner", "punctuation"],
)
def test_ordinary_names_have_no_control_characters(text):
    assert not has_control_characters(text)


# --- RegistrationIn --------------------------------------------------------------------------


def form(**changes) -> dict:
    body = {
        "given_name": "Clara",
        "family_name": "Brugada",
        "email": "clara@example.org",
        "organisation": "Alcaldía de Iztapalapa",
        "city": "Ciudad de México",
        "country": "MX",
        "category": "mayor",
        "language": "en",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def errors_of(body: dict) -> dict:
    with pytest.raises(ValidationError) as raised:
        RegistrationIn().load(body)
    return raised.value.messages


@pytest.mark.parametrize(
    ("given", "family"),
    [
        ("小明", "王"),
        ("太郎", "山田"),
        ("민수", "김"),
        ("Γιώργος", "Παπαδόπουλος"),
        ("José Ángel", "Pérez Núñez"),
        ("محمد", "العلي"),
        ("Иван", "Петров"),
        ("Nguyễn Thị", "Minh Khai"),
        ("अमित", "शर्मा"),
        ("สมชาย", "ใจดี"),
        ("Siobhán", "Ó Briain"),
    ],
    ids=[
        "chinese",
        "japanese",
        "korean",
        "greek",
        "spanish",
        "arabic",
        "cyrillic",
        "vietnamese",
        "devanagari",
        "thai",
        "irish",
    ],
)
def test_names_in_any_script_load_unchanged(given, family):
    loaded = RegistrationIn().load(form(given_name=given, family_name=family))

    assert (loaded["given_name"], loaded["family_name"]) == (given, family)


def test_names_are_loaded_nfc_normalised_and_trimmed():
    loaded = RegistrationIn().load(
        form(given_name=f"  Jos{DECOMPOSED_E}  ", family_name=" P\u00e9rez   Nu\u0301n\u0303ez ")
    )

    assert loaded["given_name"] == "José"
    assert loaded["family_name"] == "Pérez Núñez"


def test_persian_name_with_a_zero_width_non_joiner_loads_unchanged():
    family = "حسین\u200cزاده"  # Hosseinzadeh, as Persian writes it

    assert RegistrationIn().load(form(given_name="مریم", family_name=family))["family_name"] == (
        family
    )


@pytest.mark.parametrize(
    "name",
    ["Clara\nBrugada", "Clara\r\nBcc: x@example.org", "Clara\rX", "Cla\x00ra", "Cl\u200bara"],
    ids=["lf", "crlf-header", "cr", "nul", "zero-width-space"],
)
@pytest.mark.parametrize("field", ["given_name", "family_name", "organisation", "city"])
def test_control_characters_in_text_fields_are_rejected(field, name):
    assert field in errors_of(form(**{field: name}))


def test_country_code_is_normalised_to_upper_case():
    assert RegistrationIn().load(form(country="cn"))["country"] == "CN"
    assert RegistrationIn().load(form(country=" mx "))["country"] == "MX"


@pytest.mark.parametrize("country", ["XX", "CHN", "C", "", "China", "12", "ÇN"])
def test_invalid_country_code_is_rejected_naming_iso_3166(country):
    [text] = errors_of(form(country=country))["country"]

    assert "ISO 3166" in text


def test_language_defaults_to_english():
    assert RegistrationIn().load(form(language=None))["language"] == "en"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_english_and_chinese_are_the_languages(language):
    assert RegistrationIn().load(form(language=language))["language"] == language


@pytest.mark.parametrize("language", ["fr", "EN", "zh-CN", ""])
def test_other_languages_are_rejected(language):
    assert "language" in errors_of(form(language=language))


def test_family_name_may_be_left_out():
    assert RegistrationIn().load(form(family_name=None))["family_name"] == ""


@pytest.mark.parametrize(
    "email", ["not-an-address", "clara@", "@example.org", "clara example@example.org", ""]
)
def test_invalid_email_is_rejected(email):
    assert "email" in errors_of(form(email=email))


def test_every_missing_required_field_is_reported():
    errors = errors_of({})

    assert set(errors) == {"given_name", "email", "organisation", "city", "country", "category"}


@pytest.mark.parametrize("field", ["given_name", "organisation", "city"])
def test_blank_required_text_is_rejected(field):
    assert field in errors_of(form(**{field: "   "}))


@pytest.mark.parametrize(
    ("field", "longest"),
    [("given_name", 100), ("family_name", 100), ("organisation", 200), ("city", 100)],
)
def test_text_longer_than_its_limit_is_rejected(field, longest):
    assert RegistrationIn().load(form(**{field: "名" * longest}))[field] == "名" * longest
    assert field in errors_of(form(**{field: "名" * (longest + 1)}))


def test_email_longer_than_254_characters_is_rejected():
    domain = "b" * 63 + "." + "b" * 63 + "."
    longest = f"{'a' * 64}@{domain}{'b' * 57}.org"
    too_long = f"{'a' * 64}@{domain}{'b' * 58}.org"
    assert (len(longest), len(too_long)) == (254, 255)

    assert RegistrationIn().load(form(email=longest))["email"] == longest
    assert errors_of(form(email=too_long))["email"] == ["Longer than maximum length 254."]


def test_unknown_fields_are_rejected():
    assert "badge" in errors_of(form(badge={"id": 1}))
