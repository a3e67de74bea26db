"""Badge tokens: signing and verifying, tampering, key rotation, the QR image, key files."""

from __future__ import annotations

import base64
import io
import os
import random
import re
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import qrcode
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from PIL import Image

from shared.badges import (
    SIGNING_KEY_FILE,
    TOKEN_LENGTH,
    VERIFY_KEY_FILE,
    BadgeClaim,
    BadgeSigner,
    BadgeVerifier,
    InvalidBadge,
    ensure_keypair,
    generate_keypair,
    key_id,
    main,
    qr_png,
    signer_from,
    token_bytes,
    verifier_from,
)
from shared.config import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
CLAIM = BadgeClaim(event_id=7, badge_id=4242, version=1)
# The largest values a claim can carry (unsigned 32, 32 and 16 bits).
LARGEST = BadgeClaim(event_id=2**32 - 1, badge_id=2**32 - 1, version=2**16 - 1)


def keypair() -> tuple[BadgeSigner, str]:
    private, public = generate_keypair()
    return BadgeSigner(private), public


SIGNER, PUBLIC = keypair()
VERIFIER = BadgeVerifier([PUBLIC])
TOKEN = SIGNER.sign(CLAIM)


def kid_of(public: str) -> int:
    return key_id(Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(public + "=")))


def settings_in(var_dir: Path, **env: str) -> Settings:
    """Settings for a scratch VAR_DIR; key variables are blank unless given (not inherited)."""
    overrides = {"VAR_DIR": str(var_dir), "BADGE_SIGNING_KEY": "", "BADGE_VERIFY_KEYS": ""}
    return Settings.from_env({**overrides, **env})


def file_key(var_dir: Path) -> str:
    return (var_dir / "keys" / SIGNING_KEY_FILE).read_text().strip()


# --- sign and verify -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "claim",
    [CLAIM, BadgeClaim(event_id=0, badge_id=0, version=0), LARGEST],
    ids=["typical", "zeros", "largest"],
)
def test_verifying_a_signed_token_gives_back_its_claim(claim):
    assert VERIFIER.verify(SIGNER.sign(claim)) == claim


@pytest.mark.parametrize("claim", [CLAIM, BadgeClaim(0, 0, 0), LARGEST])
def test_token_has_the_fixed_length_and_only_qr_alphanumeric_characters(claim):
    token = SIGNER.sign(claim)

    assert len(token) == TOKEN_LENGTH
    assert set(token) <= set(BASE32) <= QR_ALPHANUMERIC


def test_signing_the_same_claim_twice_gives_the_same_token():
    # Ed25519 is deterministic: a reissued mail carries the very same badge.
    assert SIGNER.sign(CLAIM) == SIGNER.sign(CLAIM)


def test_token_with_one_character_changed_is_rejected():
    """Every position, every bit of the character there (each other character differs from
    it in at least one of these bits), including the last character's two spare bits: only
    the spelling the signer made is a badge."""
    accepted = []
    for position, original in enumerate(TOKEN):
        for bit in range(5):
            replacement = BASE32[BASE32.index(original) ^ (1 << bit)]
            changed = TOKEN[:position] + replacement + TOKEN[position + 1 :]
            try:
                accepted.append((position, replacement, VERIFIER.verify(changed)))
            except InvalidBadge:
                continue

    assert accepted == []


def test_any_76_bytes_spelled_in_base32_read_back_as_those_bytes():
    """The verifier's reading of a token (as one number, in C) against the standard library's
    base32, for random bytes and the extremes."""
    samples = [bytes(76), b"\xff" * 76, *(os.urandom(76) for _ in range(500))]
    for raw in samples:
        assert token_bytes(base64.b32encode(raw).decode().rstrip("=")) == raw


def test_token_signed_with_another_key_is_rejected():
    stranger, _ = keypair()

    with pytest.raises(InvalidBadge):
        VERIFIER.verify(stranger.sign(CLAIM))


