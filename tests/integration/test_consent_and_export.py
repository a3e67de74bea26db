"""Data protection, part one, on SQLite and PostgreSQL: a delegate registers only by agreeing to
the privacy notice, which is recorded with its version and time (an organiser's entry records
none), and a delegate (or an organiser) downloads everything kept about them, and nothing of
anyone else."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from alembic import command
from markupsafe import escape
from sqlalchemy import text

from services import registration as registration_service
from services.registration import lifecycle
from services.registration.access import Actor
from services.registration.models import Registration
from services.registration.models import outbox as registration_outbox
from services.registration.privacy import NOTICE
from shared.db import alembic_config, make_engine
from shared.errors import Invalid
from tests.integration.conftest import bearer, delegate

pytestmark = pytest.mark.integration

REGISTER = "/api/v1/events/gmf2023/registrations"


def registration_url(registration: dict, what: str = "") -> str:
    return f"/api/v1/registrations/{registration['id']}{what}"


def unique_person(**fields) -> dict:
    """A delegate whose name and address appear nowhere else, so a search for them is exact."""
    mark = uuid.uuid4().hex[:8]
    return {
        "given_name": f"Ottilie{mark}",
        "family_name": f"Quenneville{mark}",
        "email": f"ottilie.{mark}@example.org",
        "organisation": f"Ville de Québec {mark}",
        "city": f"Québec{mark}",
        **fields,
    }


@pytest.mark.parametrize(
    "consent", [None, False, "true", "yes", 1], ids=["missing", "false", "text", "yes", "one"]
)
def test_registering_without_agreeing_to_the_privacy_notice_is_refused_naming_consent(
    forum, consent
):
    engine = forum.registration.application.extensions["registration"].db.engine
    before = registration_outbox.pending(engine)
    body = delegate()
    if consent is None:
        del body["consent"]
    else:
        body["consent"] = consent

    response = forum.registration.post(REGISTER, json=body)

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert list(error["fields"]) == ["consent"]
    assert "privacy notice" in error["fields"]["consent"][0]
    assert registration_outbox.pending(engine) == before


def test_consent_is_recorded_with_the_notice_version_and_the_time(forum):
    before = datetime.now().astimezone()

    registered = forum.register(consent_version=NOTICE.version)

    consent = registered["consent"]
    assert (consent["basis"], consent["version"]) == ("delegate", NOTICE.version)
    assert before <= datetime.fromisoformat(consent["given_at"]) <= datetime.now().astimezone()
    mine = forum.registration.get(
        registration_url(registered), headers=bearer(registered["manage_token"])
    )
    assert mine.get_json()["consent"] == consent


def test_agreeing_to_a_notice_that_is_no_longer_current_is_refused(forum):
    response = forum.registration.post(REGISTER, json=delegate(consent_version="1999-01-01"))

    assert response.status_code == 422
    [message] = response.get_json()["error"]["fields"]["consent_version"]
    assert NOTICE.version in message


def test_the_event_shows_the_privacy_notice_a_delegate_agrees_to(forum):
    event = forum.registration.get("/api/v1/events/gmf2023").get_json()

    assert event["privacy_notice"] == {
        "version": NOTICE.version,
        "text_en": NOTICE.text_en,
        "text_zh": NOTICE.text_zh,
    }
    assert (event["retention_days"], event["personal_data_kept_until"]) == (None, None)


def test_an_organisers_entry_records_no_consent_and_a_delegates_must_carry_it(forum):
    app = forum.registration.application
    resources = app.extensions["registration"]
    organiser = Actor("organiser", "protocol office")
    body = {k: v for k, v in delegate().items() if k != "consent"}

    with resources.db.sessions.begin() as session:
        entered = lifecycle.register(
            session, resources.signer, resources.links, "gmf2023", body, actor=organiser
        )
        assert (entered.consent_basis, entered.consent_version, entered.consent_at) == (
            "organiser",
            None,
            None,
        )
    with pytest.raises(Invalid) as refused, resources.db.sessions.begin() as session:
        lifecycle.register(
            session, resources.signer, resources.links, "gmf2023", delegate(consent=False)
        )
    assert "consent" in refused.value.fields


def test_a_delegate_downloads_everything_kept_about_them_and_nothing_of_others(forum):
    me = forum.register(**unique_person())
    other = forum.register(**unique_person())
    mine = bearer(me["manage_token"])
    forum.registration.patch(registration_url(me), json={"dietary": "Vegan"}, headers=mine)
    forum.registration.post(
        registration_url(me, "/badge/reissue"), json={}, headers=bearer(forum.organizer_token)
    )

    response = forum.registration.get(registration_url(me, "/data"), headers=mine)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="rollcall-gmf2023-registration-{me["id"]}.json"'
    )
    data = response.get_json()
    person = data["registration"]
    for field in ("given_name", "family_name", "email", "organisation", "city"):
        assert person[field] == me[field]
    assert (person["dietary"], person["id"]) == ("Vegan", me["id"])
    assert data["consent"]["notice"] == {
        "version": NOTICE.version,
        "text_en": NOTICE.text_en,
        "text_zh": NOTICE.text_zh,
    }
    assert (data["badge"]["version"], data["badge"]["status"]) == (2, "active")
    assert [h["action"] for h in data["history"]] == [
        "delegate.registered",
        "delegate.updated",
        "badge.reissued",
    ]
    assert data["event"]["slug"] == "gmf2023"
    text = response.get_data(as_text=True)
    for field in ("given_name", "family_name", "email", "organisation", "city"):
        assert other[field] not in text
    assert me["manage_token"] not in text


def test_an_organiser_may_download_a_delegates_data_and_the_download_is_audited(forum):
    me = forum.register()

    by_organiser = forum.registration.get(
        registration_url(me, "/data"), headers=bearer(forum.organizer_token)
    )

    assert by_organiser.status_code == 200
    assert by_organiser.get_json()["registration"]["email"] == me["email"]
    trail = forum.registration.get(
        "/api/v1/events/gmf2023/audit", headers=bearer(forum.organizer_token)
    ).get_json()
    assert (trail[0]["action"], trail[0]["actor"]) == ("delegate.data_exported", "organiser:owner")


def test_nobody_else_downloads_a_delegates_data(forum):
    me, other = forum.register(), forum.register()
    url = registration_url(me, "/data")

    assert forum.registration.get(url).status_code == 401
    assert forum.registration.get(url, headers=bearer("rc_mng_nope")).status_code == 401
    assert forum.registration.get(url, headers=bearer(other["manage_token"])).status_code == 403


def test_a_download_holds_what_the_database_holds(forum):
    me = forum.register(**unique_person())
    mine = bearer(me["manage_token"])
    forum.registration.patch(registration_url(me), json={"dietary": "Halal"}, headers=mine)
    sessions = forum.registration.application.extensions["registration"].db.reads

    data = forum.registration.get(registration_url(me, "/data"), headers=mine).get_json()

    with sessions() as session:
        row = session.get(Registration, me["id"])
        stored = {c.key: getattr(row, c.key) for c in Registration.__table__.columns}
    shown = json.dumps(data, ensure_ascii=False)
    for name in ("given_name", "family_name", "email", "organisation", "city", "dietary"):
        assert stored[name] in shown, name


def test_registrations_made_before_consent_was_recorded_say_so(empty_database_url):
    database_url = empty_database_url
    config = alembic_config(
        database_url, registration_service.MIGRATIONS, registration_service.VERSION_TABLE
    )
    command.upgrade(config, "0003")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO events (id, slug, name, venue, timezone, starts_on, ends_on, "
                    "created_at) VALUES (1, 'old', 'Old', 'Hall', 'UTC', '2020-01-01', "
                    "'2020-01-02', CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO registrations (id, event_id, given_name, family_name, email, "
                    "email_key, organisation, city, country, category, language, status, "
                    "revision, search_key, dietary, accessibility, manage_digest, created_at, "
                    "updated_at) VALUES (1, 1, 'Ana', '', 'a@example.org', 'a@example.org', 'O', "
                    "'C', 'PT', 'guest', 'en', 'confirmed', 1, '', '', '', 'x', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        command.upgrade(config, "head")
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT consent_basis, consent_version, erased_at FROM registrations")
            ).one()
            retention = connection.execute(text("SELECT retention_days FROM events")).scalar()
    finally:
        engine.dispose()

    assert tuple(row) == ("unrecorded", None, None)
    assert retention is None


@pytest.mark.parametrize(("lang", "text"), [("en", NOTICE.text_en), ("zh", NOTICE.text_zh)])
def test_the_registration_page_shows_the_notice_it_asks_consent_for(forum, lang, text):
    page = forum.registration.get(f"/events/gmf2023/register?lang={lang}").get_data(as_text=True)

    assert str(escape(text)) in page  # as Jinja writes it: "event&#39;s"
    assert f'data-consent-version="{NOTICE.version}"' in page
    assert 'type="checkbox"' in page


def test_the_openapi_document_describes_consent_download_and_erasure(forum):
    spec = forum.registration.get("/openapi.json").get_json()

    body = spec["components"]["schemas"]["DelegateRegistrationIn"]
    assert "consent" in body["required"]
    data = spec["paths"]["/api/v1/registrations/{registration_id}/data"]["get"]
    assert "PersonalData" in json.dumps(data["responses"]["200"])
    assert "/api/v1/registrations/{registration_id}/erase" in spec["paths"]
    assert "retention_days" in spec["components"]["schemas"]["EventIn"]["properties"]
