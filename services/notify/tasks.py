"""Notify's tasks: thin, named, idempotent. Each parses its input and calls one function.

Subscriptions (shared/events.py SUBSCRIBERS): `notify.apply_event` ← event.created/updated,
`notify.delegate_message` ← every delegate.* and badge.* change but the erasure (in batches),
`notify.forget_delegate` ← delegate.erased, `notify.vip_alert` ← checkin.admitted in batches
(it enqueues `notify.send_sms` for protocol's SMS). Beat runs `notify.send_due_reminders` (which
enqueues one `notify.reminder` per delegate), `notify.send_due_digests` (one `notify.digest`
per ended event day) and `notify.redrive_stalled`. `notify.webhook_event` ← every delegate.*,
badge.* and checkin.* event (and `vip.arrived`) records a `notify.webhook_delivery` for each
subscribed webhook."""

from __future__ import annotations

import functools
import logging
import uuid
from datetime import datetime

import redis
from sqlalchemy.exc import OperationalError

from services.notify import (
    access,
    arrivals,
    delivery,
    digest,
    dispatch,
    erasure,
    reminders,
    replica,
    sms,
    vip,
    webhook_delivery,
    webhooks,
)
from services.notify.mailer import MailDeferred
from services.notify.messages import KINDS, REMINDER
from services.notify.worker import app, resources, settings
from shared.db import utcnow
from shared.events import BATCHED, CHECKIN_ADMITTED, NOTIFY_WEBHOOKS, parse, parse_batch, queue_of
from shared.webhook_watch import WebhookWatch

log = logging.getLogger(__name__)

# Worth another try: the SMTP server or the database is briefly away. Everything else (a
# malformed event, a 5xx refusal) would fail the same way again.
TRANSIENT = (MailDeferred, sms.SmsDeferred, OperationalError)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
}

DELEGATE_MESSAGE = "notify.delegate_message"
REMINDER_TASK = "notify.reminder"
VIP_ALERT = "notify.vip_alert"
SEND_SMS = "notify.send_sms"
DIGEST_TASK = "notify.digest"
WEBHOOK_DELIVERY = webhooks.DELIVERY_TASK
# Which task makes a message of each kind again, for the redrive.
TASK_FOR_KIND = {
    **dict.fromkeys(KINDS, DELEGATE_MESSAGE),
    REMINDER: REMINDER_TASK,
    vip.ALERT: VIP_ALERT,
    vip.ALERT_SMS: SEND_SMS,
    digest.DIGEST: DIGEST_TASK,
    webhooks.KIND: WEBHOOK_DELIVERY,
}


@app.task(name=DELEGATE_MESSAGE, **RETRY)
def delegate_message(envelopes: list[dict] | dict) -> list[str]:
    """Take delegates' changes (a batch: shared.events.BATCHED) into notify's replica and send
    the message each calls for, once: received, badge (confirmed, approved, promoted,
    reissued), waitlisted, rejected, cancelled; over one SMTP connection for the batch."""
    r = resources()
    with r.mailer.one_connection():
        return dispatch.delegates_changed(parse_batch(envelopes, DELEGATE_MESSAGE), r.outlet)


@app.task(name="notify.badge_mail", **RETRY)
def badge_mail(envelope: dict) -> list[str]:
    """The former name of `notify.delegate_message`, kept so that tasks queued before an
    upgrade still run."""
    return delegate_message(envelope)


@app.task(name="notify.forget_delegate", **RETRY)
def forget_delegate(envelope: dict) -> int:
    """Forget an erased delegate: blank their replica row and the messages about them."""
    loaded, payload = parse(envelope)
    with resources().sessions.begin() as session:
        return erasure.forget(session, loaded, payload)


