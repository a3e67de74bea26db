"""Each service's migrations build exactly the tables its models describe, on SQLite and on
PostgreSQL, and all three services fit in one database side by side."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services import checkin, notify, registration
from services.checkin.models import Base as CheckinBase
from services.notify.models import Base as NotifyBase
from services.registration.models import Base as RegistrationBase
from shared import db

pytestmark = pytest.mark.integration

SERVICES = [
    (registration, RegistrationBase),
    (checkin, CheckinBase),
    (notify, NotifyBase),
]


@pytest.mark.parametrize(("service", "base"), SERVICES, ids=lambda s: getattr(s, "__name__", ""))
def test_migrations_create_exactly_the_tables_the_models_describe(settings, service, base):
    def ours(name, type_, _parent):  # the database holds the other services' tables too
        return type_ != "table" or name in base.metadata.tables

    engine = db.make_engine(settings.registration_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": service.VERSION_TABLE, "include_name": ours}
            )
            differences = compare_metadata(context, base.metadata)
    finally:
        engine.dispose()

    assert differences == []


def test_three_services_share_one_database_without_a_clash(settings):
    engine = db.make_engine(settings.registration_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()

    owned = [set(base.metadata.tables) for _, base in SERVICES]
    assert not (owned[0] & owned[1] or owned[1] & owned[2] or owned[0] & owned[2])
    versions = {service.VERSION_TABLE for service, _ in SERVICES}
    assert set().union(*owned) | versions == tables


def test_migrating_twice_changes_nothing(settings):
    for service, _ in SERVICES:
        service.migrate(settings)
