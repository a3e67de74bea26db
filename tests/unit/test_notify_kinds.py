"""Every message notify sends, in English and Simplified Chinese: which change calls for which
message, subjects, parts, the manage link, attachments, escaping; and when reminders fall."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from services.notify import messages
from services.notify.messages import (
    APPROVED,
    BADGE_KINDS,
    BADGE_MAIL,
    CANCELLED,
    KINDS,
    PROMOTED,
    RECEIVED,
    REISSUED,
    REJECTED,
    REMINDER,
    WAITLISTED,
    Letter,
    addressee,
    choose,
)
from services.notify.reminders import window
from services.notify.replica import Standing, overtaken
from shared import events as ev
from shared.badges import BadgeClaim
from shared.events import parse
from tests.support.factories import SIGNER, registered_envelope

pytestmark = pytest.mark.unit

MAIL_FROM = "Rollcall <badges@rollcall.example>"
NOW = datetime(2023, 12, 1, 9, 30, tzinfo=UTC)
LINK = "https://register.example/manage/41#token=rc_mng_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
EVENT_NAME = "Global Mayors' Forum 2023"

# A phrase each kind's text says, per language: proof the right template was used.
SAYS = {
    "en": {
        BADGE_MAIL: "you are registered for",
        APPROVED: "have approved your registration",
        PROMOTED: "waiting list",
        REISSUED: "YOUR PREVIOUS BADGE IS VOID",
        RECEIVED: "awaiting the organisers' approval",
        WAITLISTED: "You are on the waiting list",
        REJECTED: "The reason they gave: The delegation list is closed.",
        CANCELLED: "Reason: The delegation list is closed.",
        REMINDER: "begins tomorrow",
    },
    "zh": {
        BADGE_MAIL: "您已成功报名参加",
        APPROVED: "主办方已批准",
        PROMOTED: "候补名单",
        REISSUED: "原证件已作废",
        RECEIVED: "等待主办方审核",
        WAITLISTED: "您已进入候补名单",
        REJECTED: "原因：The delegation list is closed.",
        CANCELLED: "原因：The delegation list is closed.",
        REMINDER: "将于明天开幕",
    },
}


def payload(language="en", display_name="Clara Brugada", **delegate_fields):
    """A loaded `DelegateChanged` payload, with the fields the lead's schema adds."""
    loaded = parse(
        registered_envelope(language=language, display_name=display_name, badge_id=4242)
    )[1]
    loaded["event"]["name"] = EVENT_NAME
    loaded["delegate"].update({"latin_name": None, "title": "", "delegation": None,
                               "manage_nonce": "n" * 32, **delegate_fields})  # fmt: skip
    return loaded