def test_token_of_an_unknown_format_is_rejected_even_when_its_signature_verifies():
    private = Ed25519PrivateKey.generate()
    body = struct.pack(">BBIIH", 2, key_id(private.public_key()), 7, 4242, 1)
    token = base64.b32encode(body + private.sign(body)).decode().rstrip("=")
    public = base64.urlsafe_b64encode(private.public_key().public_bytes_raw()).decode()
    public = public.rstrip("=")

    assert len(token) == TOKEN_LENGTH
    with pytest.raises(InvalidBadge, match="format"):
        BadgeVerifier([public]).verify(token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        " ",
        TOKEN[:-1],
        TOKEN[1:],
        TOKEN[: TOKEN_LENGTH // 2],
        TOKEN + "A",
        TOKEN + TOKEN,
        TOKEN + "======",
        "A" * TOKEN_LENGTH,
        "0" * TOKEN_LENGTH,
        "1" + TOKEN[1:],
        "!" * TOKEN_LENGTH,
        "é" * TOKEN_LENGTH,
        "ß" * (TOKEN_LENGTH // 2),  # upper-cases to "SS" * 61: the right length, not a token
        "https://example.org/badge",
        TOKEN[:60] + " " + TOKEN[61:],
        "+" + TOKEN[1:],
        TOKEN[:60] + "_" + TOKEN[61:],
        "-" + TOKEN[1:],
    ],
    ids=[
        "empty",
        "blank",
        "one-short",
        "first-missing",
        "half",
        "one-extra",
        "doubled",
        "padded",
        "all-A",
        "digit-0",
        "digit-1",
        "punctuation",
        "non-ascii",
        "eszett",
        "url",
        "inner-space",
        "plus-sign",
        "underscore",
        "minus-sign",
    ],
)
def test_malformed_token_is_rejected(token):
    with pytest.raises(InvalidBadge):
        VERIFIER.verify(token)


def test_lower_case_token_verifies_to_the_same_claim():
    # Some scanners report alphanumeric QR content in lower case; base32 is case-blind.
    assert VERIFIER.verify(TOKEN.lower()) == CLAIM
    assert VERIFIER.verify(TOKEN[:50].lower() + TOKEN[50:]) == CLAIM


def test_token_with_surrounding_white_space_verifies():
    assert VERIFIER.verify(f"  {TOKEN}\r\n") == CLAIM


def test_verifier_holding_the_old_and_new_key_accepts_badges_of_both():
    old_signer, old_public = keypair()
    new_signer, new_public = keypair()
    verifier = BadgeVerifier([old_public, new_public])
    old_claim, new_claim = BadgeClaim(7, 1, 1), BadgeClaim(7, 2, 1)

    assert verifier.verify(old_signer.sign(old_claim)) == old_claim
    assert verifier.verify(new_signer.sign(new_claim)) == new_claim


def test_verifier_holding_only_the_new_key_rejects_badges_of_the_old():
    old_signer, _ = keypair()
    _, new_public = keypair()

    with pytest.raises(InvalidBadge):
        BadgeVerifier([new_public]).verify(old_signer.sign(CLAIM))


def test_verifier_accepts_badges_of_two_keys_that_share_a_key_id():
    first_signer, first_public = keypair()
    for _ in range(50_000):  # expected ~256 tries
        second_private, second_public = generate_keypair()
        if kid_of(second_public) == kid_of(first_public):
            break
    else:
        pytest.fail("no key with a colliding key id was found")
    second_signer = BadgeSigner(second_private)
    verifier = BadgeVerifier([first_public, second_public])

    assert verifier.verify(second_signer.sign(CLAIM)) == CLAIM
    assert verifier.verify(first_signer.sign(CLAIM)) == CLAIM


def test_verifier_needs_at_least_one_key():
    with pytest.raises(ValueError, match="at least one"):
        BadgeVerifier([])


# --- the QR image ----------------------------------------------------------------------------


@pytest.mark.parametrize("claim", [CLAIM, LARGEST])
def test_qr_image_decodes_back_to_the_exact_token(claim):
    token = SIGNER.sign(claim)

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(token))))

    assert [(b.format, b.text) for b in found] == [(zxingcpp.BarcodeFormat.QRCode, token)]
    assert found[0].ec_level == "M"


def test_qr_code_is_version_5_or_smaller():
    box_size, border = 8, 4  # qr_png's box size; qrcode's default quiet zone
    image = Image.open(io.BytesIO(qr_png(SIGNER.sign(LARGEST), box_size=box_size)))
    modules = image.width // box_size - 2 * border

    same_settings = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    same_settings.add_data(SIGNER.sign(LARGEST))
    same_settings.make(fit=True)

    assert image.width == image.height
    assert modules == 17 + 4 * same_settings.version
    assert same_settings.version <= 5
    assert same_settings.data_list[0].mode == qrcode.util.MODE_ALPHA_NUM


def scanned(png: bytes) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_the_qr_of_every_token_scans_with_the_one_mask_all_badges_use():
    rng = random.Random(20231207)
    for _ in range(100):
        claim = BadgeClaim(rng.randrange(2**32), rng.randrange(2**32), rng.randrange(2**16))
        token = SIGNER.sign(claim)
        assert scanned(qr_png(token, box_size=3)) == [token]


def test_a_reissued_badges_qr_holds_the_new_token_not_the_one_drawn_before():
    old = SIGNER.sign(BadgeClaim(event_id=7, badge_id=4243, version=1))
    new = SIGNER.sign(BadgeClaim(event_id=7, badge_id=4243, version=2))

    assert scanned(qr_png(old)) == [old]
    assert scanned(qr_png(new)) == [new]
    assert scanned(qr_png(old, box_size=4)) == [old]  # and the old one is still the old one


# --- key files and settings ------------------------------------------------------------------


