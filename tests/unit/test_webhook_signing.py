"""Webhook signatures verify with the recipe the README documents (and fail for a tampered
body, another secret, an old timestamp); secrets derive from a nonce under the key; endpoint
URLs are HTTPS but for loopback; bodies carry nothing secret; retries back off with jitter."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from pathlib import Path

import pytest

from services.notify import webhooks
from services.notify.webhook_delivery import RetryPolicy
from shared.errors import Invalid
from shared.events import BADGE_REISSUED, parse
from tests.support.factories import envelope, registered_envelope

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = bytes.fromhex("a1" * 32)


def readme_verify():
    """The `verify` function of the README's Webhooks section, exactly as documented."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    (recipe,) = [b for b in blocks if "def verify(" in b]
    namespace: dict = {}
    exec(recipe, namespace)  # the documentation is the code under test here
    return namespace["verify"]


def test_a_signature_verifies_with_the_readme_recipe():
    verify = readme_verify()
    body = json.dumps({"type": "delegate.confirmed", "name": "王小明"}).encode()
    header = webhooks.signature("whsec_test", body)

    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify("whsec_test", header, body)


def test_a_tampered_body_another_secret_or_an_old_signature_fails_the_recipe():
    verify = readme_verify()
    body = b'{"type":"checkin.admitted","gate":"North"}'
    header = webhooks.signature("whsec_test", body)

    assert not verify("whsec_test", header, body.replace(b"North", b"South"))
    assert not verify("whsec_other", header, body)
    old = webhooks.signature("whsec_test", body, timestamp=int(time.time()) - 3600)
    assert not verify("whsec_test", old, body)
    assert not verify("whsec_test", "garbage", body)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    assert webhooks.signature("k", b"{}", timestamp=1700000000) == (
        "t=1700000000,v1=" + hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    )


def test_secrets_derive_from_the_nonce_under_the_key_and_are_not_in_the_repr():
    keys = webhooks.Secrets(KEY)
    nonce = keys.new_nonce()

    assert keys.secret(nonce) == webhooks.Secrets(KEY).secret(nonce)
    assert keys.secret(nonce).startswith("whsec_")
    assert keys.secret(nonce) != keys.secret(keys.new_nonce())
    assert keys.secret(nonce) != webhooks.Secrets(b"\x02" * 32).secret(nonce)
    assert KEY.hex() not in repr(keys)
    with pytest.raises(ValueError):
        webhooks.Secrets(b"short")


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.org/rollcall",
        "https://hooks.example.org:8443/x?y=1",
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]:8080/hook",
    ],
)
def test_https_endpoints_and_plain_http_on_loopback_are_accepted(url):
    assert webhooks.check_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/rollcall",
        "http://10.0.0.5/hook",
        "ftp://hooks.example.org/",
        "hooks.example.org/x",
        "https://user:pass@hooks.example.org/",
        "https://169.254.169.254/latest/meta-data",
        "",
    ],
)
def test_other_endpoints_are_refused_naming_the_url(url):
    with pytest.raises(Invalid) as refused:
        webhooks.check_url(url)
    assert list(refused.value.fields) == ["url"]


def test_a_delegate_event_body_carries_neither_manage_nonce_nor_badge_token():
    raw = registered_envelope(display_name="Σίμος Ρούσσος")
    raw["payload"]["delegate"]["manage_nonce"] = "f" * 32
    loaded, payload = parse(raw)

    hook = webhooks.hook_event(loaded, payload)
    text = json.dumps(hook.body, ensure_ascii=False)

    assert hook.event_id == raw["event_id"]
    assert hook.delegate_id == raw["payload"]["delegate"]["id"]
    assert set(hook.body) == {"event_id", "type", "occurred_at", "version", "payload"}
    assert hook.body["payload"]["delegate"]["display_name"] == "Σίμος Ρούσσος"
    assert "manage_nonce" not in text and "f" * 32 not in text
    assert "token" not in hook.body["payload"]["badge"]
    assert raw["payload"]["badge"]["token"] not in text
    assert "sequence" not in text and "producer" not in text


def test_a_reissued_badge_body_keeps_the_badge_version_and_status():
    raw = registered_envelope()
    raw = envelope(BADGE_REISSUED, raw["payload"])
    hook = webhooks.hook_event(*parse(raw))

    badge = hook.body["payload"]["badge"]
    assert set(badge) == {"id", "version", "status", "reason"}
    assert hook.type == BADGE_REISSUED


def test_backoff_doubles_up_to_the_cap_with_jitter_between_half_and_all():
    policy = RetryPolicy(max_attempts=8, delay=30, max_delay=1800)

    for attempts, ceiling in [(1, 30), (2, 60), (3, 120), (7, 1800), (12, 1800)]:
        waits = [policy.backoff(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1  # jittered
