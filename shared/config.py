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
    max_body_bytes: int
    registration_rate_limit: int
    proxy_hops: int
    relay_interval: float
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
            max_body_bytes=int(env.get("MAX_BODY_BYTES", str(1024 * 1024))),
            registration_rate_limit=int(env.get("REGISTRATION_RATE_LIMIT", "60")),
            proxy_hops=int(env.get("PROXY_HOPS", "0")),
            relay_interval=float(env.get("RELAY_INTERVAL", "0.2")),
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
