"""Badge tokens: compact, Ed25519-signed, verifiable offline with the public key alone.

A token is 12 bytes of claim (format, key id, event, badge, version) plus a 64-byte
signature, in base32 without padding: 122 characters from the QR alphanumeric set, which
fits a version-5 QR at error correction M. It carries no personal data.

    python -m shared.badges keygen   # a new key pair for BADGE_SIGNING_KEY, BADGE_VERIFY_KEYS
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import qrcode
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image, ImageOps

from shared.config import Settings

FORMAT = 1
_CLAIM = struct.Struct(">BBIIH")  # format, key id, event id, badge id, badge version
_SIGNATURE_BYTES = 64
TOKEN_LENGTH = 122
SIGNING_KEY_FILE = "badge-signing.key"
VERIFY_KEY_FILE = "badge-verify.pub"


class InvalidBadge(ValueError):
    """The token is malformed, or its signature does not verify."""


@dataclass(frozen=True)
class BadgeClaim:
    event_id: int
    badge_id: int
    version: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


# A token read as one number, in C: the RFC 4648 alphabet mapped to int()'s base-32 digits
# (base64.b32decode is pure Python, and was a tenth of an offline sync's time).
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_AS_DIGITS = str.maketrans(_ALPHABET, "0123456789ABCDEFGHIJKLMNOPQRSTUV")
_NOT_ALPHABET = str.maketrans("", "", _ALPHABET)
_RAW_BYTES = _CLAIM.size + _SIGNATURE_BYTES
_SPARE_BITS = 5 * TOKEN_LENGTH - 8 * _RAW_BYTES  # the last character's unused bits


def token_bytes(text: str) -> bytes:
    """The bytes a token of TOKEN_LENGTH upper-case characters spells. The last character
    carries two spare bits: only the spelling the signer made (those bits 0) is a badge, so a
    changed character is always a different, invalid token."""
    if text.translate(_NOT_ALPHABET):
        raise InvalidBadge("not a badge token")
    number = int(text.translate(_AS_DIGITS), 32)
    if number & ((1 << _SPARE_BITS) - 1):
        raise InvalidBadge("not a badge token")
    return (number >> _SPARE_BITS).to_bytes(_RAW_BYTES, "big")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> int:
    """One byte naming the key, so keys can be rotated while old badges still verify."""
    return hashlib.sha256(_raw_public(public)).digest()[0]


def generate_keypair() -> tuple[str, str]:
    """A new (private, public) pair, each as unpadded base64url of the raw 32 bytes."""
    private = Ed25519PrivateKey.generate()
    return _b64(private.private_bytes_raw()), _b64(_raw_public(private.public_key()))


class BadgeSigner:
    def __init__(self, private_key: str):
        self._key = Ed25519PrivateKey.from_private_bytes(_unb64(private_key))
        self.public_key = _b64(_raw_public(self._key.public_key()))
        self._kid = key_id(self._key.public_key())

    def sign(self, claim: BadgeClaim) -> str:
        if not (0 <= claim.event_id < 2**32 and 0 <= claim.badge_id < 2**32):
            raise ValueError(f"event and badge ids must fit 32 bits: {claim}")
        if not 0 <= claim.version < 2**16:
            raise ValueError(f"a badge version must fit 16 bits: {claim}")
        body = _CLAIM.pack(FORMAT, self._kid, claim.event_id, claim.badge_id, claim.version)
        return _b32(body + self._key.sign(body))


class BadgeVerifier:
    def __init__(self, public_keys: list[str]):
        keys = [Ed25519PublicKey.from_public_bytes(_unb64(k)) for k in public_keys]
        if not keys:
            raise ValueError("at least one badge verification key is needed")
        # One byte of key id can be shared by two keys: keep every key under its id.
        self._keys: dict[int, list[Ed25519PublicKey]] = {}
        for key in keys:
            self._keys.setdefault(key_id(key), []).append(key)

    def verify(self, token: str) -> BadgeClaim:
        text = token.strip().upper()
        if len(text) != TOKEN_LENGTH:
            raise InvalidBadge("not a badge token")
        raw = token_bytes(text)
        body, signature = raw[: _CLAIM.size], raw[_CLAIM.size :]
        fmt, kid, event_id, badge_id, version = _CLAIM.unpack(body)
        if fmt != FORMAT or kid not in self._keys:
            raise InvalidBadge("signed with an unknown key or format")
        for key in self._keys[kid]:
            try:
                key.verify(signature, body)
            except InvalidSignature:
                continue
            return BadgeClaim(event_id=event_id, badge_id=badge_id, version=version)
        raise InvalidBadge("signature does not verify")


# The standard has an encoder score all eight masks and keep the best: four fifths of what
# qrcode spends on a symbol. A token is mostly a signature, noise on which the masks score
# alike: over 600 tokens mask 2 scored on average 7.5% above the best (45% at worst), the
# lowest of the eight, and zxing-cpp read it as often as the best mask's, also from
# blurred, noisy, tilted images at 2 pixels a module (91% of 1,200 either way).
QR_MASK = 2


@functools.lru_cache(maxsize=32)
def qr_matrix(token: str) -> tuple[tuple[bool, ...], ...]:
    """The badge's QR symbol without its quiet zone, rows of modules, True for dark
    (alphanumeric mode, error correction M). Kept per token: a badge mail shows one symbol
    inline, attached as a PNG and printed in the PDF."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=QR_MASK
    )
    code.add_data(token)
    code.make(fit=True)
    return tuple(tuple(row) for row in code.get_matrix())


