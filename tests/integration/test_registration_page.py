"""The public registration page through the Flask test client, on SQLite and on PostgreSQL:
both languages, escaping, the 404 page, the security headers (the browser tests in
tests/browser/ drive the same page in Chromium)."""

from __future__ import annotations

from datetime import date
from html.parser import HTMLParser

import pycountry
import pytest

from rollcall import demo
from services import registration
from services.registration import pages
from services.registration.models import Category, Event

pytestmark = pytest.mark.integration

PAGE = "/events/gmf2023/register"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.fixture
def app(settings, build_app):
    demo.seed(settings)
    return build_app(registration, settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.mark.parametrize(
    ("query", "accept_language", "lang", "submit", "china"),
    [
        ("", None, "en", "Register", "China"),
        ("", "en-GB,en;q=0.9", "en", "Register", "China"),
        ("", "zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans", "提交报名", "中国"),
        ("", "zh-TW", "zh-Hans", "提交报名", "中国"),
        ("?lang=zh", "en-GB", "zh-Hans", "提交报名", "中国"),
        ("?lang=en", "zh-CN", "en", "Register", "China"),
        ("?lang=xx", "zh-CN", "zh-Hans", "提交报名", "中国"),
    ],
)
def test_the_page_speaks_the_asked_or_the_browsers_language(
    client, query, accept_language, lang, submit, china
):
    headers = {"Accept-Language": accept_language} if accept_language else {}

    response = client.get(PAGE + query, headers=headers)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Language"] == lang
    assert "Accept-Language" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    assert f">{submit}</button>" in html
    assert f'<option value="CN">{china}</option>' in html
    # The event's and the categories' own words in the page's language.
    if lang == "en":
        assert '<option value="mayor">Mayor or governor</option>' in html
        assert "Global Mayors&#39; Forum 2023" in html
    else:
        assert '<option value="mayor">市长或州长</option>' in html
        assert "2023年全球市长论坛" in html
    assert 'data-endpoint="/api/v1/events/gmf2023/registrations"' in html


@pytest.mark.parametrize(("lang", "link"), [("en", "personal link"), ("zh", "专属链接")])
def test_the_registration_code_note_tells_that_every_mail_carries_it_in_a_link(client, lang, link):
    # Every mail carries the manage link with the code (services/notify/messages.py); the page
    # once told delegates the opposite, so some copied a code they already had in their mail.
    html = client.get(f"{PAGE}?lang={lang}").get_data(as_text=True)
    note = html.split('id="token-help"', 1)[1].split("</p>", 1)[0]
    assert link in note
    assert "not in the e-mail" not in note and "不会包含在邮件中" not in note


def test_every_country_the_api_accepts_is_offered_with_a_name_in_both_languages():
    codes = {country.alpha_2 for country in pycountry.countries}
    for lang in ("en", "zh"):
        offered = dict(pages.countries(lang))
        assert set(offered) == codes
        assert all(name and name != code for code, name in offered.items())
    assert dict(pages.countries("zh"))["GR"] == "希腊"
    english = [name for _code, name in pages.countries("en")]
    assert english.index("Åland Islands") < english.index("Albania")  # accents sort as letters


def test_a_hostile_event_name_is_shown_as_text(app, client):
    hostile = '<script>alert("name")</script> & <b>Forum</b>'
    with app.extensions["registration"].db.sessions.begin() as session:
        session.add(
            Event(
                slug="hostile",
                name=hostile,
                venue='"><img src=x onerror=alert(1)>',
                timezone="Asia/Shanghai",
                starts_on=date(2024, 5, 1),
                ends_on=date(2024, 5, 2),
                categories=[Category(code="guest", label="<i>Guest</i>", position=0)],
            )
        )

    response = client.get("/events/hostile/register")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "<i>Guest</i>" not in html
    assert (
        "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt; &amp; &lt;b&gt;Forum&lt;/b&gt;" in html
    )
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<option value="guest">&lt;i&gt;Guest&lt;/i&gt;</option>' in html


@pytest.mark.parametrize(
    ("accept_language", "first", "second"),
    [("en-GB", "Event not found", "未找到该活动"), ("zh-CN", "未找到该活动", "Event not found")],
)
def test_an_unknown_event_gets_a_friendly_404_page_in_both_languages(
    client, accept_language, first, second
):
    response = client.get("/events/<b>nope/register", headers={"Accept-Language": accept_language})

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert html.index(f">{first}</h1>") < html.index(f">{second}</h2>")
    assert "<b>nope" not in html  # the address is not echoed at all


@pytest.mark.parametrize("path", [PAGE, "/events/nope/register", "/static/register.js"])
def test_pages_and_their_files_are_sent_with_the_security_headers(client, path):
    with client.get(path) as response:
        for header, value in SECURITY_HEADERS.items():
            assert response.headers[header] == value


class _InlineCode(HTMLParser):
    """Finds what `default-src 'self'` would block: inline scripts, styles and handlers."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self.assets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "style" or "style" in attributes:
            self.problems.append(f"inline style in <{tag}>")
        self.problems += [f"handler {name} in <{tag}>" for name in attributes if name[:2] == "on"]
        executable = attributes.get("type") != "application/json"  # JSON data never runs
        if tag == "script" and executable and not attributes.get("src"):
            self.problems.append("inline <script>")
        url = attributes.get("src") or (attributes.get("href") if tag == "link" else None)
        if url:
            self.assets.append(url)


@pytest.mark.parametrize("path", [PAGE, "/events/nope/register"])
def test_pages_need_nothing_the_content_security_policy_forbids(client, path):
    parser = _InlineCode()
    parser.feed(client.get(path).get_data(as_text=True))

    assert parser.problems == []
    assert parser.assets, "the page links its script and style sheet"
    for url in parser.assets:
        assert url.startswith("/static/"), url  # our own origin, no CDN
        with client.get(url) as asset:
            assert asset.status_code == 200, url


def test_the_page_stays_out_of_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    assert not [path for path in paths if path.endswith("/register")]
    assert "/api/v1/events/{slug}/registrations" in paths
