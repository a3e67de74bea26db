"""A delegate's manage token, derived rather than stored, so every mail can carry the link.

The token is HMAC-SHA256 over a random per-registration nonce under `MANAGE_LINK_KEY`.
Registration keeps the nonce and the token's digest (it looks tokens up by digest, as every
token); the nonce travels in the delegate's snapshot, so notify, which holds the same key,
puts a working link in each message without the token itself ever sitting in a table, an
event or a queue. A new nonce voids a leaked link. Without the key, a nonce is worthless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from shared import access
from shared.secret_files import secret_file

KEY_FILE = "manage-link.key"


class ManageLinks:
    def __init__(self, key: bytes):
        if len(key) < 32:
            raise ValueError("MANAGE_LINK_KEY must hold at least 32 bytes (64 hex digits).")
        self._key = key

    def __repr__(self) -> str:
        return "ManageLinks(<key hidden>)"

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_hex(16)

    def token(self, nonce: str) -> str:
        mac = hmac.new(self._key, b"manage:" + nonce.encode(), hashlib.sha256).digest()
        return f"rc_{access.PREFIXES['manage']}_" + base64.urlsafe_b64encode(mac).decode()[:43]

    def digest(self, nonce: str) -> str:
        return access.digest(self.token(nonce))


def links_from(settings) -> ManageLinks:
    """The key from `MANAGE_LINK_KEY` (hex), else from `var/keys/manage-link.key`, made there
    on first use (a laptop; in production set the variable, the same for registration and
    notify)."""
    if settings.manage_link_key:
        return ManageLinks(bytes.fromhex(settings.manage_link_key))
    key = secret_file(settings.keys_dir / KEY_FILE, lambda: secrets.token_hex(32))
    return ManageLinks(bytes.fromhex(key))


def manage_url(registration_url: str, registration_id: int, token: str) -> str:
    """The page where a delegate views, corrects or cancels their registration. The token
    rides in the fragment, which browsers never send to a server or put in a log."""
    return f"{registration_url.rstrip('/')}/manage/{registration_id}#token={token}"
