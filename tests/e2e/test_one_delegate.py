"""The walking skeleton, end to end, on real parts: `rollcall run` (what `make run` starts)
brings up its own redis-server, both web services on gunicorn, the relays, the Celery workers
and beat, and the SMTP sink; delegates register over HTTP, their badge mails arrive over SMTP,
the QR codes in them are decoded by an independent decoder and scanned at the gates."""

from __future__ import annotations

import contextlib
import email
import io
import json
import os
import signal
import sys
from email import policy
from pathlib import Path

import pytest
import requests
import zxingcpp
from PIL import Image

from tests.conftest import fresh_database
from tests.support.processes import descendants, free_port, running, start_process, wait_until

pytestmark = pytest.mark.e2e

DELEGATES = [
    {
        "given_name": "小明",
        "family_name": "王",
        "email": "wang.xiaoming@gz.example.cn",
        "organisation": "广州市人民政府",
        "city": "广州",
        "country": "CN",
        "category": "mayor",
        "language": "zh",
        "consent": True,
    },
    {
        "given_name": "Σίμος",
        "family_name": "Ρούσσος",
        "email": "s.roussos@halandri.example.gr",
        "organisation": "Δήμος Χαλανδρίου",
        "city": "Χαλάνδρι",
        "country": "GR",
        "category": "mayor",
        "language": "en",
        "consent": True,
    },
    {
        "given_name": "Clara",
        "family_name": "Brugada Molina",
        "email": "alcaldia@iztapalapa.example.mx",
        "organisation": "Alcaldía de Iztapalapa — Utopías",
        "city": "Iztapalapa",
        "country": "MX",
        "category": "delegate",
        "language": "en",
        "consent": True,
    },
]


class Stack:
    """`rollcall run` as a real process group, and a small client for what it serves."""

    def __init__(self, tmp_path: Path, extra_env: dict[str, str]):
        self.var = tmp_path / "var"
        self.log = tmp_path / "rollcall-run.log"
        env = {k: v for k, v in os.environ.items() if not k.endswith(("REDIS_URL", "DATABASE_URL"))}
        env.update(
            VAR_DIR=str(self.var),
            REGISTRATION_PORT=str(free_port()),
            CHECKIN_PORT=str(free_port()),
            NOTIFY_PORT=str(free_port()),
            SMTP_PORT=str(free_port()),
            RELAY_INTERVAL="0.1",
            **extra_env,
        )
        self.registration = f"http://127.0.0.1:{env['REGISTRATION_PORT']}"
        self.checkin = f"http://127.0.0.1:{env['CHECKIN_PORT']}"
        self.process = start_process([sys.executable, "-m", "rollcall.cli", "run"], env, self.log)

    def wait_ready(self) -> dict:
        def ready():
            self._alive()
            demo = self.var / "demo.json"
            return (
                demo.exists()
                and requests.get(f"{self.registration}/healthz", timeout=2).ok
                and requests.get(f"{self.checkin}/healthz", timeout=2).ok
                and json.loads(demo.read_text())
            )

        self.demo = wait_until(ready, 90, "the stack to answer /healthz")
        self.family = descendants(self.process.pid)  # every process `rollcall run` started
        return self.demo

    def _alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"rollcall run exited:\n{self.log.read_text()[-3000:]}")

    def mails(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted((self.var / "mail").glob("*.eml"))
        ]

    def scan(self, token: str, gate: str) -> dict:
        response = requests.post(
            f"{self.checkin}/api/v1/scans",
            json={"token": token, "direction": "in"},
            headers={"Authorization": f"Bearer {self.demo['scanner_tokens'][gate]}"},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def headcount(self) -> dict:
        response = requests.get(
            f"{self.checkin}/api/v1/events/gmf2023/headcount",
            headers={"Authorization": f"Bearer {self.demo['organizer_token']}"},
            timeout=5,
        )
        return response.json() if response.ok else {}

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it: SIGINT to the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(60)

    def leftovers(self) -> list[int]:
        return running([self.process.pid, *getattr(self, "family", [])])

    def kill(self) -> None:
        """After a failure: nothing the stack started may outlive the test."""
        for pid in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)


