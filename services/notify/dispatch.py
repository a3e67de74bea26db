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


def delegates_changed(batch: list[tuple[dict, dict]], outlet: Outlet) -> list[str]:
    """Handle a batch of loaded changes in order, each as `delegate_changed` does; returns
    what happened to each. A message refused for good is recorded so and the rest go on; any
    other failure (the mail server or the database away) lets the rest go on too and is
    raised at the end, so the batch is tried again, and what was sent is not sent twice."""
    done, failure = [], None
    for envelope, payload in batch:
        try:
            done.append(delegate_changed(envelope, payload, outlet))
        except (ValueError, MailRejected) as exc:  # recorded as rejected: trying again is no use
            log.warning("event %s: message refused: %s", envelope["event_id"], describe(exc))
            done.append(REJECTED)
        except Exception as exc:
            log.warning("event %s: %s", envelope["event_id"], describe(exc))
            failure = failure or exc
            done.append(FAILED)
    if failure is not None:
        raise failure
    return done


def delegate_changed(envelope: dict, payload: dict, outlet: Outlet) -> str:
    """Handle one loaded `delegate.*`/`badge.*` event (not an erasure); returns what happened.
    The snapshot is applied and the message recorded and claimed in one transaction; the mail
    is then sent and its outcome recorded."""
    event_type, delegate = envelope["type"], payload["delegate"]
    sequence = envelope["sequence"]
    kind = messages.choose(event_type, payload)
    if kind is None:
        replica.retrying_once(
            outlet.sessions, lambda session: replica.apply_delegate(session, payload, sequence)
        )
        return NOTHING
    owed = delivery.Owed(
        key=delivery.idempotency_key(envelope["event_id"], kind),
        kind=kind,
        event_type=event_type,
        recipient=delegate["email"],
        language=messages.language_of(delegate["language"]),
        delegate_id=delegate["id"],
        task_args=envelope_schema().dump(envelope),
    )

    def take(session) -> tuple[replica.Standing, int | None, str | None]:
        now = replica.apply_delegate(session, payload, sequence)
        if now.erased:
            why = "the delegate's personal data was erased"
        elif replica.overtaken(payload, now, kind in messages.BADGE_KINDS):
            why = f"overtaken by revision {now.revision}"
        else:
            return now, *delivery.claim_recorded(session, owed.row())
        delivery.give_up_in(session, owed.key, why)
        return now, None, delivery.SKIPPED

    now, note_id, state = replica.retrying_once(outlet.sessions, take)
    if note_id is None:
        return state
    if state is not None:
        return delivery.stopped(state, owed.key)
    category = {f"category_{k}": v for k, v in now.category.items() if v}
    letter = Letter(
        kind=kind,
        event=payload["event"],
        delegate={**delegate, **category},
        badge=payload["badge"],
        detail=payload.get("detail") or {},
        manage_url=outlet.link_for(delegate["id"], delegate.get("manage_nonce")),
        event_type=event_type,
    )

    def build():
        return messages.build(
            letter, mail_from=outlet.mail_from, idempotency_key=owed.key, now=outlet.now()
        )

    return delivery.send_claimed(outlet.sessions, note_id, build, outlet.send, what=owed.key)
