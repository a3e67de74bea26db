"""The gate's scanner page (`/scan`) as gate staff use it, in headless Chromium against the real
registration and checkin services (gunicorn, one SQLite database, the demo event seeded):
a real QR badge read through Chromium's fake camera, a keyboard-wedge reader, the offline
queue and its sync, the Chinese page. Screenshots land in test-artifacts/scan-page/."""

from __future__ import annotations

import io
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from rollcall import demo
from services.checkin import replica
from services.checkin.models import Scan
from services.registration.models import outbox as registration_outbox
from shared import db
from shared.badges import qr_png
from shared.config import Settings
from shared.events import as_batch, parse, queue_of
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, VIEWPORTS
from tests.conftest import fresh_database
from tests.support.processes import ROOT, free_port, start_process, stop_process, wait_until

try:
    from playwright.sync_api import expect
except ImportError:  # the `playwright_driver` fixture skips these tests (fails them in CI)
    expect = None

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts" / "scan-page"
CAMERA_FLAGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@dataclass
class Gates:
    """Registration and checkin serving one database, with registration's events carried to
    checkin's replica on demand (as the relay and the checkin worker do a moment later)."""

    settings: Settings
    registration_url: str
    checkin_url: str
    credentials: dict
    published: list = field(default_factory=list)

    @property
    def scan_url(self) -> str:
        return f"{self.checkin_url}/scan"

    def replicate(self) -> None:
        batch: list[tuple[str, dict]] = []
        engine = db.make_engine(self.settings.registration_database_url)
        try:
            registration_outbox.relay_once(
                engine, lambda task, msg: batch.extend((task, e) for e in as_batch(msg))
            )
        finally:
            engine.dispose()
        checkin_engine = db.make_engine(self.settings.checkin_database_url)
        try:
            for task, envelope in batch:
                if queue_of(task) == "checkin":
                    with db.make_sessions(checkin_engine).begin() as session:
                        replica.apply(session, *parse(envelope))
        finally:
            checkin_engine.dispose()
        self.published += batch

    def badge(self, **fields) -> tuple[int, str, str]:
        """Register a confirmed delegate; (badge id, token, display name), replicated."""
        body = {
            "given_name": "Clara",
            "family_name": "Brugada",
            "email": f"gate-{uuid.uuid4().hex[:10]}@example.org",
            "organisation": "Alcaldía de Iztapalapa",
            "city": "Iztapalapa",
            "country": "MX",
            "category": "mayor",
            "language": "en",
            "consent": True,
            **fields,
        }
        response = requests.post(
            f"{self.registration_url}/api/v1/events/gmf2023/registrations", json=body, timeout=10
        )
        assert response.status_code == 201, response.text
        registration_id = response.json()["id"]
        self.replicate()
        for _task, envelope in reversed(self.published):
            payload = envelope["payload"]
            if (payload.get("delegate") or {}).get("id") == registration_id and payload.get(
                "badge"
            ):
                return payload["badge"]["id"], payload["badge"]["token"], payload["delegate"]
        raise AssertionError(f"no badge published for registration {registration_id}")

    def logged(self, badge_id: int) -> list[Scan]:
        """The scan log's entries for a badge, oldest first."""
        engine = db.make_engine(self.settings.checkin_database_url)
        try:
            with db.make_sessions(engine)() as session:
                return list(
                    session.scalars(select(Scan).where(Scan.badge_id == badge_id).order_by(Scan.id))
                )
        finally:
            engine.dispose()

    def log_size(self) -> int:
        engine = db.make_engine(self.settings.checkin_database_url)
        try:
            with db.make_sessions(engine)() as session:
                return session.scalar(select(func.count()).select_from(Scan))
        finally:
            engine.dispose()


