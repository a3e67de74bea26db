"""The delegate's own page as a delegate uses it: they follow the link in their mail
(`/manage/<id>#token=…`) in headless Chromium, against the real registration service.
Screenshots land in test-artifacts/manage-page/."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import requests

from shared.manage_links import manage_url
from tests.support.processes import ROOT

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips these tests (fails them in CI) and says why
    expect = None

pytestmark = pytest.mark.browser

VIEWPORT = pytest.mark.parametrize("viewport", ["desktop", "phone"])
ARTIFACTS = ROOT / "test-artifacts" / "manage-page"
REISSUED = (
    "Your badge was reissued with your new details. The old QR code no longer works: use the "
    "new one on this page, which is also on its way to you by e-mail."
)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"manage-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def register(server, **fields) -> dict:
    """A registration made through the API, as the registration page or an import makes it."""
    body = {
        "given_name": "Clara",
        "family_name": "Brugada Molina",
        "email": f"clara-{uuid.uuid4().hex[:10]}@example.org",
        "organisation": "Alcaldía de Iztapalapa",
        "city": "Iztapalapa",
        "country": "MX",
        "category": "mayor",
        "language": "en",
        "consent": True,
        **fields,
    }
    response = server.register(body)
    assert response.status_code == 201, response.text
    return response.json()


def stored(server, created: dict) -> dict:
    response = requests.get(
        f"{server.url}/api/v1/registrations/{created['id']}",
        headers={"Authorization": f"Bearer {created['manage_token']}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def open_link(open_page, server, created: dict, token: str | None = None, **options):
    """The page opened from the link in the delegate's mail."""
    page = open_page(navigate=False, **options)
    link = manage_url(server.url, created["id"], token or created["manage_token"])
    page.goto(link)
    return page


def wait_for_qr(page, other_than: str | None = None) -> str:
    """Waits until the badge's QR code shows (fetched with the token, shown from a blob: URL;
    not `wait_for_function`, whose eval the page's CSP refuses); returns its URL."""
    qr = page.locator("#badge-qr")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("src", re.compile(r"^blob:"))
    if other_than:
        expect(qr).not_to_have_attribute("src", other_than)
    expect(qr).to_have_js_property("complete", True)
    assert qr.evaluate("image => image.naturalWidth") > 0
    return qr.get_attribute("src")


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def correct(page, fields: dict[str, str], save: str = "Save changes"):
    """Open the form, change `fields` (by their labels), save; returns the API's answer."""
    page.get_by_role("button", name="Correct my details").click()
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    with page.expect_response(lambda r: r.request.method == "PATCH") as answer:
        page.get_by_role("button", name=save).click()
    return answer.value


@VIEWPORT
def test_a_delegate_follows_the_mail_link_and_sees_their_registration_in_english(
    open_page, registration_server, viewport
):
    created = register(registration_server)
    corrected = requests.patch(
        f"{registration_server.url}/api/v1/registrations/{created['id']}",
        json={"dietary": "Vegetarian"},
        headers={"Authorization": f"Bearer {created['manage_token']}"},
        timeout=10,
    )
    assert corrected.status_code == 200, corrected.text

    page = open_link(open_page, registration_server, created, viewport=viewport)

    expect(page.locator("#delegate-name")).to_have_text("Clara Brugada Molina")
    assert "token" not in page.url  # taken out of the address bar
    stored_token = page.evaluate(
        f"sessionStorage.getItem('rollcall.manage:/api/v1/registrations/{created['id']}')"
    )
    assert stored_token == created["manage_token"]
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#event-name")).to_have_text("Global Mayors' Forum 2023")
    expect(page.locator("#status-pill")).to_have_text("Confirmed")
    expect(page.locator("#registration-number")).to_have_text(str(created["id"]))
    for fact, value in {
        "organisation": "Alcaldía de Iztapalapa",
        "city": "Iztapalapa",
        "country": "Mexico",
        "category": "Mayor or governor",
        "language": "English",
        "dietary": "Vegetarian",
        "accessibility": "None given",
    }.items():
        expect(page.locator(f"#fact-{fact}-value")).to_have_text(value)
    expect(page.get_by_role("img", name="QR code of your badge")).to_be_visible()
    wait_for_qr(page)
    expect(page.get_by_role("button", name="Download printable badge (PDF)")).to_be_visible()
    assert fits_the_screen(page)
    screenshot(page, f"en-{viewport}")

    page.reload()  # the token stays with the tab

    expect(page.locator("#delegate-name")).to_have_text("Clara Brugada Molina")


