"""The badge token parser against whatever a camera, a keyboard wedge or a forger hands it:
random text and bytes, one flipped bit, a cut, another key, a claim edited to another event
or badge, and the same token spelt differently. `verify` has two documented outcomes only:
the claim the signer signed, or `InvalidBadge` (the gate's red `invalid`); never another
claim, never another exception.

Tokens carry no validity period (README: a badge stops working when it is revoked or
reissued, which the gate learns from its replica, not from the token), so "expired" is the
replayed older version, tested at the scan endpoints in tests/integration/test_hostile_input.py.
"""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.badges import (
    TOKEN_LENGTH,
    BadgeClaim,
    BadgeSigner,
    BadgeVerifier,
    InvalidBadge,
    generate_keypair,
    key_id,
)

pytestmark = pytest.mark.unit

PRIVATE, PUBLIC = generate_keypair()
SIGNER = BadgeSigner(PRIVATE)
VERIFIER = BadgeVerifier([PUBLIC])
CLAIM_BYTES = struct.calcsize(">BBIIH")
INVALID = "invalid"

CLAIMS = st.builds(
    BadgeClaim,
    event_id=st.integers(0, 2**32 - 1),
    badge_id=st.integers(0, 2**32 - 1),
    version=st.integers(0, 2**16 - 1),
)
QUICK = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same tokens on every run: a failure reproduces
    database=None,
    suppress_health_check=list(HealthCheck),
)
LONG = settings(QUICK, max_examples=3000)


def outcome(token: str, verifier: BadgeVerifier = VERIFIER) -> BadgeClaim | str:
    """What the gate makes of a token: the claim, or "invalid"; anything else escapes."""
    try:
        return verifier.verify(token)
    except InvalidBadge:
        return INVALID


def raw(token: str) -> bytes:
    return base64.b32decode(token + "=" * (-len(token) % 8))


def b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=")


# --- noise -----------------------------------------------------------------------------------


def noise_is_invalid(text: str) -> None:
    assert outcome(text) == INVALID


