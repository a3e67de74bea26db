"""Alembic environment for notify's database: the shared body, notify's metadata."""

from alembic import context

from services.notify.models import Base
from shared.db import run_migrations

run_migrations(context, Base.metadata)
