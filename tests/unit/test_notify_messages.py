"""The badge e-mail: language, names in any script, escaping, the QR attachment, Message-ID."""

from __future__ import annotations

import io
import smtplib
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import pytest
import zxingcpp
from markupsafe import escape
from PIL import Image
from pypdf import PdfReader

from services.notify.mailer import MailDeferred, MailRejected, _classify, describe
from services.notify.messages import (
    BADGE_MAIL,
    Letter,
    language_of,
    message_id,
)
from services.notify.messages import build as build_message
from shared.dates import event_dates
from shared.events import parse
from tests.support.factories import event_info, registered_envelope

pytestmark = pytest.mark.unit

MAIL_FROM = "Rollcall <badges@rollcall.example>"
NOW = datetime(2023, 12, 1, 9, 30, tzinfo=UTC)


def registered(**options):
    """A `delegate.registered` payload as subscribers load it, through the real schemas."""
    return parse(registered_envelope(**options))[1]


def build(payload, key="event-1/badge-mail"):
    letter = Letter(BADGE_MAIL, payload["event"], payload["delegate"], payload["badge"])
    return build_message(letter, mail_from=MAIL_FROM, idempotency_key=key, now=NOW)


def received(message):
    """The message as a mail client sees it: serialised, then parsed back."""
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def text_and_html(message):
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def test_english_delegate_gets_an_english_mail_with_dates_and_venue():
    event = event_info(
        name="Global Mayors' Forum 2023",
        venue="Yuexiu International Congress Center",
        starts_on="2023-12-07",
        ends_on="2023-12-09",
    )
    mail = received(build(registered(language="en", display_name="Clara Brugada", event=event)))

    assert mail["Subject"] == "Your badge for Global Mayors' Forum 2023"
    assert mail["Content-Language"] == "en"
    assert mail["From"] == MAIL_FROM
    text, html = text_and_html(mail)
    for body in (text, html):
        assert "7–9 December 2023" in body
        assert "Yuexiu International Congress Center" in body
    assert "Dear Clara Brugada," in text


def test_chinese_delegate_gets_a_simplified_chinese_mail():
    event = event_info(
        name="Global Mayors' Forum 2023", starts_on="2023-12-07", ends_on="2023-12-09"
    )
    mail = received(build(registered(language="zh", display_name="张伟", event=event)))

    assert mail["Subject"] == "您的Global Mayors' Forum 2023参会证件"
    assert mail["Content-Language"] == "zh-Hans"
    text, html = text_and_html(mail)
    assert "尊敬的张伟：" in text
    assert "2023年12月7日至9日" in text
    assert 'lang="zh-Hans"' in html and "2023年12月7日至9日" in html


@pytest.mark.parametrize(
    "name",
    [
        "张伟",
        "Σίμος Ρούσσος",
        "José Ángel Núñez-Ibáñez",
        "Zoë Ångström-Čapek",
        "O'Brien, Seán",
        'Dr. "Bob" Smith; a<b>@c',
        "محمد بن راشد",
        "Nguyễn Thị Minh 👩‍💼",
    ],
)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_names_in_any_script_survive_in_headers_and_both_bodies(name, language):
    mail = received(
        build(registered(language=language, display_name=name, email="delegate@example.org"))
    )

    (to,) = mail["To"].addresses
    assert (to.display_name, to.addr_spec) == (name, "delegate@example.org")
    text, html = text_and_html(mail)
    assert name in text
    assert str(escape(name)) in html


def test_a_script_tag_in_a_name_is_escaped_in_html_and_kept_verbatim_in_text():
    name = "Eve <script>alert(1)</script>"
    mail = received(build(registered(display_name=name)))

    text, html = text_and_html(mail)
    assert "<script>" not in html
    assert "Eve &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert name in text
    assert mail["To"].addresses[0].display_name == name


@pytest.mark.parametrize("name", ["Eve\r\nBcc: victim@example.org", "Eve\nBcc: x@y.z", "Eve\rX"])
def test_a_line_break_in_a_name_becomes_a_space_and_cannot_add_a_header(name):
    mail = received(build(registered(display_name=name, email="eve@example.org")))

    assert mail["Bcc"] is None
    assert [a.addr_spec for a in mail["To"].addresses] == ["eve@example.org"]
    assert mail["To"].addresses[0].display_name == " ".join(name.split())
    assert [k for k in mail if k.lower() == "to"] == ["To"]