@QUICK
@given(st.text() | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567=", min_size=100))
def test_any_text_is_invalid_and_nothing_else(text):
    noise_is_invalid(text)


@QUICK
@given(st.binary(min_size=0, max_size=120))
def test_any_bytes_spelt_in_base32_are_invalid(data):
    """Random bytes of every length, including the 76 of a real token (claim + signature)."""
    noise_is_invalid(b32(data))


@QUICK
@given(st.binary(min_size=76, max_size=76))
def test_random_bytes_of_a_tokens_exact_size_are_invalid(data):
    token = b32(data)

    assert len(token) == TOKEN_LENGTH
    noise_is_invalid(token)


@QUICK
@given(CLAIMS)
def test_a_genuine_token_gives_back_exactly_its_claim(claim):
    """The control: without it every "invalid" below could be a verifier that refuses all."""
    assert outcome(SIGNER.sign(claim)) == claim


# --- damage to a genuine token ----------------------------------------------------------------


@QUICK
@given(CLAIMS, st.data())
def test_a_token_with_any_one_bit_flipped_is_invalid(claim, data):
    original = raw(SIGNER.sign(claim))
    bit = data.draw(st.integers(0, len(original) * 8 - 1), label="bit")
    damaged = bytearray(original)
    damaged[bit // 8] ^= 1 << (bit % 8)

    assert outcome(b32(bytes(damaged))) == INVALID


@QUICK
@given(CLAIMS, st.data())
def test_a_cut_token_is_invalid(claim, data):
    token = SIGNER.sign(claim)
    start = data.draw(st.integers(0, TOKEN_LENGTH), label="start")
    end = data.draw(st.integers(start, TOKEN_LENGTH), label="end")
    if (start, end) == (0, TOKEN_LENGTH):
        end -= 1

    assert outcome(token[start:end]) == INVALID


@QUICK
@given(CLAIMS, st.text(min_size=1, max_size=8))
def test_a_token_with_characters_appended_or_prepended_is_invalid(claim, extra):
    token = SIGNER.sign(claim)
    if not extra.strip():
        return  # surrounding white space is a scanner's, and documented to pass
    assert outcome(token + extra) == INVALID
    assert outcome(extra + token) == INVALID


# --- forgeries ---------------------------------------------------------------------------------


@QUICK
@given(CLAIMS, st.binary(min_size=32, max_size=32))
def test_a_token_signed_with_any_other_key_is_invalid(claim, seed):
    forger = BadgeSigner(base64.urlsafe_b64encode(seed).decode().rstrip("="))
    if forger.public_key == PUBLIC:
        return

    assert outcome(forger.sign(claim)) == INVALID


@QUICK
@given(CLAIMS, CLAIMS)
def test_a_claim_edited_to_another_event_badge_or_version_keeps_no_signature(claim, edit):
    """A genuine signature under a claim naming another event (a replay at another congress),
    another badge, or a newer version is a forgery."""
    if edit == claim:
        return
    original = raw(SIGNER.sign(claim))
    other = raw(SIGNER.sign(edit))
    spliced = other[:CLAIM_BYTES] + original[CLAIM_BYTES:]

    assert outcome(b32(spliced)) == INVALID


def forger_sharing_our_key_id() -> BadgeSigner:
    """A key whose one-byte id equals the real key's: one in 256 keys is, found by counting
    through seeds (deterministic, a few milliseconds)."""
    ours = key_id(VERIFIER_KEY)
    for counter in range(100_000):
        seed = hashlib.sha256(counter.to_bytes(4, "big")).digest()
        private = Ed25519PrivateKey.from_private_bytes(seed)
        if key_id(private.public_key()) == ours:
            return BadgeSigner(base64.urlsafe_b64encode(seed).decode().rstrip("="))
    raise AssertionError("no key with the same id among 100,000")


VERIFIER_KEY = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(PUBLIC + "="))
SAME_ID_FORGER = forger_sharing_our_key_id()


@QUICK
@given(CLAIMS)
def test_a_token_signed_by_another_key_with_the_same_key_id_is_invalid(claim):
    """The forger's token gets past the key lookup (same id byte), not past the signature."""
    forged = SAME_ID_FORGER.sign(claim)

    assert raw(forged)[1] == raw(SIGNER.sign(claim))[1]
    assert outcome(forged) == INVALID


# --- the same token, spelt differently ---------------------------------------------------------

RESPELLINGS = {
    "lower case": str.lower,
    "mixed case": lambda t: "".join(c.lower() if i % 2 else c for i, c in enumerate(t)),
    "surrounding white space": lambda t: f" \t{t}\r\n",
    "ideographic space around": lambda t: f"\u3000{t}\u3000",
    "base32 padding": lambda t: t + "=" * (-len(t) % 8),
    "inner space": lambda t: t[:60] + " " + t[60:],
    "full-width letters": lambda t: "".join(chr(ord(c) + 0xFEE0) for c in t),
    "base64 of the same bytes": lambda t: base64.b64encode(raw(t)).decode(),
    "base64url of the same bytes": lambda t: base64.urlsafe_b64encode(raw(t)).decode(),
    "hex of the same bytes": lambda t: raw(t).hex(),
    "zero for O, one for I": lambda t: t.replace("O", "0").replace("I", "1"),
    "a URL around it": lambda t: f"https://rollcall.example/b/{t}",
    "NUL appended": lambda t: t + "\x00",
}
SAME_CLAIM = {"lower case", "mixed case", "surrounding white space", "ideographic space around"}


@pytest.mark.parametrize("respelling", sorted(RESPELLINGS))
@QUICK
@given(claim=CLAIMS)
def test_a_respelt_token_is_the_same_badge_or_invalid_never_another(respelling, claim):
    token = SIGNER.sign(claim)
    respelt = RESPELLINGS[respelling](token)
    if respelt == token:
        return  # e.g. a token without O or I

    expected = claim if respelling in SAME_CLAIM else INVALID
    assert outcome(respelt) == expected


# --- the long run ------------------------------------------------------------------------------


@pytest.mark.faults
@LONG
@given(claim=CLAIMS, data=st.data())
def test_long_run_any_damage_or_noise_is_invalid(claim, data):
    token = SIGNER.sign(claim)
    original = raw(token)
    bit = data.draw(st.integers(0, len(original) * 8 - 1))
    damaged = bytearray(original)
    damaged[bit // 8] ^= 1 << (bit % 8)

    assert outcome(token) == claim
    assert outcome(b32(bytes(damaged))) == INVALID
    assert outcome(data.draw(st.text())) == INVALID
    assert outcome(b32(data.draw(st.binary(min_size=76, max_size=76)))) == INVALID
