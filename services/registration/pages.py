"""The public registration page: a form in English or Simplified Chinese that registers through
the JSON API (the server is the truth), and a friendly 404 for an unknown event.

A plain Flask blueprint, so the pages stay out of the OpenAPI document. The page carries both
languages' texts, so switching language in place keeps what the delegate typed."""

from __future__ import annotations

import hashlib
import unicodedata
from functools import cache
from pathlib import Path

import pycountry
from babel import Locale
from babel.dates import format_interval
from flask import Blueprint, current_app, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.registration import privacy, resources
from services.registration.models import Event
from services.registration.schemas import LANGUAGES

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
        "token_help": "Keep this code: you will need it to change or cancel your "
        "registration. It is shown only this once and is not in the e-mail, so copy it or "
        "print this page now.",
        "copy_code": "Copy code",
        "copied": "Copied",
        "copy_failed": "Select the code and copy it by hand.",
        "print": "Print this page",
        "register_another": "Register another person",
        "not_found_title": "Event not found",
        "not_found_body": "There is no event at this address. Please check the link in your "
        "invitation, or contact the organisers.",
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
        "token_help": "请妥善保存此代码，修改或取消报名时需要使用。此代码仅显示这一次，"
        "也不会包含在邮件中，请立即复制或打印本页。",
        "copy_code": "复制代码",
        "copied": "已复制",
        "copy_failed": "请选中代码后手动复制。",
        "print": "打印本页",
        "register_another": "为其他人报名",
        "not_found_title": "未找到该活动",
        "not_found_body": "此地址没有对应的活动。请核对邀请函中的链接，或联系主办方。",
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
            categories=[(c.code, c.label) for c in event.categories],
            countries=countries(lang),
            mail_languages=[(code, _autonym(code)) for code in LANGUAGES],
            endpoint=url_for("registration.register", slug=slug),
            consent_version=privacy.NOTICE.version,
            page_data={"text": texts(), "dates": dates, "countries": _country_names()},
        )
    return _localised(page, 200, lang)


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
    names: dict[str, dict[str, str]] = {}
    for lang, locale in LOCALES.items():
        territories = Locale.parse(locale).territories
        names[lang] = {c.alpha_2: territories.get(c.alpha_2) or c.name for c in pycountry.countries}
    return names


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
