"""The public registration page: a form in English or Simplified Chinese that registers through
the JSON API (the server is the truth), and a friendly 404 for an unknown event. Beside it, the
delegate's own page (`/manage/<id>`, the link in every mail), an HTML shell whose script reads,
corrects, cancels or erases the registration through the same API with the manage token.

A plain Flask blueprint, so the pages stay out of the OpenAPI document. The page carries both
languages' texts, so switching language in place keeps what the delegate typed."""

from __future__ import annotations

import hashlib
import unicodedata
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_interval
from flask import Blueprint, current_app, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.registration import privacy, resources
from services.registration.models import Event
from services.registration.schemas import LANGUAGES
from shared import countries as shared_countries

bp = Blueprint("pages", __name__, template_folder="templates")

LOCALES = {"en": "en_GB", "zh": "zh_Hans_CN"}  # CLDR locales behind the page languages
HTML_LANG = {"en": "en", "zh": "zh-Hans"}
LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}  # each in its own language, as switches say

TEXT = {
    "en": {
        "page_title": "Register",
        "eyebrow": "Delegate registration",
        "language_nav": "Language",
        "intro": "Registration takes about two minutes. Your badge, with its QR code, is sent "
        "to you by e-mail as soon as you are registered.",
        "required_note": "All fields are required unless marked optional.",
        "noscript": "This form needs JavaScript. Please turn it on, or ask the organisers to "
        "register you.",
        "section_person": "About you",
        "name_hint": "Write your name as it should appear on your badge, in any script.",
        "given_name": "Given name",
        "family_name": "Family name",
        "optional": " (optional)",  # the space is English spelling
        "email": "E-mail address",
        "email_hint": "Your badge and confirmation are sent to this address.",
        "section_organisation": "Your organisation",
        "organisation": "Organisation",
        "organisation_hint": "The city government or organisation you represent.",
        "city": "City",
        "country": "Country or region",
        "country_choose": "Choose a country or region",
        "section_participation": "Participation",
        "category": "Category",
        "category_choose": "Choose a category",
        "language": "Language of your e-mails",
        "section_privacy": "Your personal data",
        "privacy_version": "Privacy notice, version {version}",
        "consent": "I have read the privacy notice above and agree that my details are used as "
        "it describes.",
        "consent_short": "Privacy notice",
        "submit": "Register",
        "submitting": "Registering…",
        "error_summary": "Please correct the following",
        "error_prefix": "Error:",
        "summary_item": "{field}: {message}",
        "already_registered_title": "This e-mail address is already registered for this event",
        "error_already_registered": "There is no need to register again. To register another "
        "person, use their own e-mail address.",
        "error_generic": "Your registration could not be completed. Please try again in a moment.",
        "error_network": "The server could not be reached. Please check your connection and "
        "try again.",
        "msg_required": "This field is required.",
        "msg_email": "Enter an e-mail address such as name@example.org.",
        "msg_too_long": "Use at most {max} characters.",
        "msg_country": "Choose a country or region from the list.",
        "msg_choose": "Choose one of the options in the list.",
        "msg_control": "Remove the special (control) characters from this field.",
        "msg_already_registered": "This e-mail address is already registered for this event.",
        "msg_consent": "Tick this box to agree to the privacy notice: registering needs your "
        "consent.",
        "msg_notice_changed": "The privacy notice has changed since this page was opened. Reload "
        "the page, read the notice and agree again.",
        "confirm_title": "You are registered",
        "confirm_thanks": "Thank you, {name}.",
        "confirm_confirmed": "Your badge with its QR code is on its way to {email}. It "
        "usually arrives within a few minutes; if not, please look in your spam folder.",
        "confirm_pending": "Your registration now awaits the organisers' approval. We will "
        "write to {email} as soon as it is decided.",
        "confirm_waitlisted": "This category is full at the moment, so you are on the waiting "
        "list. We will write to {email} as soon as a place is free.",
        "confirm_received": "We have received your registration and will write to {email}.",
        "registration_number": "Registration number",
        "token_title": "Your registration code",
        "token_help": "Keep this code: it opens your registration, to change or cancel it. "
        "Every e-mail we send you carries it too, in your personal link to that page; it is "
        "not shown here again.",
        "copy_code": "Copy code",
        "copied": "Copied",
        "copy_failed": "Select the code and copy it by hand.",
        "print": "Print this page",
        "register_another": "Register another person",
        "not_found_title": "Event not found",
        "not_found_body": "There is no event at this address. Please check the link in your "
        "invitation, or contact the organisers.",
        # ---- the delegate's own page, /manage/<id> ----
        "manage_title": "Your registration",
        "manage_eyebrow": "Manage your registration",
        "manage_loading": "Loading your registration…",
        "manage_noscript": "This page needs JavaScript. Please turn it on, or ask the "
        "organisers for help.",
        "no_token_title": "Please open this page from your e-mail",
        "no_token_body": "This page needs the personal link in the e-mails we sent you about "
        "your registration. Open the most recent one and follow its link.",
        "bad_token_title": "This link does not work",
        "bad_token_body": "The link may be incomplete, or a newer one may have replaced it. "
        "Open the link in the most recent e-mail we sent you about your registration. If it "
        "still does not work, please contact the organisers.",
        "load_failed_title": "Your registration could not be loaded",
        "retry": "Try again",
        "status": "Status",
        "status_pending": "Awaiting approval",
        "status_confirmed": "Confirmed",
        "status_waitlisted": "On the waiting list",
        "status_cancelled": "Cancelled",
        "status_rejected": "Not accepted",
        "status_erased": "Personal data erased",
        "about_pending": "Your registration awaits the organisers' approval. We will write to "
        "you as soon as it is decided.",
        "about_confirmed": "You are registered. Show the QR code of your badge at the entrance, "
        "on your phone or printed.",
        "about_waitlisted": "This category is full at the moment, so you are on the waiting "
        "list. We will write to you as soon as a place is free.",
        "about_cancelled": "This registration is cancelled. Its badge no longer works.",
        "about_rejected": "The organisers could not accept this registration.",
        "about_erased": "Your personal data was erased on {date}. Only your category and "
        "country are kept, without your name, for anonymous counts.",
        "reason": "Reason: {reason}",
        "section_details": "Your details",
        "name": "Name",
        "email_fixed": "To change your e-mail address, please contact the organisers.",
        "dietary": "Dietary needs",
        "dietary_hint": "For example vegetarian, halal, or a food allergy.",
        "accessibility": "Accessibility needs",
        "accessibility_hint": "For example step-free access or a sign language interpreter.",
        "latin_name": "Name in Latin letters",
        "latin_name_hint": "Printed under your name on the badge when it is written in another "
        "script. Leave empty for the automatic spelling.",
        "title": "Title or rank",
        "title_hint": "For example Mayor, or Director of International Relations.",
        "none_given": "None given",
        "registered_on": "Registered on",
        "section_badge": "Your badge",
        "badge_alt": "QR code of your badge",
        "badge_help": "Show this QR code at the entrance, on your phone or printed. It is also "
        "attached to your badge e-mail.",
        "badge_pdf": "Download printable badge (PDF)",
        "badge_failed": "Your badge could not be shown. Please reload the page.",
        "badge_revoked": "Your badge has been revoked and no longer works. Please contact the "
        "organisers.",
        "downloading": "Preparing the download…",
        "download_failed": "The download did not work. Please try again.",
        "correct_start": "Correct my details",
        "correct_title": "Correct your details",
        "reissue_note": "Your name, organisation, city and country are printed on your badge. "
        "Changing any of them reissues the badge: the old QR code stops working, and the new "
        "badge is sent to you by e-mail.",
        "save": "Save changes",
        "saving": "Saving…",
        "close_form": "Close without saving",
        "saved": "Your changes are saved.",
        "nothing_changed": "You have not changed anything.",
        "reissued": "Your badge was reissued with your new details. The old QR code no longer "
        "works: use the new one on this page, which is also on its way to you by e-mail.",
        "section_cancel": "Cancel your registration",
        "cancel_intro": "If you can no longer come, please cancel, so that your place goes to "
        "someone on the waiting list.",
        "cancel_start": "Cancel my registration…",
        "cancel_confirm_title": "Cancel your registration?",
        "cancel_warning": "Your badge stops working at once, and your place goes to the next "
        "person on the waiting list. This cannot be undone.",
        "cancel_yes": "Yes, cancel my registration",
        "cancel_no": "No, keep my registration",
        "cancelling": "Cancelling…",
        "cancelled_done": "Your registration is cancelled.",
        "section_my_data": "Your personal data",
        "data_intro": "You can download everything we keep about you, or have it erased.",
        "data_intro_erased": "You can still download what is kept about this registration.",
        "data_download": "Download my data (JSON)",
        "erase_start": "Erase my data…",
        "erase_confirm_title": "Erase your personal data?",
        "erase_warning": "Your name, e-mail address, organisation, city and needs are erased "
        "for good, and your badge stops working at once; a place you hold goes to the next "
        "person on the waiting list. Only your category and country are kept, without your "
        "name, for anonymous counts. This cannot be undone: download your data first if you "
        "want a copy.",
        "erase_yes": "Yes, erase my data",
        "erase_no": "No, keep my data",
        "erasing": "Erasing…",
        "erased_done": "Your personal data is erased.",
        "error_action": "That did not work. Please try again in a moment.",
        "error_closed": "This registration can no longer be changed.",
    },
    "zh": {
        "page_title": "报名",
        "eyebrow": "参会代表报名",
        "language_nav": "语言",
        "intro": "报名约需两分钟。报名成功后，带有二维码的参会证将立即通过电子邮件发送给您。",
        "required_note": "除标注“选填”的项目外，均为必填项。",
        "noscript": "此报名表需要启用 JavaScript。请启用后重试，或联系主办方为您报名。",
        "section_person": "个人信息",
        "name_hint": "请按参会证上应显示的写法填写姓名，可使用任何文字。",
        "given_name": "名",
        "family_name": "姓",
        "optional": "（选填）",
        "email": "电子邮箱",
        "email_hint": "参会证和确认信将发送至此邮箱。",
        "section_organisation": "所属机构",
        "organisation": "机构名称",
        "organisation_hint": "您所代表的市政府或机构。",
        "city": "城市",
        "country": "国家或地区",
        "country_choose": "请选择国家或地区",
        "section_participation": "参会信息",
        "category": "参会类别",
        "category_choose": "请选择参会类别",
        "language": "邮件语言",
        "section_privacy": "个人信息保护",
        "privacy_version": "隐私声明（版本 {version}）",
        "consent": "我已阅读上述隐私声明，并同意按其所述使用我的信息。",
        "consent_short": "隐私声明",
        "submit": "提交报名",
        "submitting": "正在提交…",
        "error_summary": "请修改以下内容",
        "error_prefix": "错误：",
        "summary_item": "{field}：{message}",
        "already_registered_title": "此电子邮箱已报名本次活动",
        "error_already_registered": "无需重复报名。如需为他人报名，请使用其本人的电子邮箱。",
        "error_generic": "报名未能完成，请稍后再试。",
        "error_network": "无法连接服务器，请检查网络后重试。",
        "msg_required": "此项为必填项。",
        "msg_email": "请输入有效的电子邮箱地址，例如 name@example.org。",
        "msg_too_long": "最多可填写 {max} 个字符。",
        "msg_country": "请从列表中选择国家或地区。",
        "msg_choose": "请从列表中选择。",
        "msg_control": "请删除此项中的特殊控制字符。",
        "msg_already_registered": "此电子邮箱已报名本次活动。",
        "msg_consent": "请勾选此项以同意隐私声明：报名须经您同意。",
        "msg_notice_changed": "打开本页后隐私声明已有更新。请刷新页面，阅读声明后重新同意。",
        "confirm_title": "报名成功",
        "confirm_thanks": "{name}，感谢您的报名。",
        "confirm_confirmed": "带有二维码的参会证正在发送至 {email}，通常几分钟内即可收到；"
        "如未收到，请查看垃圾邮件文件夹。",
        "confirm_pending": "您的报名正在等待主办方审核，审核结果将发送至 {email}。",
        "confirm_waitlisted": "该类别名额已满，您已进入候补名单。一旦有空余名额，"
        "我们将发送邮件至 {email}。",
        "confirm_received": "我们已收到您的报名，并将发送邮件至 {email}。",
        "registration_number": "报名编号",
        "token_title": "您的报名代码",
        "token_help": "请妥善保存此代码，修改或取消报名时需要使用。我们发给您的每封邮件中的"
        "专属链接也包含此代码；此页面不会再次显示。",
        "copy_code": "复制代码",
        "copied": "已复制",
        "copy_failed": "请选中代码后手动复制。",
        "print": "打印本页",
        "register_another": "为其他人报名",
        "not_found_title": "未找到该活动",
        "not_found_body": "此地址没有对应的活动。请核对邀请函中的链接，或联系主办方。",
        # ---- the delegate's own page, /manage/<id> ----
        "manage_title": "我的报名",
        "manage_eyebrow": "管理报名",
        "manage_loading": "正在载入您的报名信息…",
        "manage_noscript": "此页面需要启用 JavaScript。请启用后重试，或联系主办方。",
        "no_token_title": "请通过邮件中的链接打开此页面",
        "no_token_body": "此页面需要使用我们发给您的报名邮件中的专属链接。请打开最近一封邮件，"
        "点击其中的链接。",
        "bad_token_title": "此链接无效",
        "bad_token_body": "链接可能不完整，或已被更新的链接取代。请使用我们最近一次发给您的报名"
        "邮件中的链接。如仍无法打开，请联系主办方。",
        "load_failed_title": "无法载入您的报名信息",
        "retry": "重试",
        "status": "状态",
        "status_pending": "等待审核",
        "status_confirmed": "已确认",
        "status_waitlisted": "候补中",
        "status_cancelled": "已取消",
        "status_rejected": "未获通过",
        "status_erased": "个人信息已删除",
        "about_pending": "您的报名正在等待主办方审核，审核结果将通过邮件通知您。",
        "about_confirmed": "您已报名成功。入场时请出示参会证二维码（手机显示或打印均可）。",
        "about_waitlisted": "该类别名额已满，您已进入候补名单。一旦有空余名额，"
        "我们将发邮件通知您。",
        "about_cancelled": "此报名已取消，其参会证已失效。",
        "about_rejected": "主办方未能接受此报名。",
        "about_erased": "您的个人信息已于 {date} 删除。仅保留不含姓名的参会类别和国家或地区，"
        "用于匿名统计。",
        "reason": "原因：{reason}",
        "section_details": "您的信息",
        "name": "姓名",
        "email_fixed": "如需更改电子邮箱，请联系主办方。",
        "dietary": "饮食要求",
        "dietary_hint": "例如素食、清真或食物过敏。",
        "accessibility": "无障碍需求",
        "accessibility_hint": "例如无台阶通道或手语翻译。",
        "latin_name": "拉丁字母姓名",
        "latin_name_hint": "姓名不是拉丁字母时，印在参会证上姓名下方。留空则使用自动拼写。",
        "title": "职务或头衔",
        "title_hint": "例如市长、国际交流处处长。",
        "none_given": "未填写",
        "registered_on": "报名日期",
        "section_badge": "参会证",
        "badge_alt": "您的参会证二维码",
        "badge_help": "入场时请出示此二维码（手机显示或打印均可）。参会证邮件中也附有此二维码。",
        "badge_pdf": "下载可打印的参会证（PDF）",
        "badge_failed": "无法显示参会证，请刷新页面。",
        "badge_revoked": "您的参会证已被撤销，无法再使用。请联系主办方。",
        "downloading": "正在准备下载…",
        "download_failed": "下载失败，请重试。",
        "correct_start": "修改我的信息",
        "correct_title": "修改信息",
        "reissue_note": "姓名、机构、城市和国家或地区印在参会证上。修改其中任何一项都会重新签发"
        "参会证：旧二维码随即失效，新参会证将通过电子邮件发送给您。",
        "save": "保存修改",
        "saving": "正在保存…",
        "close_form": "不保存并关闭",
        "saved": "修改已保存。",
        "nothing_changed": "您没有做任何修改。",
        "reissued": "已按新信息重新签发参会证。旧二维码已失效：请使用本页上的新二维码，"
        "新参会证也正通过电子邮件发送给您。",
        "section_cancel": "取消报名",
        "cancel_intro": "如您无法出席，请取消报名，以便将名额让给候补名单上的人。",
        "cancel_start": "取消报名…",
        "cancel_confirm_title": "确定要取消报名吗？",
        "cancel_warning": "取消后参会证立即失效，您的名额将让给候补名单上的下一位。"
        "此操作无法撤销。",
        "cancel_yes": "确定取消报名",
        "cancel_no": "不，保留报名",
        "cancelling": "正在取消…",
        "cancelled_done": "您的报名已取消。",
        "section_my_data": "您的个人信息",
        "data_intro": "您可以下载我们保存的关于您的全部信息，或要求删除这些信息。",
        "data_intro_erased": "您仍可下载此报名目前保留的信息。",
        "data_download": "下载我的数据（JSON）",
        "erase_start": "删除我的数据…",
        "erase_confirm_title": "确定要删除您的个人信息吗？",
        "erase_warning": "您的姓名、电子邮箱、机构、城市及各项需求将被永久删除，参会证立即失效；"
        "如您持有名额，将让给候补名单上的下一位。仅保留不含姓名的参会类别和国家或地区，用于匿名"
        "统计。此操作无法撤销：如需留存副本，请先下载您的数据。",
        "erase_yes": "确定删除我的数据",
        "erase_no": "不，保留我的数据",
        "erasing": "正在删除…",
        "erased_done": "您的个人信息已删除。",
        "error_action": "操作未成功，请稍后再试。",
        "error_closed": "此报名已无法修改。",
    },
}


