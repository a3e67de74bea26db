"""The local stack behind `make run`: prepare (keys, Redis, migrations, demo data), then run
every process of the Procfile under honcho until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import redis

from rollcall import demo, processes
from services import checkin, notify, registration
from shared.badges import ensure_keypair
from shared.config import Settings

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 120
# Where the demo's VIP arrival alerts and organiser digests go (into var/mail, like every mail
# the SMTP sink receives), unless the environment names other addresses, or none ("").
DEMO_ADDRESSES = {
    "PROTOCOL_EMAIL": "protocol@gmf2023.localhost",
    "ORGANISER_EMAIL": "organisers@gmf2023.localhost",
}


def run_stack() -> int:
    settings = Settings.from_env()
    env = environment(os.environ, settings)
    redis_process = None
    if "REDIS_URL" in os.environ:
        _require_redis(os.environ["REDIS_URL"])
    else:
        url, redis_process = processes.start_redis(settings.var_dir / "redis.log")
        env["REDIS_URL"] = url
    try:
        settings = Settings.from_env(env)
        settings.mail_dir.mkdir(parents=True, exist_ok=True)
        if not settings.badge_signing_key:
            ensure_keypair(settings.keys_dir)
        for service in (registration, checkin, notify):
            service.migrate(settings)
        credentials = demo.seed(settings)
        procfile = ["-f", str(ROOT / "Procfile"), "-d", str(ROOT)]
        honcho = subprocess.Popen([sys.executable, "-m", "honcho", "start", *procfile], env=env)
        return _wait(honcho, settings, lambda: _announce(credentials, settings))
    finally:
        if redis_process is not None:
            processes.stop_process(redis_process)


def environment(inherited: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """The environment of every process the stack starts: what it inherits, with the local
    places and ports fixed and the demo's office addresses unless given."""
    env = dict(inherited)
    env.setdefault("VAR_DIR", str(settings.var_dir))
    env.setdefault("REGISTRATION_PORT", str(settings.registration_port))
    env.setdefault("CHECKIN_PORT", str(settings.checkin_port))
    env.setdefault("NOTIFY_PORT", str(settings.notify_port))
    for name, address in DEMO_ADDRESSES.items():
        env.setdefault(name, address)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _wait(honcho: subprocess.Popen, settings: Settings, when_ready) -> int:
    """Wait for honcho; say where things are once both web services answer, so the URLs
    and credentials come after the start-up banners rather than lost among them."""
    # Ctrl-C reaches honcho too (same process group); it stops its children, then we return.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: honcho.send_signal(signal.SIGTERM))
    ports = (settings.registration_port, settings.checkin_port, settings.notify_port)
    health = [f"http://127.0.0.1:{port}/healthz" for port in ports]
    deadline = time.monotonic() + READY_TIMEOUT
    while honcho.poll() is None and time.monotonic() < deadline:
        if all(_answers(url) for url in health):
            when_ready()
            break
        time.sleep(0.25)
    else:
        if honcho.poll() is None:
            print(f"Rollcall: the web services did not answer within {READY_TIMEOUT} s", flush=True)
    return honcho.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _require_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"REDIS_URL is set, but that Redis does not answer: {exc}") from exc


def _announce(demo_data: dict, settings: Settings) -> None:
    urls, event = demo_data["urls"], demo_data["event"]
    notify_url = f"http://127.0.0.1:{settings.notify_port}"
    lines = [
        "",
        "Rollcall is up. Demo event: Global Mayors' Forum 2023 (gmf2023)",
        f"  registration page     {urls['register_page']}",
        f"  register a delegate   POST {urls['register']}",
        f"  scanner page          {settings.checkin_url}/scan",
        f"  scan a badge          POST {urls['scan']}",
        f"  live headcount        GET  {urls['headcount']}",
        f"  dashboard             {settings.checkin_url}/dashboard/{event}",
        f"  notify API            {notify_url}/api/v1/events/{event}/notifications  (…/webhooks)",
        f"  API documents         {urls['registration_openapi']}  {urls['checkin_openapi']}  "
        f"{notify_url}/openapi.json",
        f"  mail received         {urls['mail']}/*.eml",
        f"  VIP alerts to         {settings.protocol_email or '(PROTOCOL_EMAIL unset: none)'}",
        f"  daily digest to       {settings.organiser_email or '(ORGANISER_EMAIL unset: none)'}",
        f"  organiser token       {demo_data['organizer_token']}",
    ]
    lines += [f"  scanner {g:<13} {t}" for g, t in demo_data["scanner_tokens"].items()]
    lines += [
        f"  (all of this is in {settings.var_dir / 'demo.json'}; Ctrl-C stops everything)",
        "",
    ]
    print("\n".join(lines), flush=True)
