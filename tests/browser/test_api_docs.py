"""The API documentation page works offline: ReDoc is served by the service itself."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_the_docs_page_renders_every_endpoint_without_leaving_the_server(
    open_page, registration_server
):
    # ReDoc's "by Redocly" logo points at their CDN; the page's CSP blocks it (that is the
    # one console error tolerated), so nothing is fetched from anywhere but the service.
    page = open_page(navigate=False, tolerate=("cdn.redoc.ly",))
    foreign: list[str] = []
    page.on(
        "response",
        lambda r: None if r.url.startswith(registration_server.url) else foreign.append(r.url),
    )

    page.goto(f"{registration_server.url}/docs")

    page.get_by_role("heading", name="Rollcall registration").wait_for()
    page.wait_for_function(
        "document.body.innerText.includes('/api/v1/events/{slug}/registrations')"
    )
    screenshot(page, "api-docs")
    assert [u for u in foreign if not u.startswith(("data:", "blob:"))] == []
    assert page.get_by_text("Register a delegate").count() >= 1