def page_language() -> str:
    """`?lang=` when the page asked for one, else the browser's preference, else English."""
    asked = request.args.get("lang", "")
    if asked in TEXT:
        return asked
    return request.accept_languages.best_match(list(TEXT), default="en")


@bp.get("/events/<slug>/register")
def register(slug: str):
    """The registration form of an event, in the delegate's language."""
    lang = page_language()
    with resources().db.reads() as session:
        event = session.scalar(
            select(Event).where(Event.slug == slug).options(selectinload(Event.categories))
        )
        if event is None:
            return _not_found(lang)
        dates = {
            code: format_interval(event.starts_on, event.ends_on, "yMMMd", locale=locale)
            for code, locale in LOCALES.items()
        }
        page = render_template(
            "pages/register.html",
            **_common(lang),
            event=event,
            dates=dates,
            event_text=_event_texts(event)[lang],
            categories=[(c.code, c.labels.get(lang, c.label)) for c in event.categories],
            countries=countries(lang),
            mail_languages=[(code, _autonym(code)) for code in LANGUAGES],
            endpoint=url_for("registration.register", slug=slug),
            consent_version=privacy.NOTICE.version,
            page_data={
                "text": texts(),
                "dates": dates,
                "countries": _country_names(),
                "event": _event_texts(event),
                "categories": {
                    lang: {c.code: c.labels.get(lang, c.label) for c in event.categories}
                    for lang in LANGUAGES
                },
            },
        )
    return _localised(page, 200, lang)


