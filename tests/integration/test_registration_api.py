"""Registering a delegate through the API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from services import registration
from services.registration.models import outbox
from tests.integration.conftest import bearer, delegate
from tests.support.processes import free_port

pytestmark = pytest.mark.integration

REGISTER = "/api/v1/events/gmf2023/registrations"

NAMES = [
    ("小明", "王", "王小明"),
    ("Γιώργος", "Παπαδόπουλος", "Γιώργος Παπαδόπουλος"),
    ("José Ángel", "Núñez Ibáñez", "José Ángel Núñez Ibáñez"),
    ("Наталья", "Ким", "Наталья Ким"),
    ("مريم", "الحسيني", "مريم الحسيني"),
]


@pytest.mark.parametrize(("given", "family", "shown"), NAMES)
def test_registration_stores_the_name_as_written_and_answers_with_a_manage_token(
    forum, given, family, shown
):
    body = forum.register(given_name=given, family_name=family)

    assert body["status"] == "confirmed"
    assert (body["given_name"], body["family_name"], body["display_name"]) == (given, family, shown)
    assert body["manage_token"].startswith("rc_mng_")
    assert body["badge"] == {
        "id": body["badge"]["id"],
        "version": 1,
        "status": "active",
        "reason": None,
    }
    again = forum.registration.get(
        f"/api/v1/registrations/{body['id']}", headers=bearer(body["manage_token"])
    )
    assert again.status_code == 200
    assert again.get_json()["display_name"] == shown
    assert "manage_token" not in again.get_json()


def test_registration_and_its_event_are_written_in_one_transaction(forum):
    body = forum.register(given_name="小明", family_name="王")

    forum.replicate()
    registered = [e for _, e in forum.published if e["type"] == "delegate.registered"]
    assert {e["payload"]["delegate"]["id"] for e in registered} == {body["id"]}
    envelope = registered[0]
    assert envelope["producer"] == "registration"
    assert envelope["payload"]["delegate"]["display_name"] == "王小明"
    assert len(envelope["payload"]["badge"]["token"]) == 122


def test_a_rejected_registration_leaves_no_event_behind(forum):
    engine = forum.registration.application.extensions["registration"].db.engine
    before = outbox.pending(engine)
    email = delegate()["email"]
    forum.register(email=email)
    response = forum.registration.post(REGISTER, json=delegate(email=email))

    assert response.status_code == 409
    assert outbox.pending(engine) == before + 1


def test_second_registration_with_the_same_email_in_other_case_is_a_conflict(forum):
    first = forum.register(email="Mayor.Office@Guangzhou.example")

    response = forum.registration.post(
        REGISTER, json=delegate(email="  mayor.office@guangzhou.EXAMPLE ")
    )

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "already_registered"
    assert "already registered" in error["message"]
    assert "email" in error["fields"]
    assert first["id"]


def test_invalid_input_names_every_bad_field(forum):
    response = forum.registration.post(
        REGISTER,
        json={"given_name": " ", "email": "not-an-address", "country": "XX", "language": "fr"},
    )

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {
        "given_name",
        "email",
        "country",
        "language",
        "organisation",
        "city",
        "category",
        "consent",
    }


def test_a_category_the_event_does_not_have_is_a_field_error(forum):
    response = forum.registration.post(REGISTER, json=delegate(category="astronaut"))

    assert response.status_code == 422
    assert "mayor" in response.get_json()["error"]["fields"]["category"][0]


def test_unknown_event_is_404_in_the_json_shape(forum):
    response = forum.registration.post("/api/v1/events/nope/registrations", json=delegate())

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_event"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "bad_request"),
        ("given_name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("x" * (1024 * 1024 + 1), "application/json", 413, "payload_too_large"),
        ("[1, 2]", "application/json", 422, "validation_failed"),
    ],
)
def test_malformed_requests_get_a_json_error(forum, body, content_type, status, code):
    response = forum.registration.post(REGISTER, data=body, content_type=content_type)

    assert response.status_code == status
    assert response.is_json
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]


def test_unknown_routes_and_methods_answer_json(forum):
    assert forum.registration.get("/nowhere").get_json()["error"]["code"] == "not_found"
    response = forum.registration.delete(REGISTER)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_a_registration_is_visible_to_its_delegate_and_organiser_only(forum):
    mine, other = forum.register(), forum.register()
    url = f"/api/v1/registrations/{mine['id']}"

    assert forum.registration.get(url).status_code == 401
    assert forum.registration.get(url, headers=bearer("rc_mng_forged")).status_code == 401
    assert forum.registration.get(url, headers=bearer(other["manage_token"])).status_code == 403
    assert forum.registration.get(url, headers=bearer(mine["manage_token"])).status_code == 200
    assert forum.registration.get(url, headers=bearer(forum.organizer_token)).status_code == 200
    missing = forum.registration.get(
        "/api/v1/registrations/999999", headers=bearer(other["manage_token"])
    )
    assert missing.status_code == 403


def test_event_details_list_the_categories(forum):
    body = forum.registration.get("/api/v1/events/gmf2023").get_json()

    assert body["timezone"] == "Asia/Shanghai"
    assert (body["starts_on"], body["ends_on"]) == ("2023-12-07", "2023-12-09")
    assert "mayor" in [c["code"] for c in body["categories"]]


def test_health_reports_database_and_redis(forum):
    response = forum.registration.get("/healthz")

    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_health_is_503_naming_redis_when_redis_is_down(settings, build_app):
    down = settings.but(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = build_app(registration, down).test_client().get("/healthz")

    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"].startswith("down")
    assert response.get_json()["checks"]["database"] == "ok"


def test_openapi_documents_every_endpoint_from_the_schemas(forum):
    spec = forum.registration.get("/openapi.json").get_json()

    assert spec["info"]["title"] == "Rollcall registration"
    post = spec["paths"]["/api/v1/events/{slug}/registrations"]["post"]
    assert {"201", "409", "422"} <= set(post["responses"])
    assert "DelegateRegistrationIn" in spec["components"]["schemas"]
    assert "/api/v1/registrations/{registration_id}" in spec["paths"]
