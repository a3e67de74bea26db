"""What a delegate's change means for notify: take the snapshot into the replica, pick the
message it calls for (if any), and hand it to delivery to be sent once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import sessionmaker

from services.notify import delivery, messages, replica
from services.notify.mailer import MailRejected, describe
from services.notify.messages import Letter
from services.notify.models import FAILED, REJECTED
from shared.events import envelope_schema

log = logging.getLogger(__name__)

NOTHING = "nothing to send"

# (delegate id, manage nonce) → the delegate's manage link, or None without a nonce.
LinkFor = Callable[[int, str | None], str | None]


@dataclass(frozen=True)
class Outlet:
    """Where messages go, and what every message needs besides its event."""

    sessions: sessionmaker
    send: delivery.Send
    mail_from: str
    link_for: LinkFor
    now: Callable[[], datetime]


@dataclass(frozen=True)
class Change:
    """A loaded delegate change and the message it calls for (kind and row), if any."""

    envelope: dict
    payload: dict
    owed: delivery.Owed | None

    @classmethod
    def of(cls, envelope: dict, payload: dict) -> Change:
        kind = messages.choose(envelope["type"], payload)
        if kind is None:
            return cls(envelope, payload, None)
        delegate = payload["delegate"]
        owed = delivery.Owed(
            key=delivery.idempotency_key(envelope["event_id"], kind),
            kind=kind,
            event_type=envelope["type"],
            recipient=delegate["email"],
            language=messages.language_of(delegate["language"]),
            delegate_id=delegate["id"],
            task_args=envelope_schema().dump(envelope),
        )
        return cls(envelope, payload, owed)


# What the batch's transaction left each change with: how the delegate stands, and the row of
# its message (None when none is to be sent) with the state that stopped the claim (None when
# claimed for us), or without a row why nothing is sent.
Taken = tuple[replica.Standing, int | None, str | None]


def delegates_changed(batch: list[tuple[dict, dict]], outlet: Outlet) -> list[str]:
    """Handle a batch of loaded changes in order; returns what happened to each. Every
    snapshot is applied, and every message it calls for recorded and claimed, in one
    transaction for the batch; each mail is then sent and its outcome recorded on its own, so
    a crash resends at most the one mail in flight (with its same Message-ID), and the rest of
    the batch's claimed rows (BATCH_LIMITS: 20) go out when their lease runs out. A message
    refused for good is recorded so and the rest go on; any other failure (the mail server
    away) lets the rest go on too and is raised at the end, so the batch is tried again, and
    what was sent is not sent twice."""
    done: dict[int, str] = {}
    changes: list[tuple[int, Change]] = []
    for i, (envelope, payload) in enumerate(batch):
        try:
            changes.append((i, Change.of(envelope, payload)))
        except ValueError as exc:  # recorded as rejected: trying again is no use
            log.warning("event %s: message refused: %s", envelope["event_id"], describe(exc))
            done[i] = REJECTED
    failure = None
    taken = take(outlet.sessions, [change for _i, change in changes])
    for (i, change), (now, note_id, state) in zip(changes, taken, strict=True):
        try:
            done[i] = send(change, now, note_id, state, outlet)
        except (ValueError, MailRejected) as exc:  # recorded as rejected
            log.warning("event %s: message refused: %s", change.envelope["event_id"], describe(exc))
            done[i] = REJECTED
        except Exception as exc:
            log.warning("event %s: %s", change.envelope["event_id"], describe(exc))
            failure = failure or exc
            done[i] = FAILED
    if failure is not None:
        raise failure
    return [done[i] for i in range(len(batch))]


def delegate_changed(envelope: dict, payload: dict, outlet: Outlet) -> str:
    """Handle one loaded `delegate.*`/`badge.*` event (not an erasure), as a batch of one,
    raising what stopped its message; returns what happened."""
    change = Change.of(envelope, payload)
    ((now, note_id, state),) = take(outlet.sessions, [change])
    return send(change, now, note_id, state, outlet)


def take(sessions: sessionmaker, changes: list[Change]) -> list[Taken]:
    """In one transaction: apply the changes' snapshots in order, give up the messages a newer
    change has overtaken (or whose delegate was erased), record and claim the rest."""

    def work(session) -> list[Taken]:
        changed = [(c.payload, c.envelope["sequence"]) for c in changes]
        standings = replica.apply_delegates(session, changed)
        owed, unsent = [], {}
        for n, (change, now) in enumerate(zip(changes, standings, strict=True)):
            if change.owed is None:
                unsent[n] = NOTHING
                continue
            if now.erased:
                why = "the delegate's personal data was erased"
            elif replica.overtaken(change.payload, now, change.owed.kind in messages.BADGE_KINDS):
                why = f"overtaken by revision {now.revision}"
            else:
                owed.append(change.owed)
                continue
            delivery.give_up_in(session, change.owed.key, why)
            unsent[n] = delivery.SKIPPED
        claims = iter(delivery.claim_recorded(session, owed))
        return [
            (now, None, unsent[n]) if n in unsent else (now, *next(claims))
            for n, now in enumerate(standings)
        ]

    return replica.retrying_once(sessions, work) if changes else []


def send(
    change: Change, now: replica.Standing, note_id: int | None, state: str | None, outlet: Outlet
) -> str:
    """Build and send the change's claimed message, recording the outcome; or say why not."""
    if note_id is None:
        return state
    if state is not None:
        return delivery.stopped(state, change.owed.key)
    delegate, payload = change.payload["delegate"], change.payload
    category = {f"category_{k}": v for k, v in now.category.items() if v}
    letter = Letter(
        kind=change.owed.kind,
        event=payload["event"],
        delegate={**delegate, **category},
        badge=payload["badge"],
        detail=payload.get("detail") or {},
        manage_url=outlet.link_for(delegate["id"], delegate.get("manage_nonce")),
        event_type=change.envelope["type"],
    )

    def build():
        return messages.build(
            letter, mail_from=outlet.mail_from, idempotency_key=change.owed.key, now=outlet.now()
        )

    return delivery.send_claimed(outlet.sessions, note_id, build, outlet.send, what=change.owed.key)