def _event_texts(event: Event) -> dict[str, dict[str, str]]:
    """The event's name and venue in each page language, English where none was given."""
    english = {"name": event.name, "venue": event.venue}
    return {lang: {**english, **(event.translations or {}).get(lang, {})} for lang in LANGUAGES}


# The manage page shows the badge's QR code and offers downloads that need the bearer token:
# the script fetches them and hands them to the browser as blob: URLs, which `default-src
# 'self'` alone would refuse to show.
MANAGE_CSP = "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'"


@bp.get("/manage/<id:registration_id>")
def manage(registration_id: int):
    """A delegate's own page: see, correct or cancel their registration, get their badge and
    their data. The HTML is the same for everyone and holds no personal data: the script takes
    the manage token from the link's fragment (`shared.manage_links.manage_url`), keeps it for
    the tab, and asks the API with it."""
    lang = page_language()
    page = render_template(
        "pages/manage.html",
        **_common(lang),
        countries=countries(lang),
        mail_languages=[(code, _autonym(code)) for code in LANGUAGES],
        page_data={
            "text": texts(),
            "countries": _country_names(),
            "languages": {code: _autonym(code) for code in LANGUAGES},
            "api": _manage_api(registration_id),
        },
    )
    response = _localised(page, 200, lang)
    response.headers["Content-Security-Policy"] = MANAGE_CSP
    return response


