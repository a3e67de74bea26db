"""Data protection rules without a database: the privacy notice and its versions, what consent
a registration records, when an event's retention period has run out, what erasure blanks and
keeps, and the registration worker that purges on beat's schedule."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest
from celery.schedules import crontab
from marshmallow import ValidationError

from services.registration import erasure, privacy
from services.registration.models import Registration
from services.registration.schemas import DelegateRegistrationIn
from shared.errors import Invalid
from shared.events import DELEGATE_ERASED, REPLICA, SUBSCRIBERS, DelegateErased

pytestmark = pytest.mark.unit

# A notice's text may not change under its version: delegates agreed to that exact text.
# Changing a text means adding a Notice with a new version (and its digest here).
DIGESTS = {
    "2026-11-30": "efceea1b904aec76a6dcf8ddb36ffd9e23220ec2744bc02219038efc84eb7619",
}


def digest(notice: privacy.Notice) -> str:
    return hashlib.sha256(f"{notice.text_en}\n{notice.text_zh}".encode()).hexdigest()


def test_no_notice_text_changes_under_its_version():
    assert {n.version: digest(n) for n in privacy.NOTICES} == DIGESTS


def test_the_current_notice_is_the_newest_and_every_version_is_unique():
    versions = [n.version for n in privacy.NOTICES]
    assert privacy.NOTICE is privacy.NOTICES[-1]
    assert versions == sorted(set(versions))
    assert privacy.notice(privacy.NOTICE.version) is privacy.NOTICE
    assert privacy.notice("1999-01-01") is None
    assert privacy.notice(None) is None


def test_the_notice_speaks_english_and_chinese():
    assert "erase" in privacy.NOTICE.text("en")
    assert "删除" in privacy.NOTICE.text("zh")


def body(**changes) -> dict:
    return {
        "given_name": "Clara",
        "email": "clara@example.org",
        "organisation": "Alcaldía de Iztapalapa",
        "city": "Iztapalapa",
        "country": "MX",
        "category": "mayor",
        "consent": True,
        **changes,
    }


@pytest.mark.parametrize("consent", [False, "true", 1, "yes", None])
def test_only_json_true_is_consent(consent):
    with pytest.raises(ValidationError) as refused:
        DelegateRegistrationIn().load(body(consent=consent))

    assert refused.value.messages == {"consent": [privacy.CONSENT_NEEDED]}


def test_missing_consent_is_named():
    data = body()
    del data["consent"]

    with pytest.raises(ValidationError) as refused:
        DelegateRegistrationIn().load(data)

    assert refused.value.messages == {"consent": [privacy.CONSENT_NEEDED]}


def test_consent_loads_with_or_without_the_notice_version():
    assert DelegateRegistrationIn().load(body())["consent"] is True
    loaded = DelegateRegistrationIn().load(body(consent_version=privacy.NOTICE.version))
    assert loaded["consent_version"] == privacy.NOTICE.version


def test_a_delegate_records_consent_to_the_current_notice():
    record = privacy.consent_record(False, True, None)

    assert (record["consent_basis"], record["consent_version"]) == ("delegate", "2026-11-30")
    assert record["consent_at"].tzinfo is not None


def test_an_organisers_entry_records_none():
    assert privacy.consent_record(True, None, None) == {
        "consent_basis": "organiser",
        "consent_version": None,
        "consent_at": None,
    }


def test_a_delegate_without_consent_or_with_an_old_notice_is_refused():
    with pytest.raises(Invalid) as missing:
        privacy.consent_record(False, None, None)
    assert list(missing.value.fields) == ["consent"]
    with pytest.raises(Invalid) as stale:
        privacy.consent_record(False, True, "1999-01-01")
    assert list(stale.value.fields) == ["consent_version"]


@pytest.mark.parametrize(
    ("now", "past"),
    [
        (datetime(2024, 1, 8, 15, 59, tzinfo=UTC), False),  # 23:59 in Shanghai, the last day
        (datetime(2024, 1, 8, 16, 0, tzinfo=UTC), True),  # midnight: the day after
    ],
)
def test_retention_runs_out_when_the_day_after_begins_where_the_event_is(now, past):
    ends_on = date(2023, 12, 9)

    assert privacy.kept_until(ends_on, 30) == date(2024, 1, 8)
    assert privacy.past_retention(ends_on, 30, "Asia/Shanghai", now) is past


def test_without_a_retention_period_nothing_runs_out():
    assert privacy.kept_until(date(2000, 1, 1), None) is None
    assert not privacy.past_retention(date(2000, 1, 1), None, "UTC")


def test_every_registration_column_is_either_erased_or_kept():
    columns = {c.key for c in Registration.__table__.columns}

    assert not set(erasure.BLANKED) & set(erasure.KEPT)
    assert set(erasure.BLANKED) | set(erasure.KEPT) == columns


def test_an_audit_detail_keeps_nothing_that_could_name_someone():
    detail = {"reason": "Mr Wang lost it", "fields": ["city"], "promoted": True, "count": 3}

    assert erasure.anonymous(detail) == {
        "reason": "[erased]",
        "fields": ["city"],
        "promoted": True,
        "count": 3,
    }


def test_the_erased_event_carries_no_personal_field_and_goes_to_checkin_and_notify():
    delegate_fields = set(DelegateErased().fields["delegate"].schema.fields)

    assert not delegate_fields & {"given_name", "family_name", "email", "organisation", "city"}
    assert SUBSCRIBERS[DELEGATE_ERASED] == (
        REPLICA,
        "notify.forget_delegate",
        "notify.webhook_event",
    )


def test_the_systems_beat_sends_the_purge_daily_to_the_registration_queue():
    from services.notify import worker as beat
    from services.registration import tasks, worker

    [entry] = [
        e for e in beat.app.conf.beat_schedule.values() if e["task"].startswith("registration.")
    ]
    assert entry["task"] == "registration.purge_expired" == tasks.purge_expired.name
    assert entry["schedule"] == crontab(hour=3, minute=30)
    assert worker.app.tasks["registration.purge_expired"].__module__ == tasks.__name__
    route = worker.app.amqp.router.route({}, "registration.purge_expired", args=(), kwargs={})
    assert route["queue"].name == "registration"
