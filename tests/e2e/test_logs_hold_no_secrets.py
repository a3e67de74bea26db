"""No secret and no personal data in the logs of a full run: `rollcall run` (every process),
one delegate's whole story (registered with a distinctive name, organisation, city and e-mail,
confirmed, badge mail, scanned in as a VIP so the protocol office is mailed and texted,
searched for at the desk, their manage page and API used, a correction, erased), an organiser
watching the live stream and adding a webhook, and a few wrong tokens. Then stdout/stderr of
every process and every log file under VAR_DIR are searched for each token, key, ticket and
personal detail: none may appear.

Allowed: ids (registration, badge, scan), the event's slug, categories, gates and, once at
start-up, the demo banner that prints the demo's organiser and scanner tokens for a laptop
(`rollcall run` says so; production does not run the demo)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests

from tests.e2e.test_one_delegate import Stack, qr_text
from tests.support.processes import free_port, wait_until

pytestmark = pytest.mark.e2e

PERSON = {
    "given_name": "Zebulon",
    "family_name": "Quartermaine-Oyelaran",
    "email": "zq.oyelaran@quiet-mail.example.net",
    "organisation": "Municipality of Xanthoria Vale",
    "city": "Xanthoria Vale",
    "country": "NG",
    "category": "mayor",  # a VIP category: the protocol office is alerted when they arrive
    "language": "en",
    "title": "Lord Mayor Wexcombe",
    "consent": True,
}
PHONE = "+234 809 555 0142"  # the protocol office's mobile: VIP arrivals are texted to it
BANNER = ("Rollcall is up.", "Ctrl-C stops everything)")


def without_banner(text: str) -> str:
    """The log without the start-up banner (the demo's credentials, printed once on purpose)."""
    start = text.find(BANNER[0])
    if start < 0:
        return text
    end = text.find(BANNER[1], start)
    assert end > start, "the banner ends"
    return text[:start] + text[end + len(BANNER[1]) :]


def call(method: str, url: str, token: str | None = None, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, url, headers=headers, timeout=10, **kw)


def one_delegates_story(stack: Stack, secret: dict[str, str]) -> None:
    demo = stack.wait_ready()
    reg, chk = stack.registration, stack.checkin
    ntf = f"http://127.0.0.1:{stack.notify_port}"
    organiser, supervisor = demo["organizer_token"], demo["supervisor_token"]

    created = call("POST", f"{reg}/api/v1/events/gmf2023/registrations", json=PERSON)
    assert created.status_code == 201, created.text
    rid, secret["manage token"] = created.json()["id"], created.json()["manage_token"]
    mail = wait_until(
        lambda: [m for m in stack.mails() if PERSON["email"] in str(m["To"])], 60, "badge mail"
    )[0]
    secret["badge token"] = qr_text(mail)
    wait_until(lambda: stack.headcount().get("registered") == 1, 30, "checkin's replica")

    assert stack.scan(secret["badge token"], "North")["result"] == "admitted"
    found = call("GET", f"{chk}/api/v1/events/gmf2023/badges", supervisor,
                 params={"q": PERSON["family_name"]})  # fmt: skip
    assert [hit["badge"]["registration_id"] for hit in found.json()["results"]] == [rid]
    ticket = call("POST", f"{chk}/api/v1/events/gmf2023/live/tickets", organiser).json()
    secret["live ticket"] = ticket["ticket"]
    with requests.get(f"{chk}{ticket['stream']}", stream=True, timeout=10) as live:
        assert live.status_code == 200
        assert next(live.iter_lines(decode_unicode=True))  # the first headcount
    endpoint = {"url": "http://127.0.0.1:9/hooks", "event_types": ["delegate.erased"]}
    hook = call("POST", f"{ntf}/api/v1/events/gmf2023/webhooks", organiser, json=endpoint)
    secret["webhook secret"] = hook.json()["secret"]

    assert call("GET", f"{reg}/manage/{rid}").status_code == 200  # the page; the token stays in JS
    mine = f"{reg}/api/v1/registrations/{rid}"
    assert call("GET", mine, secret["manage token"]).json()["email"] == PERSON["email"]
    assert call("PATCH", mine, secret["manage token"], json={"city": "Xanthoria Vale East"}).ok
    assert call("GET", f"{mine}/badge.png", secret["manage token"]).ok
    for wrong in ("rc_mng_" + secrets.token_urlsafe(32), "rc_org_" + secrets.token_urlsafe(32)):
        secret[f"wrong token {wrong[:6]}"] = wrong
        assert call("GET", mine, wrong).status_code == 401
    assert call("POST", f"{mine}/erase", secret["manage token"]).json()["given_name"] == "Erased"

    # The erasure reaches the gates (the badge is void) and notify (it forgets them).
    wait_until(
        lambda: stack.scan(secret["badge token"], "South")["result"] == "revoked", 30, "erasure"
    )
    erased = f"delegate {rid} erased"  # notify's worker forgot them too
    wait_until(lambda: erased in stack.log.read_text(), 30, "notify's erasure")

    assert stack.interrupt() == 130


def test_the_logs_of_a_full_run_hold_no_secret_and_no_personal_data(tmp_path):
    keys = {
        "MANAGE_LINK_KEY": secrets.token_hex(32),
        "WEBHOOK_SECRET_KEY": secrets.token_hex(32),
        "FEED_TOKEN": f"rc_feed_{secrets.token_urlsafe(32)}",
        "SMS_GATEWAY_TOKEN": f"sms-{secrets.token_urlsafe(24)}",
    }
    env = {
        **keys,
        "PROTOCOL_PHONE": PHONE,
        "SMS_GATEWAY_URL": f"http://127.0.0.1:{free_port()}/sms",  # down: its errors are logged
        "LOG_LEVEL": "DEBUG",  # the most a log can say
    }
    stack = Stack(tmp_path, env)
    stack.notify_port = notify_port(stack)
    secret: dict[str, str] = dict(keys)
    try:
        one_delegates_story(stack, secret)
        wait_until(lambda: not stack.leftovers(), 30, "every process of the stack to stop")
    finally:
        stack.kill()
    secret["supervisor token"] = stack.demo["supervisor_token"]
    secret["badge signing key"] = (stack.var / "keys" / "badge-signing.key").read_text().strip()
    personal = {name: PERSON[name] for name in ("given_name", "family_name", "email",
                                                "organisation", "city", "title")}  # fmt: skip
    personal |= {"new city": "Xanthoria Vale East", "phone": PHONE, "phone digits": "8095550142"}

    logs = {"stdout": without_banner(stack.log.read_text())}
    logs |= {str(p.relative_to(stack.var)): p.read_text(errors="replace")
             for p in stack.var.rglob("*.log")}  # fmt: skip
    found = [
        f"{what} in {name}"
        for name, text in logs.items()
        for what, value in {**secret, **personal}.items()
        if value in text or value.lower() in text.lower()
    ]

    assert (
        len(logs["stdout"]) > 10_000
    )  # every process logged (DEBUG), so the search means something
    assert found == []
    print(f"searched {len(logs)} logs, {sum(map(len, logs.values()))} characters, "
          f"for {len(secret)} secrets and {len(personal)} personal details")  # fmt: skip


def notify_port(stack: Stack) -> int:
    """notify's port, as `Stack` chose it (from the environment of the process it started)."""
    environ = Path(f"/proc/{stack.process.pid}/environ").read_bytes().split(b"\0")
    return int(dict(v.decode().split("=", 1) for v in environ if b"=" in v)["NOTIFY_PORT"])