def _manage_api(registration_id: int) -> dict[str, str]:
    """The API addresses the manage page calls (the event's with a SLUG placeholder)."""
    ids = {"registration_id": registration_id}
    return {
        "registration": url_for("registration.get_registration", **ids),
        "cancel": url_for("registration.cancel_registration", **ids),
        "data": url_for("registration.download_data", **ids),
        "erase": url_for("registration.erase_registration", **ids),
        "badge_png": url_for("badges.badge_qr", **ids),
        "badge_pdf": url_for("badges.badge_document", **ids),
        "event": url_for("registration.get_event", slug="SLUG"),
    }


def _not_found(lang: str):
    other = "zh" if lang == "en" else "en"
    page = render_template("pages/not_found.html", **_common(lang), order=(lang, other))
    return _localised(page, 404, lang)


def texts() -> dict[str, dict[str, str]]:
    """The page's texts in each language, with the privacy notice a delegate agrees to (its
    one text is kept in `privacy`)."""
    notice = privacy.NOTICE
    return {
        lang: {
            **text,
            "privacy_notice": notice.text(lang),
            "privacy_version": text["privacy_version"].format(version=notice.version),
        }
        for lang, text in TEXT.items()
    }


def _common(lang: str) -> dict:
    return {
        "lang": lang,
        "t": texts()[lang],
        "texts": texts(),
        "html_lang": HTML_LANG,
        "language_names": LANGUAGE_NAMES,
        "asset": asset_url,
    }


