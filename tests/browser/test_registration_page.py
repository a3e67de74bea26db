"""The public registration page as a delegate uses it: headless Chromium against the real
registration service. Screenshots land in test-artifacts/registration-page/."""

from __future__ import annotations

import uuid

import pytest
import requests

from services.registration.privacy import NOTICE
from tests.browser.conftest import screenshot

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips these tests (fails them in CI) and says why
    expect = None

pytestmark = pytest.mark.browser

VIEWPORT = pytest.mark.parametrize("viewport", ["desktop", "phone"])
REQUIRED = ("given_name", "email", "organisation", "city", "country", "category")
CONSENT_EN = "Tick this box to agree to the privacy notice: registering needs your consent."
CONSENT_ZH = "请勾选此项以同意隐私声明：报名须经您同意。"


def unique_email(name: str = "delegate") -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}@example.org"


def fill_in(page, labels: dict[str, str], person: dict) -> None:
    """Fill the form through its labels, as a person (and a screen reader) finds the fields."""
    for field in ("family_name", "given_name", "email", "organisation", "city"):
        if person.get(field):
            page.get_by_label(labels[field], exact=True).fill(person[field])
    page.get_by_label(labels["country"], exact=True).select_option(person["country"])
    page.get_by_label(labels["category"], exact=True).select_option(person["category"])
    if person.get("consent", True):
        page.get_by_label(labels["consent"]).check()