def qr_png(token: str, box_size: int = 8) -> bytes:
    """The badge's QR code as PNG bytes (qr_matrix with the quiet zone of 4 modules), one bit
    a pixel."""
    matrix = qr_matrix(token)
    # One pixel a module, then scaled up: the pixels of qrcode's `make_image()`, at half the cost.
    image = Image.new("1", (len(matrix), len(matrix)))
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    image = ImageOps.expand(image, border=4, fill=1)
    image = image.resize(
        (image.width * box_size, image.height * box_size), Image.Resampling.NEAREST
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _key_from(value: str | None, path: Path, purpose: str) -> str:
    if value:
        return value
    if path.exists():
        return path.read_text().strip()
    raise RuntimeError(
        f"no badge {purpose} key: set BADGE_SIGNING_KEY/BADGE_VERIFY_KEYS, or create "
        f"{path} with `python -m shared.badges keygen --write {path.parent}`"
    )


def signer_from(settings: Settings) -> BadgeSigner:
    path = settings.keys_dir / SIGNING_KEY_FILE
    return BadgeSigner(_key_from(settings.badge_signing_key, path, "signing"))


def verifier_from(settings: Settings) -> BadgeVerifier:
    path = settings.keys_dir / VERIFY_KEY_FILE
    text = _key_from(settings.badge_verify_keys, path, "verification")
    return BadgeVerifier([k for k in text.replace(",", "\n").split() if k])


def ensure_keypair(keys_dir: Path) -> None:
    """Create a key pair in `keys_dir` unless one is there (laptop default). An existing
    signing key is never replaced: every badge issued with it would stop verifying."""
    private_path, public_path = keys_dir / SIGNING_KEY_FILE, keys_dir / VERIFY_KEY_FILE
    keys_dir.mkdir(parents=True, exist_ok=True)
    if private_path.exists():
        private = private_path.read_text().strip()
    else:
        private = generate_keypair()[0]
        private_path.touch(mode=0o600)
        private_path.write_text(private + "\n")
    private_path.chmod(0o600)
    if not public_path.exists():
        public_path.write_text(BadgeSigner(private).public_key + "\n")


def main(argv: list[str]) -> int:
    if argv[:1] != ["keygen"]:
        print("usage: python -m shared.badges keygen [--write DIR]", file=sys.stderr)
        return 2
    if argv[1:2] == ["--write"] and len(argv) == 3:
        ensure_keypair(Path(argv[2]))
        print(f"key pair in {argv[2]}")
        return 0
    private, public = generate_keypair()
    print(f"BADGE_SIGNING_KEY={private}\nBADGE_VERIFY_KEYS={public}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