@app.task(name="notify.apply_event", **RETRY)
def apply_event(envelope: dict) -> None:
    """Take an event's new details (its dates move its reminders) and categories (the label
    and colour its printed badges show)."""
    loaded, payload = parse(envelope)
    info = payload["event"]

    def apply(session):
        replica.apply_event(session, info, loaded["sequence"], payload.get("categories") or [])
        # Who may use notify's API for this event (its webhooks, its notification log).
        access.apply_grants(
            session, info["id"], loaded["sequence"], payload["organizer_token_digests"]
        )

    replica.retrying_once(resources().sessions, apply)


@app.task(name="notify.send_due_reminders", acks_late=True)
def send_due_reminders(now: str | None = None) -> int:
    """Schedule the reminders due now (beat, every few minutes), or at `now` (ISO 8601, with
    its offset) for an operator catching up; returns how many were scheduled."""
    moment = datetime.fromisoformat(now) if now else utcnow()
    if moment.tzinfo is None:
        raise ValueError("`now` needs a UTC offset")
    return reminders.schedule_due(resources().sessions, moment, _enqueue_reminder)


@app.task(name=REMINDER_TASK, **RETRY)
def reminder(args: dict) -> str:
    """Send one scheduled reminder, once."""
    return reminders.send(
        {"event_id": int(args["event_id"]), "delegate_id": int(args["delegate_id"])},
        resources().outlet,
    )


@app.task(name="notify.redrive_stalled", acks_late=True)
def redrive_stalled() -> int:
    """Re-enqueue notifications stuck unsent for a while (run by beat every minute)."""
    return delivery.redrive_stalled(resources().sessions, _enqueue)


def _enqueue(kind: str, task_args: dict) -> None:
    task_name = TASK_FOR_KIND[kind]
    message = [task_args] if task_name in BATCHED else task_args  # a VIP alert: its envelope
    # The arguments may name the delegate: keep them out of task events and logs.
    app.send_task(
        task_name, args=(message,), queue=queue_of(task_name), argsrepr=f"<redrive {kind}>"
    )


def _enqueue_reminder(task_args: dict) -> None:
    app.send_task(
        REMINDER_TASK,
        args=(task_args,),
        queue=queue_of(REMINDER_TASK),
        argsrepr=f"<reminder {task_args['event_id']}/{task_args['delegate_id']}>",
    )


@app.task(name=VIP_ALERT, **RETRY)
def vip_alert(envelopes: list[dict]) -> list[str]:
    """`checkin.admitted`, a batch (shared.events.BATCHED): count the arrivals (for the digest)
    in one transaction and, for each flagged category's first admission of the day at the
    venue, alert protocol by mail and SMS, once. A transient error retries the whole batch
    (every step is idempotent); any other fails its own admission only, logged."""
    outlet = resources().outlet
    protocol = vip.Protocol.from_settings(settings)
    admitted = parse_batch(envelopes, VIP_ALERT)
    outcomes = []
    for admission in arrivals.note_arrivals(outlet.sessions, admitted):
        try:
            outcomes.append(vip.alert(admission, outlet, protocol, _enqueue_sms))
        except TRANSIENT:
            raise
        except Exception as exc:
            # The event's id and type only: the error's text may quote the delegate.
            failed = f"failed: {type(exc).__name__}"
            log.error(
                "VIP alert for %s (%s) %s", admission.envelope["event_id"], CHECKIN_ADMITTED, failed
            )
            outcomes.append(failed)
    return outcomes


@app.task(name=SEND_SMS, **RETRY)
def send_sms(args: dict) -> str:
    """Send one SMS (`sms.Sms` as a dict) through the configured gateway, once."""
    return sms.deliver(resources().sessions, sms.Sms.from_args(args), sms.gateway_from(settings))


@app.task(name="notify.send_due_digests", acks_late=True)
def send_due_digests(now: str | None = None) -> int:
    """Enqueue the organiser digest of every event day that has ended (beat); `now` (ISO 8601
    with its offset) for an operator catching up. Nothing without ORGANISER_EMAIL."""
    if not settings.organiser_email:
        return 0
    moment = datetime.fromisoformat(now) if now else utcnow()
    if moment.tzinfo is None:
        raise ValueError("`now` needs a UTC offset")
    return digest.schedule_due(resources().sessions, moment, _enqueue_digest)