def submit(page, button: str):
    """Click the submit button; returns the API's response to the form."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name=button).click()
    return answer.value


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


ZH = {
    "given_name": "名",
    "family_name": "姓（选填）",
    "email": "电子邮箱",
    "organisation": "机构名称",
    "city": "城市",
    "country": "国家或地区",
    "category": "参会类别",
    "consent": "我已阅读上述隐私声明",
}
EN = {
    "given_name": "Given name",
    "family_name": "Family name (optional)",
    "email": "E-mail address",
    "organisation": "Organisation",
    "city": "City",
    "country": "Country or region",
    "category": "Category",
    "consent": "I have read the privacy notice",
}


@VIEWPORT
def test_a_delegate_registers_in_chinese_and_sees_the_name_as_written(
    open_page, registration_server, viewport
):
    page = open_page(locale="zh-CN", viewport=viewport)
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_label("邮件语言")).to_have_value("zh")
    countries = page.locator("#country option")
    expect(countries.nth(1)).to_have_text("阿尔巴尼亚")  # sorted by pinyin: A'erbaniya first
    screenshot(page, f"form-zh-{viewport}")
    email = unique_email("wang")

    fill_in(
        page,
        ZH,
        {
            "family_name": "王",
            "given_name": "小明",
            "email": email,
            "organisation": "广州市人民政府",
            "city": "广州",
            "country": "CN",
            "category": "mayor",
        },
    )
    response = submit(page, "提交报名")

    assert response.status == 201
    expect(page.locator("#confirmation-title")).to_be_focused()
    expect(page.locator("#confirmation-title")).to_have_text("报名成功")
    expect(page.locator("#confirmation-thanks")).to_have_text("王小明，感谢您的报名。")
    expect(page.locator("#confirmation-status")).to_contain_text(email)
    token = page.locator("#manage-token").text_content()
    assert token == response.json()["manage_token"]
    assert fits_the_screen(page)
    screenshot(page, f"confirmation-zh-{viewport}")
    stored = _stored(registration_server, response.json())
    assert (stored["family_name"], stored["given_name"], stored["language"]) == ("王", "小明", "zh")
    assert (stored["consent"]["basis"], stored["consent"]["version"]) == (
        "delegate",
        NOTICE.version,
    )


@VIEWPORT
def test_a_delegate_registers_in_english_with_a_greek_name(
    open_page, registration_server, viewport
):
    page = open_page(locale="en-GB", viewport=viewport)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    screenshot(page, f"form-en-{viewport}")

    fill_in(
        page,
        EN,
        {
            "given_name": "Σίμος",
            "family_name": "Ρούσσος",
            "email": unique_email("roussos"),
            "organisation": "Δήμος Χαλανδρίου",
            "city": "Χαλάνδρι",
            "country": "GR",
            "category": "mayor",
        },
    )
    response = submit(page, "Register")

    assert response.status == 201
    expect(page.locator("#confirmation-thanks")).to_have_text("Thank you, Σίμος Ρούσσος.")
    expect(page.locator("#confirmation-status")).to_contain_text("is on its way to")
    expect(page.locator("#registration-number")).to_have_text(str(response.json()["id"]))
    assert fits_the_screen(page)
    screenshot(page, f"confirmation-en-{viewport}")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy code").click()
    expect(page.locator("#copy-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == response.json()["manage_token"]
    stored = _stored(registration_server, response.json())
    assert (stored["given_name"], stored["family_name"]) == ("Σίμος", "Ρούσσος")
    assert (stored["organisation"], stored["city"]) == ("Δήμος Χαλανδρίου", "Χαλάνδρι")


@VIEWPORT
def test_an_address_the_browser_accepts_but_the_server_rejects_is_flagged_at_the_email_field(
    open_page, viewport
):
    page = open_page(viewport=viewport)
    person = {"given_name": "Clara", "email": "a@b", "organisation": "Alcaldía", "city": "X"}
    fill_in(page, EN, {**person, "country": "MX", "category": "delegate"})
    email = page.get_by_label(EN["email"], exact=True)
    assert email.evaluate("input => input.checkValidity()")  # type=email lets a@b through

    response = submit(page, "Register")

    assert response.status == 422
    assert list(response.json()["error"]["fields"]) == ["email"]
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_attribute("aria-describedby", "email-hint email-error")
    expect(page.locator("#email-error")).to_have_text(
        "Error: Enter an e-mail address such as name@example.org."
    )
    expect(page.locator("[aria-invalid]")).to_have_count(1)
    expect(page.locator("#error-summary")).to_be_focused()
    assert fits_the_screen(page)
    screenshot(page, f"errors-en-{viewport}")
    summary_link = "E-mail address: Enter an e-mail address such as name@example.org."
    page.get_by_role("link", name=summary_link).click()
    expect(email).to_be_focused()


def test_an_empty_form_gets_the_servers_required_message_at_each_required_field(open_page):
    page = open_page(locale="zh-CN")

    response = submit(page, "提交报名")

    assert response.status == 422
    assert set(response.json()["error"]["fields"]) == {*REQUIRED, "consent"}
    for field in REQUIRED:
        expect(page.locator(f"#{field}-error")).to_have_text("错误： 此项为必填项。")
        expect(page.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#consent-error")).to_have_text(f"错误： {CONSENT_ZH}")
    expect(page.locator("#consent")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#family_name-error")).to_be_hidden()
    summary = page.locator("#error-summary-list li")
    expect(summary).to_have_text(  # in the order the Chinese page shows the fields
        [f"{ZH[field]}：此项为必填项。" for field in ("given_name", *REQUIRED[1:])]
        + [f"隐私声明：{CONSENT_ZH}"]
    )
    screenshot(page, "errors-zh-desktop")


def test_the_same_email_twice_is_told_it_is_already_registered(open_page, registration_server):
    email = unique_email("twice")
    first = registration_server.register(
        {
            "given_name": "Ana",
            "family_name": "Silva",
            "email": email,
            "organisation": "Prefeitura de Lisboa",
            "city": "Lisboa",
            "country": "PT",
            "category": "delegate",
            "consent": True,
        }
    )
    assert first.status_code == 201
    page = open_page()
    fill_in(
        page,
        EN,
        {
            "given_name": "Ana",
            "email": email.upper(),
            "organisation": "Câmara Municipal de Lisboa",
            "city": "Lisboa",
            "country": "PT",
            "category": "delegate",
        },
    )

    response = submit(page, "Register")

    assert response.status == 409
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#error-summary-title")).to_have_text(
        "This e-mail address is already registered for this event"
    )
    expect(page.locator("#error-summary-message")).to_have_text(
        "There is no need to register again. To register another person, use their own "
        "e-mail address."
    )
    expect(page.locator("#email-error")).to_have_text(
        "Error: This e-mail address is already registered for this event."
    )
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "already-registered-en-desktop")


def test_switching_language_keeps_what_was_typed(open_page):
    page = open_page(locale="en-GB")
    typed = {
        "given_name": "Σίμος",
        "family_name": "Ρούσσος",
        "email": "s.roussos@example.gr",
        "organisation": "Δήμος Χαλανδρίου",
        "city": "Χαλάνδρι",
    }
    fill_in(page, EN, {**typed, "country": "GR", "category": "speaker"})

    page.get_by_role("link", name="简体中文").click()

    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    assert "lang=zh" in page.url
    expect(page.get_by_role("link", name="简体中文")).to_have_attribute("aria-current", "true")
    for field, value in typed.items():
        expect(page.get_by_label(ZH[field], exact=True)).to_have_value(value)
    expect(page.get_by_label(ZH["country"])).to_have_value("GR")
    expect(page.locator("#country option:checked")).to_have_text("希腊")
    expect(page.get_by_label(ZH["category"])).to_have_value("speaker")
    expect(page.get_by_label("邮件语言")).to_have_value("zh")  # untouched, so it follows
    first_name_field = page.locator("#name-row .field__input").first
    expect(first_name_field).to_have_id("family_name")  # Chinese asks for the family name first
    screenshot(page, "switched-to-zh-desktop")

    page.get_by_label("邮件语言").select_option("en")
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="简体中文").click()
    page.get_by_role("link", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    for field, value in typed.items():
        expect(page.get_by_label(EN[field], exact=True)).to_have_value(value)
    expect(page.locator("#country option:checked")).to_have_text("Greece")
    expect(page.get_by_label("Language of your e-mails")).to_have_value("en")  # chosen: kept


def test_errors_on_the_page_follow_a_language_switch(open_page):
    page = open_page(locale="en-GB")
    fill_in(page, EN, {"given_name": "Li", "email": "a@b", "country": "CN", "category": "media"})
    assert submit(page, "Register").status == 422
    expect(page.locator("#email-error")).to_contain_text("Enter an e-mail address")

    page.get_by_role("link", name="简体中文").click()

    expect(page.locator("#email-error")).to_have_text(
        "错误： 请输入有效的电子邮箱地址，例如 name@example.org。"
    )
    expect(page.locator("#city-error")).to_have_text("错误： 此项为必填项。")


@pytest.mark.parametrize(
    ("accept_language", "lang", "button"),
    [
        ("zh-CN", "zh-Hans", "提交报名"),
        ("zh-TW", "zh-Hans", "提交报名"),
        ("en-US", "en", "Register"),
        ("fr-FR", "en", "Register"),
    ],
)
def test_the_browsers_language_chooses_the_page_language(open_page, accept_language, lang, button):
    page = open_page(locale=accept_language)

    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("button", name=button)).to_be_visible()


def test_an_unknown_event_gets_a_friendly_page_in_both_languages(open_page, registration_server):
    page = open_page(locale="zh-CN", navigate=False)

    response = page.goto(registration_server.page_url("no-such-forum"))

    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("未找到该活动")
    expect(page.get_by_role("heading", level=2)).to_have_text("Event not found")
    screenshot(page, "not-found-desktop")


def test_the_form_works_with_the_keyboard_alone(open_page):
    page = open_page(locale="en-GB")
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.text"))
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid", f"no visible focus on {order[-1]}"

    assert order == [
        "English",
        "简体中文",
        "given_name",
        "family_name",
        "email",
        "organisation",
        "city",
        "country",
        "category",
        "language",
        "consent",
        "submit",
    ]
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select')].filter(e => !e.labels.length)"
        ".map(e => e.id)"
    )
    assert unlabelled == []

    page.get_by_label("Given name").focus()
    page.keyboard.type("Ngozi")
    for field, value in [
        ("email", unique_email("ngozi")),
        ("organisation", "Lagos State Government"),
    ]:
        page.get_by_label(EN[field], exact=True).focus()
        page.keyboard.type(value)
    page.get_by_label("Country or region").select_option("NG")
    page.get_by_label("Category").select_option("delegate")
    page.get_by_label("City").focus()
    page.keyboard.type("Lagos")
    page.get_by_label(EN["consent"]).focus()
    page.keyboard.press("Space")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.keyboard.press("Enter")

    assert answer.value.status == 201
    expect(page.locator("#confirmation-title")).to_be_focused()


def test_the_privacy_notice_is_shown_and_registering_needs_consent(open_page, registration_server):
    page = open_page(locale="en-GB")
    expect(page.locator("#privacy-notice")).to_have_text(NOTICE.text_en)
    expect(page.locator("#privacy-version")).to_contain_text(NOTICE.version)
    person = {
        "given_name": "Ngozi",
        "email": unique_email("ngozi"),
        "organisation": "Lagos State Government",
        "city": "Lagos",
        "country": "NG",
        "category": "delegate",
    }
    fill_in(page, EN, {**person, "consent": False})

    refused = submit(page, "Register")

    assert refused.status == 422
    assert list(refused.json()["error"]["fields"]) == ["consent"]
    expect(page.locator("#consent-error")).to_have_text(f"Error: {CONSENT_EN}")
    expect(page.locator("#consent")).to_have_attribute(
        "aria-describedby", "privacy-notice consent-error"
    )
    screenshot(page, "consent-needed-en-desktop")
    page.get_by_role("link", name="简体中文").click()
    expect(page.locator("#privacy-notice")).to_have_text(NOTICE.text_zh)
    expect(page.locator("#consent-error")).to_have_text(f"错误： {CONSENT_ZH}")

    page.get_by_label(ZH["consent"]).check()
    response = submit(page, "提交报名")

    assert response.status == 201
    consent = _stored(registration_server, response.json())["consent"]
    assert (consent["basis"], consent["version"]) == ("delegate", NOTICE.version)
    assert consent["given_at"]


def _stored(server, created: dict) -> dict:
    """The registration as the API keeps it, read back with its manage token."""
    response = requests.get(
        f"{server.url}/api/v1/registrations/{created['id']}",
        headers={"Authorization": f"Bearer {created['manage_token']}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()
