"""Settings, read once from the environment, with defaults that work on a laptop.

Every service takes a `Settings`; tests build their own with `Settings.from_env(overrides)`.
`.env.example` documents each variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


def _sqlite_url(var_dir: Path, name: str) -> str:
    return f"sqlite:///{var_dir / f'{name}.db'}"


def _without_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


@dataclass(frozen=True, repr=False)
class Settings:
    var_dir: Path
    redis_url: str
    registration_database_url: str
    checkin_database_url: str
    notify_database_url: str
    registration_url: str
    checkin_url: str
    registration_port: int
    checkin_port: int
    smtp_host: str
    smtp_port: int
    smtp_user: str | None
    smtp_password: str | None = field(repr=False)
    smtp_starttls: bool
    smtp_timeout: float
    mail_from: str
    mail_dir: Path
    badge_signing_key: str | None = field(repr=False)
    badge_verify_keys: str | None
    manage_link_key: str | None = field(repr=False)
    max_body_bytes: int
    registration_rate_limit: int
    # Guards against guessing and floods (shared/ratelimit.py), per minute; 0 turns one off.
    auth_failure_limit: int
    manage_rate_limit: int
    scan_rate_limit: int
    scan_address_rate_limit: int
    proxy_hops: int
    relay_interval: float
    notify_mail_rate: float
    # VIP arrival alerts, the organiser digest and SMS (services/notify/vip.py, digest.py, sms.py)
    vip_categories: tuple[str, ...]
    protocol_email: str | None
    protocol_phone: str | None
    organiser_email: str | None
    sms_gateway_url: str | None
    sms_gateway_token: str | None = field(repr=False)
    # notify's web API and outgoing webhooks (services/notify/api.py, webhooks.py)
    notify_port: int
    webhook_secret_key: str | None = field(repr=False)
    webhook_max_attempts: int
    webhook_retry_delay: float
    webhook_retry_max_delay: float
    webhook_timeout: float
    # Crash recovery (services/notify/delivery.py, shared/celery_app.py): seconds a message may
    # sit unsent before notify's redrive takes it over, and before Redis hands a task that no
    # worker acknowledged to another worker. Both shortened only by the fault tests.
    notify_sending_lease: float
    celery_visibility_timeout: int
    # registration's change feed and snapshot API (services/registration/feed_api.py), which
    # checkin's worker reads to rebuild and catch up its replica with this machine credential.
    feed_token: str | None = field(repr=False)
    feed_url: str
    log_level: str

    @classmethod
    def from_env(cls, overrides: Mapping[str, str] | None = None) -> Settings:
        env = {**os.environ, **(overrides or {})}
        var_dir = Path(env.get("VAR_DIR", "var")).resolve()
        shared_db = env.get("DATABASE_URL")
        reg_port = int(env.get("REGISTRATION_PORT", "8001"))
        checkin_port = int(env.get("CHECKIN_PORT", "8002"))

        def database(service: str) -> str:
            own = env.get(f"{service.upper()}_DATABASE_URL")
            return own or shared_db or _sqlite_url(var_dir, service)

        return cls(
            var_dir=var_dir,
            redis_url=env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            registration_database_url=database("registration"),
            checkin_database_url=database("checkin"),
            notify_database_url=database("notify"),
            registration_url=env.get("REGISTRATION_URL", f"http://127.0.0.1:{reg_port}"),
            checkin_url=env.get("CHECKIN_URL", f"http://127.0.0.1:{checkin_port}"),
            registration_port=reg_port,
            checkin_port=checkin_port,
            smtp_host=env.get("SMTP_HOST", "127.0.0.1"),
            smtp_port=int(env.get("SMTP_PORT", "8025")),
            smtp_user=env.get("SMTP_USER") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_starttls=env.get("SMTP_STARTTLS", "false").lower() in {"1", "true", "yes"},
            smtp_timeout=float(env.get("SMTP_TIMEOUT", "10")),
            mail_from=env.get("MAIL_FROM", "Rollcall <badges@rollcall.localhost>"),
            mail_dir=Path(env.get("MAIL_DIR", str(var_dir / "mail"))).resolve(),
            badge_signing_key=env.get("BADGE_SIGNING_KEY") or None,
            badge_verify_keys=env.get("BADGE_VERIFY_KEYS") or None,
            manage_link_key=env.get("MANAGE_LINK_KEY") or None,
            max_body_bytes=int(env.get("MAX_BODY_BYTES", str(1024 * 1024))),
            registration_rate_limit=int(env.get("REGISTRATION_RATE_LIMIT", "60")),
            auth_failure_limit=int(env.get("AUTH_FAILURE_LIMIT", "30")),
            manage_rate_limit=int(env.get("MANAGE_RATE_LIMIT", "120")),
            # A gate scans about once a second at most; a device gets five times that.
            scan_rate_limit=int(env.get("SCAN_RATE_LIMIT", "300")),
            scan_address_rate_limit=int(env.get("SCAN_ADDRESS_RATE_LIMIT", "3000")),
            proxy_hops=int(env.get("PROXY_HOPS", "0")),
            relay_interval=float(env.get("RELAY_INTERVAL", "0.2")),
            # Mails a second over SMTP, shared by every notify worker; 0 turns it off.
            notify_mail_rate=float(env.get("NOTIFY_MAIL_RATE", "10")),
            vip_categories=tuple(
                code.strip()
                for code in env.get("VIP_CATEGORIES", "mayor,vip").split(",")
                if code.strip()
            ),
            protocol_email=env.get("PROTOCOL_EMAIL") or None,
            protocol_phone=env.get("PROTOCOL_PHONE") or None,
            organiser_email=env.get("ORGANISER_EMAIL") or None,
            sms_gateway_url=env.get("SMS_GATEWAY_URL") or None,
            sms_gateway_token=env.get("SMS_GATEWAY_TOKEN") or None,
            notify_port=int(env.get("NOTIFY_PORT", "8003")),
            webhook_secret_key=env.get("WEBHOOK_SECRET_KEY") or None,
            # A delivery is tried this often in all; the wait doubles from the delay (with
            # jitter) up to the max, which stays under the broker's visibility timeout.
            webhook_max_attempts=int(env.get("WEBHOOK_MAX_ATTEMPTS", "8")),
            webhook_retry_delay=float(env.get("WEBHOOK_RETRY_DELAY", "30")),
            webhook_retry_max_delay=float(env.get("WEBHOOK_RETRY_MAX_DELAY", "1800")),
            webhook_timeout=float(env.get("WEBHOOK_TIMEOUT", "10")),
            notify_sending_lease=float(env.get("NOTIFY_SENDING_LEASE", "300")),
            celery_visibility_timeout=int(env.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
            feed_token=env.get("FEED_TOKEN") or None,
            feed_url=env.get("FEED_URL")
            or env.get("REGISTRATION_URL", f"http://127.0.0.1:{reg_port}"),
            log_level=env.get("LOG_LEVEL", "INFO"),
        )

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if f.name.endswith("_url") and isinstance(value, str):
                value = _without_password(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def but(self, **changes) -> Settings:
        """A copy with some fields changed (tests)."""
        return replace(self, **changes)

    @property
    def keys_dir(self) -> Path:
        return self.var_dir / "keys"
