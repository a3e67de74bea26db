"""The scanner page as the checkin service serves it: the HTML shell in each language, no
token or inline script in it, its service worker and every asset that worker keeps, and the
category labels the page shows from the offline list. The page at work is in
tests/browser/test_scan_page.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services import checkin
from services.checkin.scan_page import SHELL_ASSETS
from tests.integration.conftest import bearer


@pytest.fixture
def client(settings, build_app):
    return build_app(checkin, settings).test_client()


def page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


@pytest.mark.parametrize(
    ("headers", "query", "lang", "title"),
    [
        ({}, "", "en", "Gate scanner"),
        ({"Accept-Language": "zh-CN,zh;q=0.9"}, "", "zh-Hans", "入口扫码"),
        ({"Accept-Language": "en-GB"}, "?lang=zh", "zh-Hans", "入口扫码"),
        ({"Accept-Language": "zh-CN"}, "?lang=en", "en", "Gate scanner"),
    ],
)
def test_scan_page_speaks_the_browsers_language_or_the_one_asked(
    client, headers, query, lang, title
):
    response = client.get(f"/scan{query}", headers=headers)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert f"<title>{title}</title>" in html
    assert response.headers["Content-Language"] == lang
    assert "Accept-Language" in response.headers["Vary"]
    # Both languages travel with the page, so switching needs no network.
    assert set(page_data(html)["text"]) == {"en", "zh"}


def test_scan_page_has_no_inline_script_no_token_and_a_strict_policy(client):
    response = client.get("/scan")

    html = response.get_data(as_text=True)
    policy = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "default-src 'self'" in policy
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all(
        'src="/scan/assets/' in s or 'type="application/json"' in s for s in scripts
    )
    assert not re.search(r"\bon[a-z]+=", html)  # no inline event handlers either
    assert not re.search(r"rc_(scn|org)_[A-Za-z0-9_-]{8,}", html)
    assert response.headers["Cache-Control"] == "no-cache"
    data = page_data(html)
    assert data["api"] == {
        "device": "/api/v1/device",
        "scan": "/api/v1/scans",
        "batch": "/api/v1/scans/batch",
        "offline": "/api/v1/events/SLUG/badges/offline",
    }


def test_service_worker_may_control_the_page_and_keeps_every_asset_it_needs(client):
    response = client.get("/scan/sw.js")

    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/scan"
    script = response.get_data(as_text=True)
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", script).group(1))
    assert shell[0] == "/scan"
    assert len(shell) == len(SHELL_ASSETS) + 1
    page = client.get("/scan").get_data(as_text=True)
    for url in shell[1:]:
        assert url in page  # the exact, content-hashed URL the page asks for
        asset = client.get(url)
        assert asset.status_code == 200, url
        asset.close()


def test_vendored_decoder_comes_with_its_licence_and_version():
    vendor = Path(checkin.__file__).parent / "static" / "vendor"
    assert (
        (vendor / "jsqr" / "LICENSE")
        .read_text()
        .startswith("                                 Apache")
    )
    assert "jsqr 1.4.0" in (vendor / "README.md").read_text()
    assert "jsQR" in (vendor / "jsqr" / "jsQR.js").read_text()[:2000]


def test_offline_list_names_each_category_for_the_scanner_page(forum):
    forum.register(category="media", given_name="Ines")
    forum.replicate()

    listed = forum.checkin.get(
        "/api/v1/events/gmf2023/badges/offline", headers=bearer(forum.scanner_tokens["North"])
    )

    assert listed.status_code == 200, listed.get_json()
    categories = {c["code"]: c for c in listed.get_json()["categories"]}
    assert categories["mayor"] == {
        "code": "mayor",
        "label": "Mayor or governor",
        "labels": {"zh": "市长或州长"},
        "colour": "#b3261e",
    }
    assert categories["media"]["label"] == "Media"