def _localised(page: str, status: int, lang: str):
    response = current_app.make_response((page, status))
    response.headers["Content-Language"] = HTML_LANG[lang]
    response.vary.add("Accept-Language")
    return response


def _autonym(code: str) -> str:
    return LANGUAGE_NAMES.get(code) or Locale.parse(code).get_display_name(code)


@cache
def _country_names() -> dict[str, dict[str, str]]:
    """Every ISO 3166-1 code the API accepts, named by CLDR (Unicode's locale data, via babel)
    in each page language; pycountry's name where CLDR has none."""
    return {lang: shared_countries.names(lang) for lang in LOCALES}


def countries(lang: str) -> list[tuple[str, str]]:
    """(code, name) in the page language, in alphabetical order (the browser re-sorts Chinese
    by pinyin with Intl.Collator; code-point order is radical-stroke, a fair fallback)."""
    return sorted(_country_names()[lang].items(), key=lambda item: _sort_key(item[1]))


def _sort_key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def asset_url(filename: str) -> str:
    """The URL of a static file, with its content's hash so a new release is never cached."""
    return url_for(
        "static", filename=filename, v=_digest(Path(current_app.static_folder), filename)
    )


@cache
def _digest(folder: Path, filename: str) -> str:
    return hashlib.sha256((folder / filename).read_bytes()).hexdigest()[:12]
