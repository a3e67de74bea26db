"""schemathesis generates requests from each service's own OpenAPI document (registration,
checkin and notify), valid and not, with a token that opens the operation: no answer may be
a 5xx, and every 4xx is JSON in the one error shape. Deterministic (derandomized, no example
database) and bounded, on PostgreSQL; `make test-faults` runs seven times the examples on both
database kinds."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.hostile_stack import SCANNER_PATHS, SKIPPED_PATHS, Stack, shape_problem

pytestmark = pytest.mark.integration

QUICK, LONG = 15, 100


def examples(count: int):
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same requests on every run: a failure reproduces
        database=None,
    )


def problem_of(response, where: str) -> str | None:
    """A 5xx, or a 4xx not in the error shape (schemathesis keeps headers as lists)."""
    if response.status_code >= 500:
        return f"{where}: {response.status_code} {response.text[:200]}"
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        shape = shape_problem(content_type, response.content or b"")
        if shape:
            return f"{where}: {response.status_code} {shape}"
    return None


def fuzz(stack: Stack, app, count: int) -> tuple[list[str], list[int]]:
    """Every operation of the app's OpenAPI document, fuzzed; returns what went wrong and
    every status seen."""
    problems: list[str] = []
    statuses: list[int] = []
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path not in SKIPPED_PATHS:
            scanner = operation.path in SCANNER_PATHS
            token = stack.forum.scanner_tokens["North"] if scanner else stack.forum.organizer_token
            fuzz_operation(stack, operation, token, count, problems, statuses)
    return problems, statuses


def fuzz_operation(stack, operation, token, count, problems, statuses) -> None:
    @examples(count)
    @given(case=operation.as_strategy(), real=st.booleans())
    def run(case, real):
        if real:  # half the cases name things that exist, to get past the 404s
            for name in case.path_parameters or {}:
                if name in stack.ids:
                    case.path_parameters[name] = stack.ids[name]
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        statuses.append(response.status_code)
        problem = problem_of(response, f"{case.method.upper()} {case.formatted_path}")
        if problem:
            problems.append(problem)

    run()


@pytest.fixture
def stack(forum, build_app) -> Stack:
    return Stack.build(forum, build_app)


def apps(stack: Stack) -> dict:
    return {
        "registration": stack.forum.registration.application,
        "checkin": stack.forum.checkin.application,
        "notify": stack.notify.application,
    }


# Enough answers of each kind that the fuzzing reached the views, not only the validation.
EXPECTED = {
    "registration": (100, {200, 404, 422}),
    "checkin": (60, {200, 422}),
    "notify": (20, {200, 422}),
}


# The stricter database in the default run (no NUL in text, 32-bit integer columns); the long
# run fuzzes both kinds.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_no_operation_answers_5xx_and_every_error_keeps_the_shape(stack, service):
    problems, statuses = fuzz(stack, apps(stack)[service], QUICK)

    assert problems == [], "\n".join(problems)
    least, kinds = EXPECTED[service]
    assert len(statuses) > least and kinds <= set(statuses), sorted(set(statuses))


@pytest.mark.faults
@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_long_fuzz_no_5xx_and_every_error_keeps_the_shape(stack, service):
    problems, statuses = fuzz(stack, apps(stack)[service], LONG)

    print(f"{service}: {len(statuses)} requests, statuses {sorted(set(statuses))}")
    assert problems == [], "\n".join(problems)