def build(kind, p, manage_url=LINK, detail=None, event_type=None):
    letter = Letter(kind, p["event"], p["delegate"], p["badge"], detail or {}, manage_url,
                    event_type)  # fmt: skip
    message = messages.build(letter, mail_from=MAIL_FROM, idempotency_key=f"e/{kind}", now=NOW)
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def parts(mail):
    return mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_both_parts_in_the_delegates_language_with_the_manage_link(kind, language):
    mail = build(kind, payload(language), detail={"reason": "The delegation list is closed."})

    text, html = parts(mail)
    assert mail["Content-Language"] == {"en": "en", "zh": "zh-Hans"}[language]
    # A long subject may be folded onto a line of its own: clients drop the leading space.
    assert mail["Subject"].strip() == messages.SUBJECTS[language][kind].format(event=EVENT_NAME)
    assert SAYS[language][kind] in text
    assert LINK in text and f'href="{LINK}"' in html
    assert f'lang="{mail["Content-Language"]}"' in html
    assert mail["Message-ID"] == messages.message_id(f"e/{kind}", "rollcall.example")
    assert mail["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize("kind", KINDS)
def test_without_a_manage_nonce_the_link_is_left_out(kind):
    mail = build(kind, payload(), manage_url=None)

    text, html = parts(mail)
    assert "/manage/" not in text and "/manage/" not in html


@pytest.mark.parametrize("kind", sorted(BADGE_KINDS))
def test_badge_messages_carry_the_qr_inline_and_the_png_and_printable_pdf(kind):
    p = payload("zh", "王小明", organisation="广州市人民政府")

    mail = build(kind, p)

    png, pdf = list(mail.iter_attachments())
    assert (png.get_filename(), pdf.get_filename()) == ("badge-4242.png", "badge-4242.pdf")
    assert pdf.get_content_type() == "application/pdf"
    page_text = PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text()
    assert "王小明" in page_text and "Wang Xiaoming" in page_text
    related = mail.get_body(("related",))
    html_part, inline = list(related.iter_parts())
    assert f'src="cid:{inline["Content-ID"].strip("<>")}"' in html_part.get_content()
    for image in (png, inline):
        (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
        assert code.text == p["badge"]["token"]


def test_a_reissued_badge_is_mailed_with_the_new_token_in_every_copy_of_its_qr():
    p = payload("zh", "王小明")
    old = p["badge"]["token"]
    build(BADGE_MAIL, p)  # the old badge's mail, made first in this process
    p["badge"] = {**p["badge"], "version": 2}
    p["badge"]["token"] = SIGNER.sign(BadgeClaim(p["event"]["id"], 4242, version=2))

    mail = build(REISSUED, p)

    png, pdf = list(mail.iter_attachments())
    (_html, inline) = list(mail.get_body(("related",)).iter_parts())
    document = pdfium.PdfDocument(pdf.get_content())
    try:
        printed = document[0].render(scale=150 / 72).to_pil()
    finally:
        document.close()
    images = [Image.open(io.BytesIO(part.get_content())) for part in (png, inline)] + [printed]
    for image in images:
        assert [code.text for code in zxingcpp.read_barcodes(image)] == [p["badge"]["token"]]
    assert p["badge"]["token"] != old


@pytest.mark.parametrize("kind", [RECEIVED, WAITLISTED, REJECTED, CANCELLED])
def test_messages_without_a_badge_attach_nothing(kind):
    mail = build(kind, payload())

    assert list(mail.iter_attachments()) == []
    assert mail.get_body(("related",)) is None or "cid:" not in parts(mail)[1]


def test_the_reminder_shows_the_qr_inline_when_the_badge_is_valid():
    p = payload()

    mail = build(REMINDER, p)

    inline = [part for part in mail.walk() if part.get_content_type() == "image/png"]
    assert len(inline) == 1 and list(mail.iter_attachments()) == []
    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(inline[0].get_content())))
    assert code.text == p["badge"]["token"]


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("kind", KINDS)
def test_markup_in_a_name_title_delegation_or_reason_is_escaped_in_html(kind, language):
    p = payload(language, "Eve <script>alert(1)</script>", title="<b>Dr</b>",
                delegation="<i>Gotham</i>")  # fmt: skip
    detail = {"reason": "<img src=x onerror=alert(2)>", "substituted_by": "<u>Mallory</u>"}

    text, html = parts(build(kind, p, detail=detail))

    for tag in ("<script>", "<b>", "<i>", "<img src=x", "<u>"):
        assert tag not in html
    assert "Eve &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Eve <script>alert(1)</script>" in text


@pytest.mark.parametrize("kind", KINDS)
def test_a_line_break_in_a_name_or_event_name_cannot_add_a_header(kind):
    p = payload(display_name="Eve\r\nBcc: victim@example.org", email="eve@example.org")
    p["event"]["name"] = "Forum\r\nX-Injected: yes"

    mail = build(kind, p)

    assert mail["Bcc"] is None and mail["X-Injected"] is None
    assert [a.addr_spec for a in mail["To"].addresses] == ["eve@example.org"]
    assert "\n" not in mail["Subject"] and "\n" not in str(mail["To"])


def test_a_substitution_names_who_goes_instead():
    text, _ = parts(build(CANCELLED, payload(), detail={"substituted_by": "José Núñez"}))
    assert "your delegation has sent José Núñez" in text

    text, _ = parts(build(CANCELLED, payload("zh"), detail={"substituted_by": "李华"}))
    assert "已改派李华参加" in text


def test_waitlisted_after_approval_says_the_registration_was_approved():
    text, _ = parts(build(WAITLISTED, payload(), event_type=ev.DELEGATE_WAITLISTED))
    assert "have approved your registration" in text

    text, _ = parts(build(WAITLISTED, payload(), event_type=ev.DELEGATE_REGISTERED))
    assert "approved" not in text


