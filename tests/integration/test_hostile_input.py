"""Hostile request bodies, sent to every JSON endpoint of the three services (found in their
own OpenAPI documents, so a new endpoint is covered): each gets the documented 4xx in the one
JSON error shape, never a 5xx or an HTML page. And hostile badge tokens at the scan endpoints,
live and batch: only the documented results (`invalid`, `wrong_event`, `revoked`)."""

from __future__ import annotations

import json

import pytest

from services.checkin.admission import Result
from shared.badges import BadgeClaim, BadgeSigner, generate_keypair, signer_from
from tests.integration.conftest import Forum, bearer, delegate
from tests.integration.hostile_stack import Stack, shape_problem

pytestmark = pytest.mark.integration

MEGABYTE = 1024 * 1024
NESTING = 100_000


JSON = "application/json"
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def as_json(value) -> bytes:
    """JSON as a client may send it: a lone surrogate escaped (`\\ud800`), which the test
    client's own encoder (UTF-8 out) cannot write."""
    return json.dumps(value).encode()


# (name, raw body, content type) → the status and error code every JSON endpoint answers.
BODIES = {
    "malformed": (b"{not json", "application/json", 400, "bad_request"),
    "truncated": (b'{"given_name": "Clara', "application/json", 400, "bad_request"),
    "invalid UTF-8": (b'{"given_name": "\xff\xfe\xc0"}', "application/json", 400, "bad_request"),
    "UTF-16": ('{"a": 1}'.encode("utf-16"), "application/json", 400, "bad_request"),
    "nested arrays": (b"[" * NESTING + b"]" * NESTING, "application/json", 400, "bad_request"),
    "nested objects": (
        b'{"a":' * NESTING + b"1" + b"}" * NESTING,
        "application/json",
        400,
        "bad_request",
    ),
    "a list": (b"[1, 2]", "application/json", 422, "validation_failed"),
    "a number": (b"42", "application/json", 422, "validation_failed"),
    "a string": (b'"hello"', "application/json", 422, "validation_failed"),
    "null": (b"null", "application/json", 422, "validation_failed"),
    "NaN": (b"NaN", "application/json", 422, "validation_failed"),
    "over a megabyte": (
        b'{"x": "' + b"x" * MEGABYTE + b'"}',
        "application/json",
        413,
        "payload_too_large",
    ),
    "plain text": (b"given_name=x", "text/plain", 415, "unsupported_media_type"),
    "a form": (b"given_name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    "XML": (b"<given_name>x</given_name>", "application/xml", 415, "unsupported_media_type"),
    "JSON-ish type": (b"{}", "application/jsonp", 415, "unsupported_media_type"),
    "multipart": (
        b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
        415,
        "unsupported_media_type",
    ),
}
# /scans/batch takes up to 4 MB (5,000 queued scans): its oversize body is larger.
LARGER = {"/api/v1/scans/batch": 4 * MEGABYTE}


def error_shape_problem(response) -> str | None:
    return shape_problem(response.content_type, response.data)


@pytest.fixture
def stack(forum: Forum, build_app) -> Stack:
    return Stack.build(forum, build_app)


@ON_SQLITE  # the body is refused before any database is asked
def test_every_json_endpoint_answers_every_hostile_body_with_its_4xx_in_the_error_shape(stack):
    calls = stack.json_operations()
    problems = []
    for kind, (body, content_type, status, code) in BODIES.items():
        for call in calls:
            sent = body
            if kind == "over a megabyte" and call.path in LARGER:
                sent = b'{"x": "' + b"x" * LARGER[call.path] + b'"}'
            response = call.send(data=sent, content_type=content_type)
            shape = error_shape_problem(response)
            got = (response.status_code, (response.get_json(silent=True) or {}).get("error", {}))
            if shape or got[0] != status or got[1].get("code") != code:
                problems.append(f"{kind}: {call}: {got[0]} {shape or got[1]}")

    assert len(calls) >= 25
    assert problems == [], "\n".join(problems)


# Values of string fields that no schema may store as they are: the answer is a 422 naming the
# field or a 2xx, never a 5xx (PostgreSQL refuses NUL in text; UTF-8 cannot encode a lone
# surrogate; a huge integer overflows a column).
EVIL_STRINGS = {
    "NUL": "a\u0000b",
    "lone surrogate": "a\ud800b",
    "huge": "x" * 900_000,
    "RTL override": "\u202eevil",
}
EVIL_NUMBERS = {"2**70": 2**70, "-2**70": -(2**70), "1e308": 1e308, "negative": -1}


@ON_POSTGRESQL  # the stricter database: no NUL in text, integers of 32 bits
def test_an_evil_value_in_any_field_of_a_valid_body_is_a_4xx_or_accepted_never_a_5xx(stack):
    problems, tried = [], 0
    for call in stack.json_operations():
        valid = stack.valid_body(call)
        for field, value in valid.items():
            for name, evil in {**EVIL_STRINGS, **EVIL_NUMBERS}.items():
                if isinstance(value, str) != isinstance(evil, str) or isinstance(value, bool):
                    continue
                tried += 1
                # Appended to a valid value, so that a URL or a code still gets past its checks.
                bad = value + evil if isinstance(evil, str) else evil
                response = call.send(data=as_json({**valid, field: bad}), content_type=JSON)
                failed = response.status_code >= 500 or (
                    response.status_code >= 400 and error_shape_problem(response)
                )
                if failed:
                    problems.append(f"{call} {field}={name}: {response.status_code}")

    assert tried > 100
    assert problems == [], "\n".join(problems)


# Each value is given to every query parameter of every GET operation.
HOSTILE_PARAMETERS = {
    "NUL": "%00",
    "invalid UTF-8": "%ff%fe",
    "a lone surrogate": "%ed%a0%80",
    "huge number": "99999999999999999999",
    "negative": "-1",
    "HTML": "%3Cscript%3E",
    "long": "x" * 3000,
}


@ON_POSTGRESQL
def test_every_get_endpoint_answers_hostile_query_parameters_without_a_5xx(stack):
    problems, tried = [], 0
    for call, parameters in stack.get_operations():
        for parameter in parameters or ["q"]:
            for name, value in HOSTILE_PARAMETERS.items():
                tried += 1
                response = call.client.get(f"{call.path}?{parameter}={value}", headers=call.headers)
                if response.status_code >= 500 or (
                    response.status_code >= 400 and error_shape_problem(response)
                ):
                    problems.append(f"{call}?{parameter}={name}: {response.status_code}")

    assert tried > 150
    assert problems == [], "\n".join(problems)


# --- badge tokens at the scan endpoints -------------------------------------------------------


def forged_tokens(stack: Stack, genuine: str, claim: BadgeClaim) -> dict[str, tuple[str, str]]:
    """Hostile tokens, each with the result the gate must give."""
    stranger = BadgeSigner(generate_keypair()[0])
    ours = signer_from(stack.forum.settings)
    other_event = BadgeClaim(claim.event_id + 1000, claim.badge_id, claim.version)
    flipped = genuine[:40] + ("A" if genuine[40] != "A" else "B") + genuine[41:]
    return {
        "signed by another key": (stranger.sign(claim), Result.INVALID),
        "one character changed": (flipped, Result.INVALID),
        "truncated": (genuine[:-10], Result.INVALID),
        "doubled": (genuine + genuine, Result.INVALID),
        "empty-ish": (" ", Result.INVALID),
        "HTML": ("<script>alert(1)</script>", Result.INVALID),
        "NUL": (genuine[:60] + "\x00" + genuine[61:], Result.INVALID),
        "a claim naming another event": (ours.sign(other_event), Result.WRONG_EVENT),
        "a badge never issued": (
            ours.sign(BadgeClaim(claim.event_id, 2**31 - 7, 1)),
            Result.UNKNOWN,
        ),
    }


def badge_of_another_congress(forum: Forum) -> str:
    """A genuine badge, signed with the same key, of another event run on this system."""
    created = forum.registration.post(
        "/api/v1/events",
        json={
            "slug": "other-forum",
            "name": "Other Forum",
            "venue": "Hall",
            "timezone": "Europe/Paris",
            "starts_on": "2030-05-01",
            "ends_on": "2030-05-02",
            "categories": [{"code": "guest", "label": "Guest", "capacity": 5}],
        },
        headers=bearer(forum.organizer_token),
    )
    assert created.status_code == 201, created.get_json()
    answer = forum.registration.post(
        "/api/v1/events/other-forum/registrations", json=delegate(category="guest")
    )
    assert answer.status_code == 201, answer.get_json()
    return forum.badge_token(answer.get_json()["id"])


def replayed_old_version(forum: Forum) -> str:
    """A genuine badge whose registration was reissued a newer one since."""
    registered = forum.register()
    old = forum.badge_token(registered["id"])
    reissue = forum.registration.post(
        f"/api/v1/registrations/{registered['id']}/badge/reissue",
        headers=bearer(forum.organizer_token),
    )
    assert reissue.status_code == 200, reissue.get_json()
    return old


@ON_SQLITE
def test_forged_truncated_foreign_and_replayed_tokens_get_only_their_documented_result(stack):
    forum = stack.forum
    genuine = forum.badge_token(forum.register()["id"])
    cases = {
        **forged_tokens(stack, genuine, stack.claim_of(genuine)),
        "a badge of another congress": (badge_of_another_congress(forum), Result.WRONG_EVENT),
        "an older version, replayed": (replayed_old_version(forum), Result.REVOKED),
    }
    forum.replicate()
    north = bearer(forum.scanner_tokens["North"])

    live = {}
    for name, (token, _) in cases.items():
        response = forum.checkin.post("/api/v1/scans", json={"token": token}, headers=north)
        body = response.get_json() or {}
        live[name] = (response.status_code, body.get("result"), body.get("passes"))
    batch = forum.checkin.post(
        "/api/v1/scans/batch",
        json={"scans": [stack.queued(token) for token, _ in cases.values()]},
        headers=north,
    )

    assert live == {name: (200, result.value, False) for name, (_, result) in cases.items()}
    assert batch.status_code == 200, batch.get_json()
    answers = [a["result"] for a in batch.get_json()["results"]]
    assert answers == [result.value for _, result in cases.values()]
    # None of them let anyone in, and the genuine badge still does.
    assert forum.scan(genuine)["result"] == "admitted"


@ON_SQLITE
def test_a_token_that_is_not_a_short_string_is_a_422_at_both_scan_endpoints(stack):
    north = bearer(stack.forum.scanner_tokens["North"])
    problems = []
    for token in [None, 12345, ["A"], {"token": "A"}, True, "x" * 513, ""]:
        live = stack.forum.checkin.post("/api/v1/scans", json={"token": token}, headers=north)
        batch = stack.forum.checkin.post(
            "/api/v1/scans/batch",
            json={"scans": [{**stack.queued("A"), "token": token}]},
            headers=north,
        )
        for where, response in (("live", live), ("batch", batch)):
            fields = (response.get_json() or {}).get("error", {}).get("fields", {})
            if response.status_code != 422 or error_shape_problem(response) or not fields:
                problems.append(f"{where} {token!r:.20}: {response.status_code}")

    assert problems == [], "\n".join(problems)