def _serve(app: str, env: dict, log: Path) -> tuple:
    port = free_port()
    process = start_process(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        + ["--threads", "4", app],
        env,
        log,
    )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def gates(tmp_path_factory, request, redis_url, badge_keys) -> Iterator[Gates]:
    from services import checkin, notify, registration

    directory = tmp_path_factory.mktemp("scan-page")
    with fresh_database("sqlite", directory, request) as database_url:
        private, public = badge_keys
        env = {
            "VAR_DIR": str(directory / "var"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "BADGE_SIGNING_KEY": private,
            "BADGE_VERIFY_KEYS": public,
            "REGISTRATION_RATE_LIMIT": "0",
        }
        settings = Settings.from_env(env)
        for service in (registration, checkin, notify):
            service.migrate(settings)
        credentials = demo.seed(settings)
        child_env = {
            k: v for k, v in os.environ.items() if not k.endswith(("REDIS_URL", "DATABASE_URL"))
        }
        processes = []
        try:
            reg, reg_url = _serve(
                "services.registration:create_app()", {**child_env, **env}, directory / "reg.log"
            )
            processes.append(reg)
            chk, chk_url = _serve(
                "services.checkin:create_app()", {**child_env, **env}, directory / "chk.log"
            )
            processes.append(chk)
            for url, log in ((reg_url, "reg.log"), (chk_url, "chk.log")):
                wait_until(
                    lambda url=url: requests.get(f"{url}/healthz", timeout=2).status_code == 200,
                    timeout=30,
                    what=f"{url} (log: {directory / log})",
                )
            yield Gates(settings, reg_url, chk_url, credentials)
        finally:
            for process in processes:
                stop_process(process)


@pytest.fixture
def launch(playwright_driver):
    """`launch(video=None)`: a Chromium whose fake camera shows `video` (a .y4m file), or
    Chromium's own test pattern."""
    browsers = []

    def launch_(video: Path | None = None):
        flags = CHROMIUM_FLAGS + CAMERA_FLAGS
        if video is not None:
            flags = [*flags, f"--use-file-for-fake-video-capture={video}"]
        browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=flags)
        browsers.append(browser)
        return browser

    yield launch_
    for browser in browsers:
        browser.close()


@pytest.fixture
def open_scanner(launch, gates):
    """`open_scanner(gate="North", viewport="desktop", locale="en-GB", video=None)`: the
    scanner page signed in with that gate's token, its badge list loaded. After the test,
    fails on any script error or CSP violation the page reported."""
    problems = []

    def open_(
        gate: str = "North",
        viewport: str = "desktop",
        locale: str = "en-GB",
        video: Path | None = None,
        camera: bool = False,
    ):
        width, height = VIEWPORTS[viewport]
        context = launch(video).new_context(
            locale=locale,
            viewport={"width": width, "height": height},
            device_scale_factor=2 if viewport == "phone" else 1,
            is_mobile=viewport == "phone",
            has_touch=viewport == "phone",
        )
        context.grant_permissions(["camera"], origin=gates.checkin_url)
        if not camera:  # the test pattern of the fake camera would only cost CPU here
            context.add_init_script(
                "localStorage.setItem('rollcall.scan.prefs', JSON.stringify({camera: false}))"
            )
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"console: {message.text}")
                if message.type == "error" and "Failed to load resource" not in message.text
                else None
            ),
        )
        page.goto(gates.scan_url)
        page.fill("#token", gates.credentials["scanner_tokens"][gate])
        page.locator("#sign-in-button").click()
        expect(page.locator("#scanner")).to_be_visible()
        expect(page.locator("#list-info")).to_contain_text(
            "updated" if locale.startswith("en") else "更新"
        )
        return page

    yield open_
    assert problems == []


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"scan-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def badge_video(token: str, path: Path, shown: int = 10, blank: int = 30) -> Path:
    """A 640×480 y4m video at 10 frames a second: the badge's QR code for `shown` frames, then
    a white frame for `blank` (the badge taken away), looping as Chromium plays it."""
    from PIL import Image

    qr = Image.open(io.BytesIO(qr_png(token, box_size=6))).convert("L")
    frame = Image.new("L", (640, 480), 255)
    frame.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
    chroma = bytes([128]) * (320 * 240 * 2)
    with path.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for picture in [frame.tobytes()] * shown + [bytes([255]) * (640 * 480)] * blank:
            out.write(b"FRAME\n" + picture + chroma)
    return path