@app.task(name=DIGEST_TASK, **RETRY)
def send_digest(args: dict) -> str:
    """Send one event day's organiser digest, once."""
    return digest.send(args, resources().outlet, settings.organiser_email)


def _enqueue_sms(args: dict) -> None:
    # The text names the delegate: keep it out of task events and logs.
    app.send_task(SEND_SMS, args=(args,), queue=queue_of(SEND_SMS), argsrepr=f"<sms {args['key']}>")


def _enqueue_digest(args: dict) -> None:
    app.send_task(
        DIGEST_TASK,
        args=(args,),
        queue=queue_of(DIGEST_TASK),
        argsrepr=f"<digest {args['event_id']}/{args['day']}>",
    )


# --- outgoing webhooks (services/notify/webhooks.py, webhook_delivery.py) ---------------------


@app.task(name=NOTIFY_WEBHOOKS, **RETRY)
def webhook_event(envelope: dict) -> int:
    """Record a delivery for each of the event's webhooks subscribed to this type (once per
    webhook and event id) and send them; returns how many were sent off."""
    loaded, payload = parse(envelope)
    _restore_watch()
    return _to_webhooks(webhooks.hook_event(loaded, payload))


def _restore_watch() -> None:
    """Relays enqueue every event while Redis has lost which ones endpoints want: write it
    again (shared/webhook_watch.py)."""

    def subscriptions():
        with resources().sessions() as session:
            return webhooks.subscriptions(session)

    try:
        _watch().restore(subscriptions)
    except redis.RedisError as exc:  # relays go on enqueueing everything meanwhile
        log.warning("webhook subscriptions not restored: %s", type(exc).__name__)


@functools.cache
def _watch() -> WebhookWatch:
    return WebhookWatch.at(settings.redis_url)


@vip.on_arrival
def _vip_to_webhooks(fact: vip.VipArrival) -> None:
    """`vip.arrived` for the webhooks subscribed to it; its event id derives from the alert's
    key, so a retried alert finds the deliveries it made."""
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"rollcall:{fact.key}"))
    hook = webhooks.announce(
        fact.event_id, vip.VIP_ARRIVED, event_id, fact.at, fact.payload(), fact.registration_id
    )
    _to_webhooks(hook)


@app.task(
    name=WEBHOOK_DELIVERY,
    bind=True,
    acks_late=True,
    max_retries=None,  # the delivery's row counts attempts: WEBHOOK_MAX_ATTEMPTS
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
)
def deliver_webhook(self, args: dict) -> str:
    """Make the next attempt at one webhook delivery; on failure retry after a backoff with
    jitter, until the last attempt puts it in the dead-letter list."""
    if "delivery" not in args:  # an erased delegate's row handed back by the redrive
        return "nothing to send"
    outcome = webhook_delivery.attempt(
        resources().sessions,
        int(args["delivery"]),
        _webhook_secrets(),
        webhook_delivery.RetryPolicy(
            settings.webhook_max_attempts,
            settings.webhook_retry_delay,
            # A countdown past the visibility timeout would be delivered twice.
            min(settings.webhook_retry_max_delay, settings.celery_visibility_timeout / 2),
        ),
        timeout=settings.webhook_timeout,
    )
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.state


def _to_webhooks(hook: webhooks.HookEvent) -> int:
    with resources().sessions.begin() as session:
        due = webhooks.record_deliveries(session, hook)
    for delivery_id in due:
        webhooks.send_off(app, delivery_id)
    return len(due)


@functools.cache
def _webhook_secrets() -> webhooks.Secrets:
    return webhooks.secrets_from(settings)
