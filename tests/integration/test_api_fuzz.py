"""schemathesis generates requests from each service's own OpenAPI document, valid and not,
with an organiser's token: no answer may be a 5xx, and every JSON error keeps the one shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollcall import demo
from services import checkin, registration
from tests.integration.conftest import delegate

pytestmark = pytest.mark.integration

KNOWN = {"slug": "gmf2023", "registration_id": 1, "invitation_id": 1}
EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same requests on every run: a failure reproduces
    database=None,
)


def fuzz(app, token: str) -> tuple[list[str], list[int]]:
    """Every operation of the app's OpenAPI document, fuzzed; returns what went wrong and
    every status seen."""
    problems: list[str] = []
    statuses: list[int] = []
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()

        @EXAMPLES
        @given(case=operation.as_strategy(), real=st.booleans())
        def run(case, real):
            if real:  # half the cases name things that exist, to get past the 404s
                for name, value in KNOWN.items():
                    if name in (case.path_parameters or {}):
                        case.path_parameters[name] = value
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            statuses.append(response.status_code)
            where = f"{case.method.upper()} {case.formatted_path}"
            if response.status_code >= 500:
                problems.append(f"{where}: {response.status_code} {response.text[:200]}")
            elif (
                response.status_code >= 400
                and "json" in response.headers.get("Content-Type", "")
                and set(response.json()) != {"error"}
            ):
                problems.append(f"{where}: error body {response.text[:200]}")

        run()
    return problems, statuses


def test_the_registration_api_never_answers_5xx(settings, build_app):
    token = demo.seed(settings)["organizer_token"]
    app = build_app(registration, settings)
    first = app.test_client().post(
        "/api/v1/events/gmf2023/registrations", json=delegate(category="media")
    )
    assert first.get_json()["id"] == KNOWN["registration_id"]

    problems, statuses = fuzz(app, token)

    assert problems == []
    assert len(statuses) > 100 and {200, 404, 422} <= set(statuses)


def test_the_checkin_api_never_answers_5xx(settings, build_app):
    token = demo.seed(settings)["scanner_tokens"]["North"]

    problems, statuses = fuzz(build_app(checkin, settings), token)

    assert problems == []
    assert len(statuses) > 20 and 200 in statuses