def forged(token: str) -> str:
    """The token with one character of its signature changed (still well-formed base32)."""
    middle = 60
    swapped = "B" if token[middle] != "B" else "C"
    return token[:middle] + swapped + token[middle + 1 :]


def result(page):
    return page.locator("#result")


def test_camera_reads_a_real_badge_green_then_red_already_inside(open_scanner, gates, tmp_path):
    badge_id, token, delegate = gates.badge(given_name="Amara", family_name="Okafor")
    video = badge_video(token, tmp_path / "badge.y4m")

    page = open_scanner(video=video, camera=True)

    expect(result(page)).to_have_attribute("data-result", "admitted", timeout=20_000)
    expect(result(page)).to_have_class("result result--pass")
    expect(page.locator("#result-name")).to_have_text("Amara Okafor")
    expect(page.locator("#result-category")).to_have_text("Mayor or governor")
    expect(page.locator("#result-photo")).to_have_text("AO")
    expect(page.locator("#announcer")).to_contain_text("Admitted")
    assert page.evaluate("document.body.dataset.lastSound") == "green"
    screenshot(page, "green-desktop")

    # The badge leaves the picture and comes back: the second read is red.
    expect(result(page)).to_have_attribute("data-result", "already_inside", timeout=20_000)
    expect(result(page)).to_have_class("result result--stop")
    expect(page.locator("#result-message")).to_contain_text("Already inside since")
    expect(page.locator("#result-message")).to_contain_text("North gate")
    assert page.evaluate("document.body.dataset.lastSound") == "red"
    screenshot(page, "red-desktop")
    results = [scan.result for scan in gates.logged(badge_id)]
    assert results[:2] == ["admitted", "already_inside"]


def test_keyboard_wedge_reads_and_a_double_read_within_a_second_is_one_scan(open_scanner, gates):
    badge_id, token, _ = gates.badge(given_name="Lucía", family_name="Fernández")
    page = open_scanner(gate="South")
    expect(page.locator("#code")).to_be_focused()

    page.keyboard.type(token + "\n")
    # The reader fired twice on one badge: its second burst follows at once (inserted in one
    # event, as 123 synthetic key presses can take over a second on a loaded machine).
    page.keyboard.insert_text(token)
    page.keyboard.press("Enter")

    expect(result(page)).to_have_attribute("data-result", "admitted")
    expect(page.locator("#result-name")).to_have_text("Lucía Fernández")
    expect(page.locator("#recent-list li")).to_have_count(1)
    assert [scan.result for scan in gates.logged(badge_id)] == ["admitted"]

    # Keys typed while a button has the focus still reach the scanner; a later read of the
    # same badge (after the second) is a scan of its own.
    page.locator("label[for=direction-out]").click()
    page.locator("label[for=direction-in]").click()
    page.wait_for_timeout(1000)  # the reader's double-read window must pass: what is tested
    page.keyboard.type(token + "\n")
    expect(result(page)).to_have_attribute("data-result", "already_inside")
    expect(page.locator("#recent-list li")).to_have_count(2)
    assert [scan.result for scan in gates.logged(badge_id)] == ["admitted", "already_inside"]


def test_offline_scans_are_judged_locally_queued_and_synced(open_scanner, gates):
    badge_id, token, _ = gates.badge(given_name="小明", family_name="王", language="zh")
    page = open_scanner(gate="East", viewport="phone")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    before = gates.log_size()

    page.context.set_offline(True)
    page.locator("#code").fill(token)
    page.locator("#code").press("Enter")
    expect(result(page)).to_have_attribute("data-result", "admitted")
    expect(result(page)).to_have_attribute("data-offline", "true")
    expect(page.locator("#result-tag")).to_be_visible()
    expect(page.locator("#result-name")).to_have_text("王小明")
    expect(page.locator("#result-photo")).to_have_text("王")
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    expect(page.locator("#queue")).to_have_text("1 scan waiting to sync")
    screenshot(page, "offline-green-phone")

    page.locator("#code").fill(forged(token))
    page.locator("#code").press("Enter")
    expect(result(page)).to_have_attribute("data-result", "invalid")
    expect(result(page)).to_have_class("result result--stop")
    expect(page.locator("#queue")).to_have_text("2 scans waiting to sync")
    screenshot(page, "offline-red-phone")
    assert gates.log_size() == before

    # Without a network the page reloads from its service worker, still signed in, queue kept.
    response = page.reload()
    assert response is None or response.from_service_worker
    expect(page.locator("#scanner")).to_be_visible()
    expect(page.locator("#queue")).to_have_attribute("data-count", "2")

    page.context.set_offline(False)
    expect(page.locator("#queue")).to_have_attribute("data-count", "0", timeout=15_000)
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    logged = gates.logged(badge_id)
    assert [(s.result, s.source) for s in logged] == [("admitted", "offline")]
    assert gates.log_size() == before + 2  # and the forged one, as invalid