def qr_text(message: email.message.EmailMessage) -> str:
    """The QR code in the mail's PNG attachment, read by zxing-cpp, a decoder of its own."""
    pngs = [
        part
        for part in message.walk()
        if part.get_content_type() == "image/png" and part.get_filename()
    ]
    assert pngs, "the badge mail has a PNG attachment"
    image = Image.open(io.BytesIO(pngs[0].get_content()))
    codes = zxingcpp.read_barcodes(image)
    assert len(codes) == 1 and codes[0].format == zxingcpp.BarcodeFormat.QRCode
    return codes[0].text


def one_delegate_each(stack: Stack) -> None:
    demo = stack.wait_ready()
    assert set(demo["scanner_tokens"]) == {"North", "South", "East", "VIP"}

    for body in DELEGATES:
        response = requests.post(
            f"{stack.registration}/api/v1/events/gmf2023/registrations", json=body, timeout=5
        )
        assert response.status_code == 201, response.text
        assert response.json()["manage_token"]
    again = requests.post(
        f"{stack.registration}/api/v1/events/gmf2023/registrations", json=DELEGATES[0], timeout=5
    )
    assert again.status_code == 409

    mails = wait_until(lambda: len(stack.mails()) >= 3 and stack.mails(), 60, "three badge mails")
    by_address = {m["To"].addresses[0].addr_spec: m for m in mails}
    assert set(by_address) == {d["email"] for d in DELEGATES}
    chinese = by_address[DELEGATES[0]["email"]]
    assert "王小明" in str(chinese["To"])
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese["Subject"])
    assert "Σίμος Ρούσσος" in str(by_address[DELEGATES[1]["email"]]["To"])
    tokens = {address: qr_text(mail) for address, mail in by_address.items()}
    assert len(set(tokens.values())) == 3

    wait_until(lambda: stack.headcount().get("registered") == 3, 30, "checkin's replica")
    gates = ["North", "South", "VIP"]
    for person, gate in zip(DELEGATES, gates, strict=True):
        answer = stack.scan(tokens[person["email"]], gate)
        assert answer["result"] == "admitted", (person["email"], answer)
    chinese_token = tokens[DELEGATES[0]["email"]]
    second = stack.scan(chinese_token, "East")
    assert second["result"] == "already_inside"
    assert second["inside_gate"] == "North"
    assert second["badge"]["display_name"] == "王小明"
    position = len(chinese_token) // 2
    swap = "A" if chinese_token[position] != "A" else "B"
    forged = chinese_token[:position] + swap + chinese_token[position + 1 :]
    assert stack.scan(forged, "East")["result"] == "invalid"

    count = stack.headcount()
    assert (count["registered"], count["arrived"], count["inside"]) == (3, 3, 3)
    assert count["by_category"]["mayor"]["inside"] == 2
    assert count["by_gate"]["VIP"]["inside"] == 1

    printed = stack.log.read_text()
    assert "Rollcall is up" in printed and demo["organizer_token"] in printed
    assert f"{stack.checkin}/scan" in printed  # the scanner page
    assert "/api/v1/events/gmf2023/notifications" in printed  # notify's API
    assert "protocol@gmf2023.localhost" in printed  # VIP alerts land in var/mail

    assert len(stack.family) >= 10  # redis, two gunicorns and their workers, relays, Celery, sink
    exit_code = stack.interrupt()
    wait_until(lambda: not stack.leftovers(), 30, "every process of the stack to stop")
    assert exit_code == 130, stack.log.read_text()[-2000:]  # 128 + SIGINT, as a shell reports


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_one_delegate_end_to_end(tmp_path, request, database):
    with fresh_database(database, tmp_path, request) as url:
        # On SQLite each service keeps its own file under VAR_DIR, as `make run` does.
        stack = Stack(tmp_path, {"DATABASE_URL": url} if database == "postgresql" else {})
        try:
            one_delegate_each(stack)
        finally:
            stack.kill()
