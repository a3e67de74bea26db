"""The delegate's own page (`/manage/<id>`, the link in every mail) through the Flask test
client, on SQLite and on PostgreSQL: an HTML shell in either language that holds no personal
data, the same for every visitor, with the headers it needs (tests/browser/test_manage_page.py
drives it in Chromium)."""

from __future__ import annotations

import json
import re

import pytest

from rollcall import demo
from services import registration
from services.registration import pages
from tests.integration.conftest import delegate
from tests.integration.test_registration_page import SECURITY_HEADERS, _InlineCode

pytestmark = pytest.mark.integration

MANAGE_CSP = "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'"


@pytest.fixture
def app(settings, build_app):
    demo.seed(settings)
    return build_app(registration, settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def registered(client) -> dict:
    response = client.post(
        "/api/v1/events/gmf2023/registrations",
        json=delegate(
            given_name="Ζωή",
            family_name="Παπαδοπούλου-Marker",
            organisation="Δήμος Marker-Organisation",
            city="Marker-City",
            email="zoe.marker@example.org",
        ),
    )
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    corrected = client.patch(
        f"/api/v1/registrations/{created['id']}",
        json={"dietary": "Marker-dietary"},
        headers={"Authorization": f"Bearer {created['manage_token']}"},
    )
    assert corrected.status_code == 200, corrected.get_json()
    return created


def page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert found, "the page carries its texts and API addresses as JSON"
    return json.loads(found.group(1))


@pytest.mark.parametrize(
    ("query", "accept_language", "lang", "title"),
    [
        ("", None, "en", "Your registration"),
        ("", "zh-CN,zh;q=0.9", "zh-Hans", "我的报名"),
        ("?lang=zh", "en-GB", "zh-Hans", "我的报名"),
        ("?lang=en", "zh-CN", "en", "Your registration"),
    ],
)
def test_the_page_is_served_in_the_asked_or_the_browsers_language(
    client, registered, query, accept_language, lang, title
):
    headers = {"Accept-Language": accept_language} if accept_language else {}

    response = client.get(f"/manage/{registered['id']}{query}", headers=headers)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Language"] == lang
    assert "Accept-Language" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert f">{title}</h1>" in html


def test_the_html_holds_no_personal_data_even_for_the_delegate_themselves(client, registered):
    response = client.get(
        f"/manage/{registered['id']}",
        headers={"Authorization": f"Bearer {registered['manage_token']}"},
    )

    html = response.get_data(as_text=True)
    for secret in (
        registered["manage_token"],
        "Ζωή",
        "Παπαδοπούλου",
        "Marker",
        "zoe.marker",
    ):
        assert secret not in html, secret


def test_every_visitor_gets_the_same_page_whether_or_not_the_registration_exists(
    client, registered
):
    def shell(registration_id: int) -> str:
        html = client.get(f"/manage/{registration_id}").get_data(as_text=True)
        return html.replace(f"/registrations/{registration_id}", "/registrations/ID")

    real = client.get(f"/manage/{registered['id']}")
    unknown = client.get("/manage/987654")

    assert real.status_code == unknown.status_code == 200
    assert shell(registered["id"]) == shell(987654)


@pytest.mark.parametrize("path", ["/manage/0", "/manage/abc", f"/manage/{2**31}"])
def test_an_address_that_is_no_registration_number_is_not_found(client, path):
    assert client.get(path).status_code == 404


def test_the_page_calls_the_registrations_own_api_addresses(client, registered):
    number = registered["id"]
    api = page_data(client.get(f"/manage/{number}").get_data(as_text=True))["api"]

    assert api == {
        "registration": f"/api/v1/registrations/{number}",
        "cancel": f"/api/v1/registrations/{number}/cancel",
        "data": f"/api/v1/registrations/{number}/data",
        "erase": f"/api/v1/registrations/{number}/erase",
        "badge_png": f"/api/v1/registrations/{number}/badge.png",
        "badge_pdf": f"/api/v1/registrations/{number}/badge.pdf",
        "event": "/api/v1/events/SLUG",
    }
    bearer = {"Authorization": f"Bearer {registered['manage_token']}"}
    assert client.get(api["registration"], headers=bearer).status_code == 200
    assert client.get(api["badge_png"], headers=bearer).mimetype == "image/png"
    assert client.get(api["event"].replace("SLUG", "gmf2023")).status_code == 200


def test_the_page_has_every_text_in_both_languages(client):
    texts = page_data(client.get("/manage/1").get_data(as_text=True))["text"]

    assert set(texts) == {"en", "zh"}
    assert set(texts["en"]) == set(texts["zh"])
    assert all(texts["zh"].values())
    assert texts["zh"]["bad_token_title"] == "此链接无效"
    assert texts["en"]["badge_pdf"] == "Download printable badge (PDF)"


def test_the_page_is_sent_with_the_security_headers_and_may_show_blob_images(client):
    response = client.get("/manage/1")

    assert response.headers["Content-Security-Policy"] == MANAGE_CSP
    assert pages.MANAGE_CSP == MANAGE_CSP
    for header, value in SECURITY_HEADERS.items():
        if header != "Content-Security-Policy":
            assert response.headers[header] == value
    with client.get("/static/manage.js") as script:
        assert script.status_code == 200
        assert (
            script.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        )


def test_the_page_needs_nothing_the_content_security_policy_forbids(client):
    parser = _InlineCode()
    parser.feed(client.get("/manage/1").get_data(as_text=True))

    assert parser.problems == []
    assert any("manage.js" in url for url in parser.assets)
    for url in parser.assets:
        assert url.startswith("/static/"), url
        with client.get(url) as asset:
            assert asset.status_code == 200, url


def test_the_page_stays_out_of_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    assert not [path for path in paths if path.startswith("/manage")]
