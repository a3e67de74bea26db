"""Headless Chromium (Debian's, driven by Playwright for Python) against the registration
service running as a real gunicorn process on a migrated, seeded database.

Without Playwright or Chromium these tests skip, saying why; with CI=true they fail instead."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from rollcall import demo
from tests.conftest import IN_CI, fresh_database
from tests.support.processes import ROOT, free_port, start_process, stop_process, wait_until

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/lib/chromium/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts" / "registration-page"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


@pytest.fixture(scope="session")
def playwright_driver():
    """Playwright, once per session: its sync API cannot be started twice in one process.
    Skips the browser tests when there is no browser (fails them in CI), saying why."""
    missing = _missing()
    if missing:
        message = f"browser tests need a browser: {missing}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def chromium(playwright_driver):
    """One headless Chromium for the session; each test opens its own context."""
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()


@dataclass(frozen=True)
class Server:
    url: str
    event: str

    def page_url(self, slug: str | None = None) -> str:
        return f"{self.url}/events/{slug or self.event}/register"

    def register(self, body: dict) -> requests.Response:
        return requests.post(
            f"{self.url}/api/v1/events/{self.event}/registrations", json=body, timeout=10
        )


@pytest.fixture(scope="module")
def registration_server(tmp_path_factory, request, redis_url, badge_keys) -> Iterator[Server]:
    """The registration service on gunicorn, its SQLite database migrated and the demo event
    (gmf2023) seeded. The page reads nothing else, so one database kind is enough here."""
    from services import checkin, notify, registration
    from shared.config import Settings

    directory = tmp_path_factory.mktemp("registration-page")
    with fresh_database("sqlite", directory, request) as database_url:
        private, public = badge_keys
        env = {
            "VAR_DIR": str(directory / "var"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "BADGE_SIGNING_KEY": private,
            "BADGE_VERIFY_KEYS": public,
        }
        settings = Settings.from_env(env)
        for service in (registration, checkin, notify):
            service.migrate(settings)
        demo.seed(settings)

        port = free_port()
        child_env = {
            k: v for k, v in os.environ.items() if not k.endswith(("REDIS_URL", "DATABASE_URL"))
        }
        log = directory / "gunicorn.log"
        process = start_process(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
            + ["services.registration:create_app()"],
            {**child_env, **env},
            log,
        )
        server = Server(f"http://127.0.0.1:{port}", demo.FORUM.slug)
        try:
            wait_until(
                lambda: (
                    process.poll() is None
                    and requests.get(server.page_url(), timeout=2).status_code == 200
                ),
                timeout=30,
                what=f"the registration page on port {port} (log: {log})",
            )
            yield server
        finally:
            stop_process(process)


@pytest.fixture
def open_page(chromium, registration_server):
    """`open_page(locale="en-GB", viewport="desktop")`: a page in a fresh browser context (its
    Accept-Language from `locale`), on the registration page unless `navigate=False`. After
    the test, fails on any script error or Content-Security-Policy violation it reported,
    but those naming something in `tolerate`."""
    contexts, problems = [], []

    def open_(
        locale: str = "en-GB",
        viewport: str = "desktop",
        navigate: bool = True,
        tolerate: tuple[str, ...] = (),
    ):
        width, height = VIEWPORTS[viewport]
        context = chromium.new_context(
            locale=locale,
            viewport={"width": width, "height": height},
            device_scale_factor=2 if viewport == "phone" else 1,
            is_mobile=viewport == "phone",
            has_touch=viewport == "phone",
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"console: {message.text}")
                if message.type == "error"
                and "Failed to load resource" not in message.text
                and not any(known in message.text for known in tolerate)
                else None
            ),
        )
        if navigate:
            page.goto(registration_server.page_url())
        return page

    yield open_
    for context in contexts:
        context.close()
    assert problems == []


def screenshot(page, name: str) -> Path:
    """A full-page PNG in test-artifacts/registration-page/, for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
