"""checkin's audit trail: every look-up of personal data, every check-in by hand, every undo
and every resolved conflict, with who did it. Append-only; organisers read it.

A search is kept without its words: the text typed may be a name, and this trail is kept for
good (erasure cannot find a name inside free text). What accountability needs stays: who
searched, when, how the query looked (`query`: its length in characters and the scripts it was
written in, say `{"length": 2, "scripts": ["han"]}`; a badge or registration number, which
names nobody, is kept as typed under `number`) and the badge ids it returned, which say whose
records were looked at. No digest of the text is kept: names are few enough that anyone could
hash a list of them and find which one was searched."""

from __future__ import annotations

import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.checkin.access import Actor
from services.checkin.models import AuditEntry

# Unicode names whose first word is not the script's usual name.
_SCRIPT_NAMES = {"cjk": "han"}


def record(session: Session, actor: Actor, action: str, **detail) -> None:
    session.add(
        AuditEntry(event_slug=actor.event_slug, actor=actor.name, action=action, detail=detail)
    )


def redacted(query: str) -> dict:
    """What the trail keeps of a search's text: its length and scripts, or the number typed."""
    text = query.strip()
    if text.isdigit() and text.isascii():
        return {"length": len(text), "scripts": ["digits"], "number": text}
    return {"length": len(text), "scripts": sorted({s for s in map(_script, text) if s})}


def _script(char: str) -> str | None:
    if unicodedata.category(char).startswith("N"):
        return "digits"
    if not char.isalpha():
        return None  # spaces, punctuation, symbols
    first = unicodedata.name(char, "other").split()[0].lower()
    return _SCRIPT_NAMES.get(first, first)


def entries(session: Session, event_slug: str, limit: int, before: int | None = None) -> list:
    """The newest first; `before` pages on from an entry id."""
    query = select(AuditEntry).where(AuditEntry.event_slug == event_slug)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
