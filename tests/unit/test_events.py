"""The event envelope, payload schemas, and the subscriber table against the real worker apps."""

from __future__ import annotations

import importlib
import uuid

import pytest
from marshmallow import ValidationError

from shared.events import (
    CHECKIN_ADMITTED,
    DELEGATE_REGISTERED,
    EVENT_CREATED,
    PAYLOADS,
    SUBSCRIBERS,
    Envelope,
    parse,
    queue_of,
)
from tests.support import factories
from tests.support.factories import checkin, event_announced, event_info

pytestmark = pytest.mark.unit

SUBSCRIBER_TASKS = sorted({task for tasks in SUBSCRIBERS.values() for task in tasks})


def envelope(event_type: str = EVENT_CREATED, payload: dict | None = None, **changes) -> dict:
    """An envelope (of an `event.created` unless told); a change to None drops that key."""
    if payload is None:
        payload = event_announced()
    body = factories.envelope(event_type, payload, **changes)
    return {key: value for key, value in body.items() if value is not None}


def errors_of(body: dict, load=None) -> dict:
    """The validation messages of loading `body` (with `Envelope` unless told)."""
    with pytest.raises(ValidationError) as raised:
        (load or Envelope().load)(body)
    return raised.value.messages


# --- the envelope ----------------------------------------------------------------------------


def test_valid_envelope_loads():
    body = envelope(sequence=1, occurred_at="2023-12-01T09:00:00+00:00")

    loaded = Envelope().load(body)

    assert loaded["event_id"] == uuid.UUID(body["event_id"])
    assert loaded["type"] == EVENT_CREATED
    assert loaded["occurred_at"].utcoffset().total_seconds() == 0
    assert loaded["sequence"] == 1


def test_envelope_of_an_unknown_type_is_rejected():
    assert "type" in errors_of(envelope(event_type="delegate.teleported"))


@pytest.mark.parametrize(
    "field", ["event_id", "type", "producer", "sequence", "occurred_at", "version", "payload"]
)
def test_envelope_missing_a_field_is_rejected(field):
    body = envelope()
    del body[field]

    assert field in errors_of(body)


def test_envelope_with_a_naive_occurred_at_is_rejected():
    assert "occurred_at" in errors_of(envelope(occurred_at="2023-12-01T09:00:00"))


@pytest.mark.parametrize("sequence", [0, -1])
def test_envelope_sequence_starts_at_one(sequence):
    assert "sequence" in errors_of(envelope(sequence=sequence))


def test_envelope_with_unknown_extra_keys_is_rejected():
    assert "priority" in errors_of(envelope(priority="high"))


def test_envelope_with_a_malformed_event_id_is_rejected():
    assert "event_id" in errors_of(envelope(event_id="not-a-uuid"))


# --- parse: envelope and payload -------------------------------------------------------------


def test_parse_returns_the_loaded_envelope_and_payload():
    event = event_info(slug="gmf-2023", starts_on="2023-12-07")

    loaded, payload = parse(envelope(payload=event_announced(event=event)))

    assert loaded["type"] == EVENT_CREATED
    assert payload["event"]["slug"] == "gmf-2023"
    assert str(payload["event"]["starts_on"]) == "2023-12-07"


def test_parse_rejects_a_payload_that_does_not_fit_its_type():
    errors = errors_of(envelope(payload={"event": event_info(id="seven")}), load=parse)

    assert "event" in errors
    assert "organizer_token_digests" in errors


def test_parse_rejects_a_payload_of_another_type():
    assert errors_of(envelope(event_type=DELEGATE_REGISTERED), load=parse)


def test_parse_rejects_unknown_keys_in_the_payload():
    payload = event_announced(secret="x")

    assert "secret" in errors_of(envelope(payload=payload), load=parse)


def test_parse_rejects_a_checkin_with_a_naive_time():
    naive = checkin(at="2023-12-07T09:02:00")

    assert "at" in errors_of(envelope(CHECKIN_ADMITTED, payload=naive), load=parse)


def test_every_event_type_has_a_payload_schema():
    assert set(PAYLOADS) == set(SUBSCRIBERS)


# --- queues and the worker apps --------------------------------------------------------------


def test_a_tasks_queue_is_its_service_prefix():
    assert queue_of("checkin.apply_registration_event") == "checkin"
    assert queue_of("notify.delegate_message") == "notify"
    assert queue_of("notify.some.nested.name") == "notify"


def worker_app(service: str):
    """The service's Celery app with its tasks imported, as `celery -A` starts it. An import
    error here fails the test on purpose: a subscriber whose tasks cannot load is a bug."""
    importlib.import_module(f"services.{service}.tasks")
    return importlib.import_module(f"services.{service}.worker").app


@pytest.mark.parametrize("task_name", SUBSCRIBER_TASKS)
def test_every_subscriber_task_is_registered_in_its_services_worker(task_name):
    service = queue_of(task_name)
    app = worker_app(service)

    assert task_name in app.tasks
    # Celery shares tasks between apps in one process; the one that counts is defined in
    # the service's own tasks module, which its worker imports.
    assert app.tasks[task_name].__module__ == f"services.{service}.tasks"
    assert f"services.{service}.tasks" in app.conf.include


@pytest.mark.parametrize("task_name", SUBSCRIBER_TASKS)
def test_every_subscriber_task_is_routed_to_its_services_queue(task_name):
    service = queue_of(task_name)
    app = worker_app(service)

    route = app.amqp.router.route({}, task_name, args=(), kwargs={})

    assert route["queue"].name == service == app.main


def test_the_subscriber_table_names_every_consumer_of_a_registration():
    assert set(SUBSCRIBERS[DELEGATE_REGISTERED]) == {
        "checkin.apply_registration_event",
        "notify.delegate_message",
        "notify.webhook_event",
    }
