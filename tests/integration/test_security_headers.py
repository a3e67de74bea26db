"""Every HTML page (registration and manage pages, the scanner page, the dashboard, the API
docs of each service) is served with a Content-Security-Policy that runs no inline script,
refuses framing (X-Frame-Options DENY and frame-ancestors 'none': no clickjacking of the
scanner or the manage page), no MIME sniffing, and no Referer (a manage link stays put)."""

from __future__ import annotations

import pytest

from tests.support.access import notify_app_for

pytestmark = pytest.mark.integration

PAGES = {
    "registration": ["/events/gmf2023/register", "/manage/{registration}", "/docs"],
    "checkin": ["/scan", "/dashboard", "/dashboard/gmf2023", "/docs"],
    "notify": ["/docs"],
}


def policy(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as directive → sources."""
    directives = (part.split() for part in header.split(";") if part.strip())
    return {d[0].lower(): d[1:] for d in directives}


def problems(response) -> list[str]:
    found = []
    csp = policy(response.headers.get("Content-Security-Policy", ""))
    scripts = csp.get("script-src", csp.get("default-src"))
    if scripts is None:
        found.append("no script policy (script-src or default-src)")
    elif {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(scripts):
        found.append(f"scripts from {scripts}")
    if csp.get("frame-ancestors") != ["'none'"]:
        found.append(f"frame-ancestors {csp.get('frame-ancestors')}")
    if response.headers.get("X-Frame-Options") != "DENY":
        found.append("X-Frame-Options is not DENY")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        found.append("no nosniff")
    if response.headers.get("Referrer-Policy") not in ("no-referrer", "same-origin"):
        found.append(f"Referrer-Policy {response.headers.get('Referrer-Policy')}")
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_page_carries_the_security_headers(forum, build_app):
    registration = forum.register()["id"]
    clients = {
        "registration": forum.registration,
        "checkin": forum.checkin,
        "notify": notify_app_for(forum, build_app).test_client(),
    }
    forum.replicate()  # the dashboard knows the event

    seen = {}
    for service, paths in PAGES.items():
        for path in paths:
            response = clients[service].get(path.format(registration=registration))
            assert response.status_code in (200, 302), (service, path, response.status_code)
            if response.status_code == 200:
                assert response.mimetype == "text/html", (service, path)
            seen[f"{service} {path}"] = problems(response)

    assert {page: found for page, found in seen.items() if found} == {}


def test_the_check_sees_a_page_without_protection():
    class Bare:
        headers = {"Content-Security-Policy": "script-src 'self' 'unsafe-inline'"}

    assert len(problems(Bare())) == 5
