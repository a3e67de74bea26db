"""The organisers' live headcount page as it hangs on a projector: headless Chromium against
checkin on gunicorn (as the Procfile runs it); scans go through the HTTP API and the page must
follow without a reload. Screenshots land in test-artifacts/dashboard/."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests

from rollcall import demo
from services import checkin, notify, registration
from tests.conftest import fresh_database, make_settings
from tests.integration.conftest import Forum, bearer
from tests.integration.test_live_headcount import checkin_on_gunicorn
from tests.support.processes import ROOT

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips these tests (fails them in CI) and says why
    expect = None

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
SCREENS = {"projector": (1920, 1080), "laptop": (1366, 768), "phone": (390, 844)}
SLUG = demo.FORUM.slug


@dataclass(frozen=True)
class Stack:
    url: str
    forum: Forum
    creds: dict

    def delegate(self, category: str = "mayor", **fields) -> str:
        """Register someone; returns their badge token, once checkin has it."""
        email = f"dash-{uuid.uuid4().hex[:10]}@example.org"
        person = self.forum.register(category=category, email=email, **fields)
        return self.forum.badge_token(person["id"])

    def scan(self, token: str, scanner: str) -> dict:
        answer = requests.post(
            f"{self.url}/api/v1/scans",
            json={"token": token, "direction": "in"},
            headers=bearer(scanner),
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def headcount(self) -> dict:
        return requests.get(
            f"{self.url}/api/v1/events/{SLUG}/headcount",
            headers=bearer(self.forum.organizer_token),
            timeout=5,
        ).json()

    def organiser(self, method: str, path: str, body: dict) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}/api/v1/events/{SLUG}/{path}",
            json=body,
            headers=bearer(self.forum.organizer_token),
            timeout=5,
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request, redis_url, badge_keys) -> Iterator[Stack]:
    """The demo event on SQLite; registration in-process (to register delegates), checkin on
    gunicorn (what the browser talks to)."""
    directory = tmp_path_factory.mktemp("dashboard")
    with fresh_database("sqlite", directory, request) as database_url:
        settings = make_settings(directory, database_url, redis_url, badge_keys)
        for service in (registration, checkin, notify):
            service.migrate(settings)
        creds = demo.seed(settings)
        apps = [registration.create_app(settings), checkin.create_app(settings)]
        forum = Forum(
            settings,
            apps[0].test_client(),
            apps[1].test_client(),
            creds["organizer_token"],
            creds["scanner_tokens"],
        )
        forum.replicate()
        try:
            with checkin_on_gunicorn(settings, directory) as url:
                yield Stack(url, forum, creds)
        finally:
            for app in apps:
                for resources in app.extensions.values():
                    if hasattr(getattr(resources, "db", None), "engine"):
                        resources.db.engine.dispose()


@pytest.fixture
def open_dashboard(chromium, stack):
    """`open_dashboard(screen="projector", locale="en-GB")`: the page in a fresh context. Fails
    the test afterwards on any script error or CSP violation the page reported."""
    contexts, problems = [], []

    def open_(screen: str = "projector", locale: str = "en-GB", path: str = f"/dashboard/{SLUG}"):
        width, height = SCREENS[screen]
        context = chromium.new_context(
            locale=locale,
            viewport={"width": width, "height": height},
            device_scale_factor=2 if screen == "phone" else 1,
            is_mobile=screen == "phone",
            has_touch=screen == "phone",
            reduced_motion="reduce",  # bars at their width at once, for the screenshots
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda m: (
                problems.append(f"console: {m.text}")
                if m.type == "error" and "Failed to load resource" not in m.text
                else None
            ),
        )
        page.goto(stack.url + path)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert problems == []


def sign_in(page, token: str, label: str = "Organiser token", button: str = "Sign in") -> None:
    page.get_by_label(label).fill(token)
    page.get_by_role("button", name=button).click()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_dashboard_shows_the_numbers_and_follows_a_scan_without_reload(stack, open_dashboard):
    token = stack.delegate("mayor", country="BR")
    before = stack.headcount()
    page = open_dashboard("projector")

    sign_in(page, stack.forum.organizer_token)

    expect(page.locator("#status")).to_have_text("Live", timeout=5000)
    inside = page.locator("#total-inside")
    expect(inside).to_have_text(str(before["inside"]))
    expect(page.locator("#total-registered")).to_have_text(str(before["registered"]))
    expect(page.locator("#areas")).to_contain_text("Plenary hall")
    expect(page.locator("#gates")).to_contain_text("North")
    expect(page.locator("#categories")).to_contain_text("Mayor")

    answer = stack.scan(token, stack.creds["scanner_tokens"]["North"])
    answered = time.monotonic()
    assert answer["result"] == "admitted"
    expect(inside).to_have_text(str(before["inside"] + 1), timeout=2000)
    latency = time.monotonic() - answered
    print(f"\ndashboard: scan answered → page showed inside={before['inside'] + 1} "
          f"in {latency * 1000:.0f} ms")  # fmt: skip
    assert latency < 1.0
    expect(page.locator("#countries")).to_contain_text("Brazil")
    expect(page.locator("#chart .col")).to_have_count(18)
    expect(page.locator("#chart .col.now")).not_to_have_text("")
    assert fits_the_screen(page)
    screenshot(page, "projector-en")


def test_an_area_at_its_capacity_shows_the_alarm(stack, open_dashboard):
    lounge = stack.headcount()["by_area"]["vip-lounge"]
    capacity = lounge["inside"] + 1
    assert stack.organiser("PATCH", "areas/vip-lounge", {"capacity": capacity}).ok
    page = open_dashboard("projector")
    sign_in(page, stack.forum.organizer_token)
    expect(page.locator("#status")).to_have_text("Live", timeout=5000)
    expect(page.locator("#alarms")).not_to_contain_text("VIP lounge")

    token = stack.delegate("speaker")
    stack.scan(token, stack.creds["area_scanner_tokens"]["VIP Lounge"])

    alarm = page.get_by_role("alert").filter(has_text="VIP lounge is at capacity")
    expect(alarm).to_be_visible(timeout=2000)
    row = page.locator('#areas [data-code="vip-lounge"]')
    expect(row).to_have_class("area level-alarm")
    expect(row).to_contain_text("FULL")
    screenshot(page, "projector-alarm-en")
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
    page.set_viewport_size({"width": 1366, "height": 768})
    assert fits_the_screen(page)
    screenshot(page, "laptop-alarm-en")


def test_an_offline_sync_conflict_is_listed_and_resolved_with_a_note(stack, open_dashboard):
    token = stack.delegate("delegate", given_name="Σίμος", family_name="Ρούσσος")
    start = datetime.now(UTC) - timedelta(minutes=30)
    for gate, minutes in (("East", 0), ("South", 2)):
        queued = {"id": str(uuid.uuid4()), "token": token, "direction": "in"}
        queued["scanned_at"] = (start + timedelta(minutes=minutes)).isoformat()
        synced = requests.post(
            f"{stack.url}/api/v1/scans/batch",
            json={"scans": [queued]},
            headers=bearer(stack.creds["scanner_tokens"][gate]),
            timeout=5,
        )
        assert synced.status_code == 200
    page = open_dashboard("laptop")
    sign_in(page, stack.forum.organizer_token)

    item = page.locator(".conflict").filter(has_text="Σίμος Ρούσσος")
    expect(item).to_be_visible(timeout=5000)
    expect(item).to_contain_text("East")
    screenshot(page, "laptop-conflict-en")
    item.get_by_role("button", name="Resolve").click()
    item.get_by_label("Note").fill("Same person: East let them in first.")
    item.get_by_role("button", name="Mark resolved").click()
    expect(item).to_have_count(0, timeout=3000)
    open_ = stack.organiser("GET", "conflicts?resolved=false", None).json()["conflicts"]
    assert all(c["badge"]["display_name"] != "Σίμος Ρούσσος" for c in open_)


def test_the_page_in_chinese_and_switching_to_english_in_place(stack, open_dashboard):
    page = open_dashboard("laptop", locale="zh-CN")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    sign_in(page, stack.forum.organizer_token, label="组织者令牌", button="登录")
    expect(page.locator("#status")).to_have_text("实时", timeout=5000)
    expect(page.get_by_role("heading", name="当前在场")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    assert fits_the_screen(page)
    screenshot(page, "laptop-zh")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Inside now")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Live")
    assert "lang=en" in page.url


def test_a_phone_shows_it_in_one_column(stack, open_dashboard):
    page = open_dashboard("phone", locale="zh-CN")
    sign_in(page, stack.forum.organizer_token, label="组织者令牌", button="登录")
    expect(page.locator("#status")).to_have_text("实时", timeout=5000)
    expect(page.locator("#total-inside")).not_to_have_text("–")  # the numbers have arrived
    expect(page.locator("#vips .vip").first).to_be_visible()
    assert fits_the_screen(page)
    screenshot(page, "phone-zh")


def test_a_wrong_token_is_told_so_and_nothing_is_kept(stack, open_dashboard):
    page = open_dashboard("laptop")
    sign_in(page, stack.creds["scanner_tokens"]["North"])
    expect(page.get_by_role("alert").filter(has_text="not an organiser token")).to_be_visible()
    sign_in(page, "rc_org_made-up")
    expect(page.get_by_role("alert").filter(has_text="This token is not valid.")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    expect(page.locator("#board")).to_be_hidden()


def test_a_vip_arrival_shows_with_its_name_and_hide_names_hides_it_for_the_tab(
    stack, open_dashboard
):
    earlier = [
        stack.delegate("mayor", given_name=given, family_name=family, language=lang)
        for given, family, lang in (
            ("小明", "王", "zh"), ("Σίμος", "Ρούσσος", "en"), ("Anne", "Hidalgo", "en"),
            ("Sadiq", "Khan", "en"), ("Yuriko", "Koike", "en"), ("Eduardo", "Paes", "en"),
            ("Giuseppe", "Sala", "en"), ("Ada", "Colau Ballano", "en"),
        )
    ]  # fmt: skip
    for token in earlier:  # the list keeps the latest six
        stack.scan(token, stack.creds["scanner_tokens"]["North"])
    vip = stack.delegate("mayor", given_name="Claudia", family_name="Sheinbaum Pardo")
    plain = stack.delegate("delegate", given_name="Ordinary", family_name="Delegate")
    page = open_dashboard("projector")
    sign_in(page, stack.forum.organizer_token)
    expect(page.locator("#status")).to_have_text("Live", timeout=5000)
    panel = page.locator("#vips")

    assert stack.scan(plain, stack.creds["scanner_tokens"]["East"])["result"] == "admitted"
    assert stack.scan(vip, stack.creds["scanner_tokens"]["VIP"])["result"] == "admitted"
    newest = panel.locator(".vip").first
    expect(newest).to_contain_text("Claudia Sheinbaum Pardo", timeout=2000)
    expect(newest).to_contain_text("Mayor or governor")
    expect(newest).to_contain_text("VIP · Venue")
    expect(panel.locator(".vip")).to_have_count(6)
    expect(panel).not_to_contain_text("Hidalgo")  # the seventh newest
    expect(newest.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    expect(panel).not_to_contain_text("Ordinary Delegate")
    expect(page.locator("#no-vips")).to_be_hidden()
    screenshot(page, "projector-vips-en")
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
    assert fits_the_screen(page)

    toggle = page.get_by_role("button", name="Hide names")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(panel).not_to_contain_text("Claudia Sheinbaum Pardo")
    expect(newest).to_contain_text("Name hidden")
    expect(newest).to_contain_text("Mayor or governor")
    screenshot(page, "projector-vips-hidden-en")

    page.reload()  # remembered for the tab, and so is the sign-in
    expect(page.locator("#status")).to_have_text("Live", timeout=5000)
    expect(page.locator("#vips .vip").first).to_contain_text("Name hidden")
    expect(panel).not_to_contain_text("Claudia Sheinbaum Pardo")

    page.get_by_role("link", name="简体中文").click()
    expect(page.get_by_role("button", name="隐藏姓名")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#vips .vip").first).to_contain_text("市长或州长")
    page.get_by_role("button", name="隐藏姓名").click()
    expect(page.locator("#vips .vip").first).to_contain_text("Claudia Sheinbaum Pardo")
    screenshot(page, "projector-vips-zh")