def test_the_attached_png_decodes_to_the_badge_token():
    payload = registered(badge_id=31337)
    mail = received(build(payload))

    attachment, _pdf = list(mail.iter_attachments())
    assert attachment.get_filename() == "badge-31337.png"
    assert attachment.get_content_type() == "image/png"
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(attachment.get_content())))
    assert code.text == payload["badge"]["token"]


def test_badge_mails_made_one_after_another_each_carry_their_own_name_and_badge():
    first = registered(language="zh", display_name="王小明")
    second = registered(language="zh", display_name="张伟")

    mails = [received(build(first)), received(build(second))]

    for payload, other, mail in zip([first, second], [second, first], mails, strict=True):
        png, pdf = list(mail.iter_attachments())
        (text,) = [page.extract_text() for page in PdfReader(io.BytesIO(pdf.get_content())).pages]
        assert payload["delegate"]["display_name"] in text
        assert other["delegate"]["display_name"] not in text
        (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.get_content())))
        assert code.text == payload["badge"]["token"]
        assert pdf.get_filename() == f"badge-{payload['badge']['id']}.pdf"


def test_a_name_holding_the_usual_part_boundaries_leaves_the_mail_whole():
    name = "--=_rollcall-mixed --=_rollcall-alternative --=_rollcall-related--"
    mail = received(build(registered(display_name=name, badge_id=4242)))

    boundaries = [part.get_boundary() for part in mail.walk() if part.is_multipart()]
    assert len(boundaries) == 3 and not any(b in name for b in boundaries)
    text, html = text_and_html(mail)
    assert name in text and str(escape(name)) in html
    assert mail.get_body(("related",)) is not None
    names = [part.get_filename() for part in mail.iter_attachments()]
    assert names == ["badge-4242.png", "badge-4242.pdf"]


def test_the_html_part_shows_the_same_qr_inline_by_content_id():
    payload = registered()
    mail = received(build(payload))

    related = mail.get_body(("related",))
    html_part, image = list(related.iter_parts())
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_part.get_content()
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
    assert code.text == payload["badge"]["token"]


def test_message_id_is_the_same_for_the_same_message_and_differs_between_messages():
    payload = registered()

    first, again = build(payload, key="e-1/badge-mail"), build(payload, key="e-1/badge-mail")
    other = build(payload, key="e-2/badge-mail")

    assert (
        first["Message-ID"]
        == again["Message-ID"]
        == message_id("e-1/badge-mail", "rollcall.example")
    )
    assert other["Message-ID"] != first["Message-ID"]
    assert first["Message-ID"].startswith("<") and first["Message-ID"].endswith(
        "@rollcall.example>"
    )


@pytest.mark.parametrize(
    ("starts", "ends", "language", "expected"),
    [
        (date(2023, 12, 7), date(2023, 12, 9), "en", "7–9 December 2023"),
        (date(2023, 12, 7), date(2023, 12, 7), "en", "7 December 2023"),
        (date(2023, 12, 30), date(2024, 1, 2), "en", "30 December 2023 – 2 January 2024"),
        (date(2023, 12, 7), date(2023, 12, 9), "zh", "2023年12月7日至9日"),
        (date(2023, 11, 30), date(2023, 12, 2), "zh", "2023年11月30日至2023年12月2日"),
    ],
)
def test_event_dates_read_naturally_in_each_language(starts, ends, language, expected):
    assert event_dates(starts, ends, language) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [("zh", "zh"), ("zh-CN", "zh"), ("ZH_hans", "zh"), ("fr", "en"), ("", "en")],
)
def test_languages_without_templates_fall_back_to_english(code, expected):
    assert language_of(code) == expected


def test_a_refused_recipient_is_final_and_described_without_the_address():
    refused = smtplib.SMTPRecipientsRefused({"clara@example.org": (550, b"no such user clara")})

    error = _classify(refused)

    assert isinstance(error, MailRejected)
    assert "clara" not in str(error) and "550" in str(error)


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        smtplib.SMTPDataError(451, b"try again later"),
        smtplib.SMTPRecipientsRefused({"a@example.org": (450, b"greylisted a@example.org")}),
    ],
)
def test_connection_trouble_and_4xx_answers_are_worth_retrying(failure):
    error = _classify(failure)

    assert isinstance(error, MailDeferred)
    assert "example.org" not in describe(error)