def test_ensure_keypair_creates_a_private_key_only_its_owner_can_read(tmp_path):
    keys_dir = tmp_path / "keys"

    ensure_keypair(keys_dir)

    assert stat.S_IMODE(os.stat(keys_dir / SIGNING_KEY_FILE).st_mode) == 0o600
    private = (keys_dir / SIGNING_KEY_FILE).read_text().strip()
    public = (keys_dir / VERIFY_KEY_FILE).read_text().strip()
    assert BadgeSigner(private).public_key == public


def test_ensure_keypair_leaves_an_existing_pair_alone(tmp_path):
    ensure_keypair(tmp_path)
    before = [(tmp_path / name).read_text() for name in (SIGNING_KEY_FILE, VERIFY_KEY_FILE)]

    ensure_keypair(tmp_path)

    after = [(tmp_path / name).read_text() for name in (SIGNING_KEY_FILE, VERIFY_KEY_FILE)]
    assert after == before
    assert stat.S_IMODE(os.stat(tmp_path / SIGNING_KEY_FILE).st_mode) == 0o600


def test_ensure_keypair_never_replaces_an_existing_signing_key(tmp_path):
    ensure_keypair(tmp_path)
    private = (tmp_path / SIGNING_KEY_FILE).read_text()
    (tmp_path / VERIFY_KEY_FILE).unlink()

    ensure_keypair(tmp_path)

    assert (tmp_path / SIGNING_KEY_FILE).read_text() == private
    public = (tmp_path / VERIFY_KEY_FILE).read_text().strip()
    assert BadgeSigner(private.strip()).public_key == public


def test_signer_and_verifier_come_from_the_key_files_when_the_environment_has_none(tmp_path):
    settings = settings_in(tmp_path)
    ensure_keypair(settings.keys_dir)

    token = signer_from(settings).sign(CLAIM)

    assert verifier_from(settings).verify(token) == CLAIM


def test_environment_keys_take_precedence_over_the_key_files(tmp_path):
    ensure_keypair(tmp_path / "keys")
    private, public = generate_keypair()
    settings = settings_in(tmp_path, BADGE_SIGNING_KEY=private, BADGE_VERIFY_KEYS=public)

    assert signer_from(settings).public_key == public
    with pytest.raises(InvalidBadge):
        verifier_from(settings).verify(BadgeSigner(file_key(tmp_path)).sign(CLAIM))
    assert verifier_from(settings).verify(signer_from(settings).sign(CLAIM)) == CLAIM


@pytest.mark.parametrize("separator", [",", ", ", "\n", " "])
def test_verify_keys_in_the_environment_may_list_several_keys(tmp_path, separator):
    old_signer, old_public = keypair()
    new_signer, new_public = keypair()
    settings = settings_in(tmp_path, BADGE_VERIFY_KEYS=separator.join([old_public, new_public]))
    verifier = verifier_from(settings)

    assert verifier.verify(old_signer.sign(CLAIM)) == CLAIM
    assert verifier.verify(new_signer.sign(CLAIM)) == CLAIM


def test_missing_signing_key_is_a_clear_error_naming_the_variable_and_the_file(tmp_path):
    settings = settings_in(tmp_path)

    with pytest.raises(RuntimeError) as raised:
        signer_from(settings)

    text = str(raised.value)
    assert "signing" in text
    assert "BADGE_SIGNING_KEY" in text
    assert str(settings.keys_dir / SIGNING_KEY_FILE) in text


def test_missing_verification_key_is_a_clear_error_naming_the_variable_and_the_file(tmp_path):
    settings = settings_in(tmp_path)

    with pytest.raises(RuntimeError) as raised:
        verifier_from(settings)

    text = str(raised.value)
    assert "verification" in text
    assert "BADGE_VERIFY_KEYS" in text
    assert str(settings.keys_dir / VERIFY_KEY_FILE) in text


# --- the keygen command ----------------------------------------------------------------------


def test_keygen_prints_two_lines_usable_as_environment_values(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "shared.badges", "keygen"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    lines = done.stdout.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["BADGE_SIGNING_KEY", "BADGE_VERIFY_KEYS"]
    env = dict(line.split("=", 1) for line in lines)
    # Nothing a shell, an .env file or docker compose would need quoted.
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", value) for value in env.values())
    settings = settings_in(tmp_path, **env)
    assert verifier_from(settings).verify(signer_from(settings).sign(CLAIM)) == CLAIM


def test_keygen_with_write_creates_the_key_files(tmp_path, capsys):
    assert main(["keygen", "--write", str(tmp_path)]) == 0

    assert (tmp_path / SIGNING_KEY_FILE).exists()
    assert (tmp_path / VERIFY_KEY_FILE).exists()
    assert str(tmp_path) in capsys.readouterr().out


def test_unknown_command_prints_usage_and_fails(capsys):
    assert main(["sign"]) == 2
    assert "usage" in capsys.readouterr().err