def test_offline_verdict_the_server_overrules_is_shown_after_sync(open_scanner, gates):
    badge_id, token, _ = gates.badge(given_name="Jonas", family_name="Berg")
    # Another gate admitted the badge while this one was cut off.
    requests.post(
        f"{gates.checkin_url}/api/v1/scans",
        json={"token": token},
        headers={"Authorization": f"Bearer {gates.credentials['scanner_tokens']['South']}"},
        timeout=10,
    ).raise_for_status()
    page = open_scanner(gate="VIP")
    page.context.set_offline(True)
    page.keyboard.type(token + "\n")
    expect(result(page)).to_have_attribute("data-result", "admitted")
    page.context.set_offline(False)
    expect(page.locator("#queue")).to_have_attribute("data-count", "0", timeout=15_000)
    expect(page.locator("#verdicts")).to_be_visible()
    expect(page.locator("#verdict-list")).to_contain_text("Jonas Berg")
    expect(page.locator("#verdict-list")).to_contain_text("Already inside")
    assert [s.result for s in gates.logged(badge_id)] == ["admitted", "already_inside"]


def test_chinese_page_from_the_browser_language_and_switchable(open_scanner, gates):
    _, token, _ = gates.badge(given_name="Ana", family_name="Souza")
    page = open_scanner(viewport="phone", locale="zh-CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page).to_have_title("入口扫码")
    expect(page.locator("label[for=direction-in]")).to_have_text("进场")
    page.locator("#code").fill(token)
    page.locator("#code").press("Enter")
    expect(page.locator("#result-word")).to_have_text("准予进入")
    expect(page.locator("#result-message")).to_have_text("欢迎。")
    screenshot(page, "green-phone-zh")

    page.locator("label[for=direction-out]").click()
    page.keyboard.type(token + "\n")
    expect(page.locator("#result-word")).to_have_text("已登记离场")
    expect(page.locator("#result-message")).to_have_text("再见。")

    page.keyboard.type(forged(token) + "\n")
    expect(page.locator("#result-word")).to_have_text("无效参会证")
    expect(page.locator("#result-message")).to_have_text("不是有效的参会证：二维码已损坏或系伪造。")
    screenshot(page, "red-phone-zh")

    page.locator("button[data-lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#result-word")).to_have_text("Invalid badge")
    expect(page.locator("label[for=direction-in]")).to_have_text("In")


def test_sign_in_refuses_a_wrong_token_and_sign_out_forgets_the_device(launch, gates):
    page = launch().new_page()
    page.goto(gates.scan_url)
    page.fill("#token", "rc_scn_not-a-real-token")
    page.locator("#sign-in-button").click()
    expect(page.locator("#token-error")).to_have_text(
        "This token is not valid here. Check it, or ask the organisers for a new one."
    )
    expect(page.locator("#token")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "sign-in-error-desktop")

    page.fill("#token", gates.credentials["scanner_tokens"]["North"])
    page.locator("#token").press("Enter")
    expect(page.locator("#device")).to_have_text("North gate · Venue")
    page.reload()
    expect(page.locator("#scanner")).to_be_visible()  # kept on the device
    page.locator("#sign-out").click()
    expect(page.locator("#sign-in")).to_be_visible()
    assert (
        page.evaluate(
            "Object.keys(localStorage).filter(k => k.startsWith('rollcall.scan.') && "
            "k !== 'rollcall.scan.prefs')"
        )
        == []
    )