@VIEWPORT
def test_a_chinese_delegate_sees_the_page_in_chinese_whatever_the_browser_speaks(
    open_page, registration_server, viewport
):
    created = register(
        registration_server,
        given_name="小明",
        family_name="王",
        organisation="广州市人民政府",
        city="广州",
        country="CN",
        language="zh",
    )

    page = open_link(open_page, registration_server, created, locale="en-GB", viewport=viewport)

    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("#delegate-name")).to_have_text("王小明")
    expect(page.locator("#status-pill")).to_have_text("已确认")
    expect(page.locator("#event-dates")).to_have_text("2023年12月7日至9日")
    expect(page.locator("#fact-country-value")).to_have_text("中国")
    expect(page.locator("#fact-language-value")).to_have_text("简体中文")
    expect(page.get_by_role("button", name="下载可打印的参会证（PDF）")).to_be_visible()
    expect(page.get_by_role("link", name="简体中文")).to_have_attribute("aria-current", "true")
    wait_for_qr(page)
    assert fits_the_screen(page)
    screenshot(page, f"zh-{viewport}")

    page.get_by_role("button", name="修改我的信息").click()
    first_name_field = page.locator("#name-row .field__input").first
    expect(first_name_field).to_have_id("family_name")  # Chinese asks for the family name first
    expect(page.get_by_label("姓（选填）", exact=True)).to_have_value("王")
    screenshot(page, f"zh-form-{viewport}")

    page.get_by_role("link", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#status-pill")).to_have_text("Confirmed")
    expect(page.locator("#fact-country-value")).to_have_text("China")
    expect(page.locator("#event-dates")).to_have_text(re.compile(r"^7\s*–\s*9 Dec 2023$"))
    expect(page.locator("#name-row .field__input").first).to_have_id("given_name")
    assert "lang=en" in page.url
    page.reload()  # the language asked for now wins over the registration's
    expect(page.locator("#status-pill")).to_have_text("Confirmed")


def test_a_delegate_corrects_their_organisation_and_sees_it_saved(open_page, registration_server):
    created = register(registration_server)
    page = open_link(open_page, registration_server, created)
    expect(page.locator("#status-pill")).to_have_text("Confirmed")

    response = correct(page, {"Organisation": "Gobierno de la Ciudad de México"})

    assert response.status == 200
    assert response.request.post_data_json == {"organisation": "Gobierno de la Ciudad de México"}
    expect(page.locator("#fact-organisation-value")).to_have_text("Gobierno de la Ciudad de México")
    expect(page.locator("#correct-form")).to_be_hidden()
    expect(page.locator("#result")).to_be_focused()
    expect(page.locator("#result")).to_have_text(REISSUED)  # the organisation is printed
    assert stored(registration_server, created)["organisation"] == "Gobierno de la Ciudad de México"
    screenshot(page, "saved-desktop")


def test_a_corrected_name_reissues_the_badge_and_says_so(open_page, registration_server):
    created = register(registration_server, given_name="Klara")
    page = open_link(open_page, registration_server, created, viewport="phone")
    old_qr = wait_for_qr(page)
    page.get_by_role("button", name="Correct my details").click()
    expect(page.locator("#reissue-note")).to_contain_text("Changing any of them reissues the badge")
    screenshot(page, "form-phone")

    page.get_by_label("Given name", exact=True).fill("Clara")
    with page.expect_response(lambda r: r.request.method == "PATCH") as answer:
        page.get_by_role("button", name="Save changes").click()

    assert answer.value.status == 200
    expect(page.locator("#result")).to_have_text(REISSUED)
    expect(page.locator("#delegate-name")).to_have_text("Clara Brugada Molina")
    wait_for_qr(page, other_than=old_qr)
    assert (
        stored(registration_server, created)["badge"]["version"] == created["badge"]["version"] + 1
    )
    screenshot(page, "reissued-phone")


def test_a_change_to_dietary_needs_is_saved_with_the_same_badge(open_page, registration_server):
    created = register(registration_server)
    page = open_link(open_page, registration_server, created)

    response = correct(page, {"Dietary needs (optional)": "Halal"})

    assert response.status == 200
    expect(page.locator("#result")).to_have_text("Your changes are saved.")
    expect(page.locator("#fact-dietary-value")).to_have_text("Halal")
    assert stored(registration_server, created)["badge"]["version"] == created["badge"]["version"]


def test_a_correction_the_server_refuses_is_shown_next_to_the_field(open_page, registration_server):
    created = register(registration_server, language="zh")
    page = open_link(open_page, registration_server, created, locale="zh-CN")
    page.get_by_role("button", name="修改我的信息").click()
    page.get_by_label("名", exact=True).fill("")
    page.get_by_label("饮食要求（选填）").fill("素食")

    with page.expect_response(lambda r: r.request.method == "PATCH") as answer:
        page.get_by_role("button", name="保存修改").click()

    assert answer.value.status == 422
    assert list(answer.value.json()["error"]["fields"]) == ["given_name"]
    given = page.locator("#given_name")
    expect(given).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#given_name-error")).to_have_text("错误： 此项为必填项。")
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#error-summary-list li")).to_have_text(["名：此项为必填项。"])
    screenshot(page, "field-error-zh-desktop")
    page.get_by_role("link", name="English").click()
    expect(page.locator("#given_name-error")).to_have_text("Error: This field is required.")

    page.get_by_role("link", name="Given name: This field is required.").click()
    expect(given).to_be_focused()
    assert stored(registration_server, created)["given_name"] == "Clara"  # nothing saved


@VIEWPORT
def test_cancelling_asks_first_then_shows_the_registration_cancelled(
    open_page, registration_server, viewport
):
    created = register(registration_server)
    page = open_link(open_page, registration_server, created, viewport=viewport)
    start = page.get_by_role("button", name="Cancel my registration…")

    start.click()
    expect(page.locator("#cancel-confirm-title")).to_be_focused()
    expect(page.locator("#cancel-confirm")).to_contain_text("This cannot be undone.")
    expect(start).to_have_attribute("aria-expanded", "true")
    screenshot(page, f"cancel-confirm-{viewport}")
    page.get_by_role("button", name="No, keep my registration").click()
    expect(page.locator("#cancel-confirm")).to_be_hidden()
    expect(start).to_be_focused()
    assert stored(registration_server, created)["status"] == "confirmed"

    start.click()
    with page.expect_response(lambda r: r.url.endswith("/cancel")) as answer:
        page.get_by_role("button", name="Yes, cancel my registration").click()

    assert answer.value.status == 200
    expect(page.locator("#result")).to_have_text("Your registration is cancelled.")
    expect(page.locator("#status-pill")).to_have_text("Cancelled")
    expect(page.locator("#status-about")).to_have_text(
        "This registration is cancelled. Its badge no longer works."
    )
    expect(page.locator("#badge")).to_be_hidden()
    expect(page.locator("#cancel-card")).to_be_hidden()
    expect(page.get_by_role("button", name="Correct my details")).to_be_hidden()
    assert stored(registration_server, created)["status"] == "cancelled"
    screenshot(page, f"cancelled-{viewport}")


def test_a_registration_awaiting_approval_says_so_and_has_no_badge_yet(
    open_page, registration_server
):
    created = register(registration_server, category="media")
    assert created["status"] == "pending"

    page = open_link(open_page, registration_server, created)

    expect(page.locator("#status-pill")).to_have_text("Awaiting approval")
    expect(page.locator("#status-about")).to_contain_text("awaits the organisers' approval")
    expect(page.locator("#badge")).to_be_hidden()
    expect(page.locator("#fact-category-value")).to_have_text("Media")


@pytest.mark.parametrize("how", ["wrong token", "another delegate's token", "no token"])
def test_a_link_without_a_working_token_says_what_to_do(open_page, registration_server, how):
    created = register(registration_server)
    other = register(registration_server)
    page = open_page(navigate=False)
    base = f"{registration_server.url}/manage/{created['id']}"

    if how == "no token":
        page.goto(base)
        title, advice = "Please open this page from your e-mail", "Open the most recent one"
    else:
        token = "rc_mng_not-a-real-token" if how == "wrong token" else other["manage_token"]
        page.goto(f"{base}#token={token}")
        title, advice = "This link does not work", "most recent e-mail we sent you"

    expect(page.get_by_role("heading", level=2)).to_have_text(title)
    expect(page.locator("#problem-body")).to_contain_text(advice)
    expect(page.locator("#manage")).to_be_hidden()
    assert "token" not in page.url
    assert page.evaluate("sessionStorage.length") == 0  # a refused token is not kept
    screenshot(page, f"problem-{how.replace(' ', '-').replace(chr(39), '')}")

    page.goto(manage_url(registration_server.url, created["id"], created["manage_token"]))
    expect(page.locator("#delegate-name")).to_have_text("Clara Brugada Molina")


def test_a_delegate_downloads_their_badge_and_their_data(open_page, registration_server, tmp_path):
    created = register(registration_server)
    page = open_link(open_page, registration_server, created)

    with page.expect_download() as badge:
        page.get_by_role("button", name="Download printable badge (PDF)").click()
    with page.expect_download() as data:
        page.get_by_role("button", name="Download my data (JSON)").click()

    assert badge.value.suggested_filename == f"badge-{created['badge']['id']}.pdf"
    assert Path(badge.value.path()).read_bytes().startswith(b"%PDF")
    assert data.value.suggested_filename.endswith(".json")
    exported = json.loads(Path(data.value.path()).read_text())
    assert exported["registration"]["id"] == created["id"]
    assert exported["registration"]["email"] == created["email"]


def test_erasing_warns_first_then_leaves_nothing_that_names_the_delegate(
    open_page, registration_server
):
    created = register(registration_server)
    page = open_link(open_page, registration_server, created, viewport="phone")

    page.get_by_role("button", name="Erase my data…").click()
    expect(page.locator("#erase-confirm-title")).to_be_focused()
    expect(page.locator("#erase-warning")).to_contain_text("This cannot be undone")
    screenshot(page, "erase-confirm-phone")
    with page.expect_response(lambda r: r.url.endswith("/erase")) as answer:
        page.get_by_role("button", name="Yes, erase my data").click()

    assert answer.value.status == 200
    expect(page.locator("#result")).to_have_text("Your personal data is erased.")
    expect(page.locator("#status-pill")).to_have_text("Personal data erased")
    expect(page.locator("#delegate-name")).to_have_text("Your registration")
    expect(page.locator("#badge")).to_be_hidden()
    for gone in ("name", "email", "organisation", "city"):
        expect(page.locator(f"#fact-{gone}")).to_be_hidden()
    expect(page.locator("#fact-country-value")).to_have_text("Mexico")
    expect(page.get_by_role("button", name="Erase my data…")).to_be_hidden()
    expect(page.get_by_role("button", name="Download my data (JSON)")).to_be_visible()
    assert "Clara" not in page.locator("main").inner_text()
    assert stored(registration_server, created)["erased_at"]
    screenshot(page, "erased-phone")


def test_the_page_works_with_the_keyboard_alone(open_page, registration_server):
    created = register(registration_server)
    page = open_link(open_page, registration_server, created)
    expect(page.locator("#delegate-name")).to_have_text("Clara Brugada Molina")

    order = []
    for _ in range(6):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.text"))
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid", f"no visible focus on {order[-1]}"
    assert order == [
        "English",
        "简体中文",
        "badge-pdf",
        "correct-start",
        "cancel-start",
        "data-download",
    ]

    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # Correct my details
    expect(page.locator("#correct-title")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Given name", exact=True)).to_be_focused()
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select')].filter(e => !e.labels.length)"
        ".map(e => e.id)"
    )
    assert unlabelled == []
