"""Settings from the environment: laptop defaults, the shared database URL, secrets kept out
of logs, and the database URL spelling every service accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings
from shared.db import normalise_url

pytestmark = pytest.mark.unit

# Every variable Settings reads; tests start from none of them set, whatever the shell has.
VARIABLES = (
    "VAR_DIR",
    "DATABASE_URL",
    "REGISTRATION_DATABASE_URL",
    "CHECKIN_DATABASE_URL",
    "NOTIFY_DATABASE_URL",
    "REDIS_URL",
    "REGISTRATION_URL",
    "CHECKIN_URL",
    "REGISTRATION_PORT",
    "CHECKIN_PORT",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_STARTTLS",
    "SMTP_TIMEOUT",
    "MAIL_FROM",
    "MAIL_DIR",
    "BADGE_SIGNING_KEY",
    "BADGE_VERIFY_KEYS",
    "MANAGE_LINK_KEY",
    "NOTIFY_MAIL_RATE",
    "NOTIFY_PORT",
    "WEBHOOK_SECRET_KEY",
    "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_RETRY_DELAY",
    "WEBHOOK_RETRY_MAX_DELAY",
    "WEBHOOK_TIMEOUT",
    "NOTIFY_SENDING_LEASE",
    "CELERY_VISIBILITY_TIMEOUT",
    "FEED_TOKEN",
    "FEED_URL",
    "VIP_CATEGORIES",
    "PROTOCOL_EMAIL",
    "PROTOCOL_PHONE",
    "ORGANISER_EMAIL",
    "SMS_GATEWAY_URL",
    "SMS_GATEWAY_TOKEN",
    "MAX_BODY_BYTES",
    "RELAY_INTERVAL",
    "LOG_LEVEL",
)
SERVICES = ("registration", "checkin", "notify")
POSTGRES = "postgresql://rollcall:secret@db.example:5432/rollcall"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # the default VAR_DIR, "var", is relative to here


def database_urls(settings: Settings) -> dict[str, str]:
    return {service: getattr(settings, f"{service}_database_url") for service in SERVICES}


def test_default_databases_are_sqlite_files_under_var_dir(tmp_path):
    settings = Settings.from_env()

    assert settings.var_dir == (tmp_path / "var").resolve()
    assert database_urls(settings) == {
        service: f"sqlite:///{settings.var_dir / service}.db" for service in SERVICES
    }


def test_var_dir_moves_the_sqlite_files_and_the_mail_and_keys_with_it(tmp_path):
    state = tmp_path.resolve() / "state"

    settings = Settings.from_env({"VAR_DIR": str(state)})

    assert settings.var_dir == state
    assert settings.checkin_database_url == f"sqlite:///{state / 'checkin.db'}"
    assert settings.mail_dir == state / "mail"
    assert settings.keys_dir == state / "keys"


def test_relative_var_dir_becomes_absolute(tmp_path):
    settings = Settings.from_env({"VAR_DIR": "relative/state"})

    assert settings.var_dir.is_absolute()
    expected = tmp_path.resolve() / "relative" / "state" / "notify.db"
    assert settings.notify_database_url == f"sqlite:///{expected}"


def test_default_ports_urls_and_redis():
    settings = Settings.from_env()

    assert (settings.registration_port, settings.checkin_port) == (8001, 8002)
    assert settings.registration_url == "http://127.0.0.1:8001"
    assert settings.checkin_url == "http://127.0.0.1:8002"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_public_urls_follow_changed_ports():
    settings = Settings.from_env({"REGISTRATION_PORT": "9001", "CHECKIN_PORT": "9002"})

    assert settings.registration_url == "http://127.0.0.1:9001"
    assert settings.checkin_url == "http://127.0.0.1:9002"


def test_crash_recovery_timings_default_to_five_minutes_and_an_hour():
    default = Settings.from_env()
    short = Settings.from_env({"NOTIFY_SENDING_LEASE": "10", "CELERY_VISIBILITY_TIMEOUT": "20"})

    assert (default.notify_sending_lease, default.celery_visibility_timeout) == (300, 3600)
    assert (short.notify_sending_lease, short.celery_visibility_timeout) == (10, 20)


def test_no_secrets_by_default():
    settings = Settings.from_env()

    assert settings.smtp_user is None
    assert settings.smtp_password is None
    assert settings.badge_signing_key is None
    assert settings.badge_verify_keys is None


def test_database_url_is_used_by_every_service():
    settings = Settings.from_env({"DATABASE_URL": POSTGRES})

    assert database_urls(settings) == dict.fromkeys(SERVICES, POSTGRES)


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_own_database_url_overrides_the_shared_one_for_that_service_only(service):
    own = f"postgresql://{service}@db.example/{service}"
    settings = Settings.from_env({"DATABASE_URL": POSTGRES, f"{service.upper()}_DATABASE_URL": own})

    expected = dict.fromkeys(SERVICES, POSTGRES)
    expected[service] = own
    assert database_urls(settings) == expected


def test_a_services_own_database_url_works_without_a_shared_one():
    own = "postgresql://checkin@db.example/checkin"

    settings = Settings.from_env({"CHECKIN_DATABASE_URL": own})

    assert settings.checkin_database_url == own
    assert settings.registration_database_url.startswith("sqlite:///")


def test_an_empty_variable_means_unset():
    settings = Settings.from_env({"DATABASE_URL": "", "CHECKIN_DATABASE_URL": ""})

    assert settings.checkin_database_url == f"sqlite:///{settings.var_dir / 'checkin.db'}"


def test_overrides_win_over_the_process_environment(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://from-the-shell:6379/0")

    assert Settings.from_env().redis_url == "redis://from-the-shell:6379/0"
    assert Settings.from_env({"REDIS_URL": "redis://override/1"}).redis_url == "redis://override/1"


def test_but_changes_only_the_named_fields():
    settings = Settings.from_env()

    changed = settings.but(checkin_port=9999)

    assert changed.checkin_port == 9999
    assert changed.but(checkin_port=8002) == settings


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        (
            "postgresql://rollcall:secret@db:5432/rollcall",
            "postgresql+psycopg://rollcall:secret@db:5432/rollcall",
        ),
        (
            "postgres://rollcall:secret@db:5432/rollcall",
            "postgresql+psycopg://rollcall:secret@db:5432/rollcall",
        ),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
        ("postgresql+psycopg2://u@db/x", "postgresql+psycopg2://u@db/x"),
        ("sqlite:////var/lib/rollcall/checkin.db", "sqlite:////var/lib/rollcall/checkin.db"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_normalise_url_means_psycopg_3_for_postgresql(url, normal):
    assert normalise_url(url) == normal


def test_normalise_url_keeps_a_password_with_a_scheme_like_part():
    url = "postgresql://u:p%3A%2F%2Fx@db/x?sslmode=require"

    assert normalise_url(url) == "postgresql+psycopg://u:p%3A%2F%2Fx@db/x?sslmode=require"


def test_repr_of_settings_never_shows_the_smtp_password_or_the_signing_key():
    settings = Settings.from_env(
        {
            "SMTP_USER": "mailer",
            "SMTP_PASSWORD": "smtp-pass-f00d",
            "BADGE_SIGNING_KEY": "signing-key-beef",
            "BADGE_VERIFY_KEYS": "verify-key-cafe",
        }
    )

    shown = repr(settings) + str(settings) + f"{settings}"

    assert "smtp-pass-f00d" not in shown
    assert "signing-key-beef" not in shown
    assert "smtp_password" not in shown
    assert "badge_signing_key" not in shown
    # The public half and the user name are no secret, and prove the repr is not empty.
    assert "verify-key-cafe" in shown
    assert "mailer" in shown


def test_repr_of_settings_never_shows_a_password_inside_a_url():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://rollcall:db-pass-f00d@db.example/rollcall",
            "REDIS_URL": "redis://:redis-pass-beef@redis.example:6379/0",
        }
    )

    assert "db-pass-f00d" not in repr(settings)
    assert "redis-pass-beef" not in repr(settings)


def test_settings_are_read_only():
    settings = Settings.from_env()

    with pytest.raises(AttributeError):
        settings.redis_url = "redis://elsewhere"  # type: ignore[misc]


def test_paths_are_paths():
    settings = Settings.from_env()

    assert isinstance(settings.var_dir, Path)
    assert isinstance(settings.mail_dir, Path)
