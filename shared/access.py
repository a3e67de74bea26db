"""Bearer tokens: made random, shown once, stored only as SHA-256 digests.

Each service decides what a token may do; this module only makes, digests and reads them.
Lookups go by digest, so a token is never compared as plain text.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from pathlib import Path

from flask import request

from shared.errors import Forbidden, Unauthorized
from shared.secret_files import secret_file

PREFIXES = {"organizer": "org", "scanner": "scn", "manage": "mng"}


class ShownOnce:
    """Something just made, with the secret that goes with it (a token, a code): the answer
    shows both this once; afterwards only the digest is kept."""

    def __init__(self, subject, **secrets: str):
        self.subject = subject
        self.__dict__.update(secrets)

    def __getattr__(self, name: str):
        return getattr(self.subject, name)


def new_token(kind: str) -> str:
    return f"rc_{PREFIXES[kind]}_{secrets.token_urlsafe(32)}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_digest() -> str:
    """The digest of the request's bearer token; 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("unauthorized", "Send a token as `Authorization: Bearer <token>`.")
    return digest(token.strip())


def bearer_required(view):
    """Refuse a request without a bearer token (401) before its body is even read, so an
    anonymous caller learns nothing of the schema; the view then checks the token itself."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        bearer_digest()
        return view(*args, **kwargs)

    return checked


FEED_TOKEN_FILE = "feed.token"


def feed_token(settings) -> str:
    """The machine credential of registration's change feed, shared by registration and
    checkin: `FEED_TOKEN`, else one made in `var/keys/feed.token` on first use (a laptop)."""
    if settings.feed_token:
        return settings.feed_token
    path = Path(settings.keys_dir) / FEED_TOKEN_FILE
    return secret_file(path, lambda: f"rc_feed_{secrets.token_urlsafe(32)}")


def same_secret(presented_digest: str, expected: str) -> bool:
    """Whether a presented token's digest is the expected secret's, in constant time."""
    return hmac.compare_digest(presented_digest, digest(expected))


def unknown_token() -> Unauthorized:
    return Unauthorized("unauthorized", "This token is not valid.")


def wrong_role(needed: str) -> Forbidden:
    return Forbidden("forbidden", f"This endpoint needs {needed} token.")