def test_the_greeting_uses_title_and_delegation_the_way_each_language_writes_them():
    assert addressee("Clara Brugada", "Mayor", "en") == "Mayor Clara Brugada"
    assert addressee("王小明", "市长", "zh") == "王小明市长"
    assert addressee("Clara Brugada", "", "zh") == "Clara Brugada"
    text, html = parts(build(BADGE_MAIL, payload("zh", "王小明", title="市长", delegation="广州")))
    assert text.startswith("尊敬的王小明市长：")
    assert "代表团：广州" in text


# --- which change calls for which message -----------------------------------------------------


def change(event_type, status, badge_status="active", **detail):
    p = payload()
    p["delegate"]["status"] = status
    if badge_status is None:
        p["badge"] = None
    else:
        p["badge"]["status"] = badge_status
    p["detail"] = detail
    return event_type, p


@pytest.mark.parametrize(
    ("event_type", "status", "badge_status", "detail", "kind"),
    [
        (ev.DELEGATE_REGISTERED, "confirmed", "active", {}, BADGE_MAIL),
        (ev.DELEGATE_REGISTERED, "pending", None, {}, RECEIVED),
        (ev.DELEGATE_REGISTERED, "waitlisted", None, {}, WAITLISTED),
        (ev.DELEGATE_CONFIRMED, "confirmed", "active", {}, APPROVED),
        (ev.DELEGATE_CONFIRMED, "confirmed", "active", {"promoted": True}, PROMOTED),
        (ev.DELEGATE_WAITLISTED, "waitlisted", None, {}, WAITLISTED),
        (ev.DELEGATE_REJECTED, "rejected", None, {"reason": "Full"}, REJECTED),
        (ev.DELEGATE_CANCELLED, "cancelled", "void", {"reason": None}, CANCELLED),
        (ev.DELEGATE_CANCELLED, "cancelled", "void", {"substituted_by": "Li Hua"}, CANCELLED),
        (ev.BADGE_REISSUED, "confirmed", "active", {"fields": ["family_name"]}, REISSUED),
        (ev.DELEGATE_UPDATED, "confirmed", "active", {"fields": ["dietary"]}, None),
        (ev.BADGE_REVOKED, "confirmed", "revoked", {"reason": "Lost"}, None),
        (ev.DELEGATE_CONFIRMED, "confirmed", "revoked", {}, None),
    ],
)
def test_each_change_calls_for_its_message(event_type, status, badge_status, detail, kind):
    assert choose(*change(event_type, status, badge_status, **detail)) == kind


def standing(revision, status, badge=(4242, 1, "active")):
    return Standing(revision, status, badge, False, {})


def test_a_message_is_overtaken_only_by_a_newer_change_that_contradicts_it():
    p = payload()  # revision 1, confirmed, badge 4242 v1 active
    p["badge"].update(id=4242, version=1, status="active")

    assert not overtaken(p, standing(1, "confirmed"), badge_matters=True)
    assert not overtaken(p, standing(2, "confirmed"), badge_matters=True)  # a correction
    assert overtaken(p, standing(3, "cancelled", (4242, 1, "void")), badge_matters=True)
    assert overtaken(p, standing(2, "confirmed", (4242, 2, "active")), badge_matters=True)
    assert not overtaken(p, standing(2, "confirmed", (4242, 2, "active")), badge_matters=False)


# --- when reminders fall --------------------------------------------------------------------------


def test_reminders_open_at_ten_the_day_before_in_the_events_own_zone_and_close_at_its_start():
    opens, closes = window(date(2023, 12, 7), "Asia/Shanghai")

    assert opens == datetime(2023, 12, 6, 2, 0, tzinfo=UTC)  # 10:00 in Guangzhou
    assert closes == datetime(2023, 12, 6, 16, 0, tzinfo=UTC)  # midnight there


def test_an_unknown_time_zone_falls_back_to_utc():
    opens, _ = window(date(2023, 12, 7), "Mars/Olympus_Mons")

    assert opens == datetime(2023, 12, 6, 10, 0, tzinfo=UTC)
