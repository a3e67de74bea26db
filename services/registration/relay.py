"""Publishes registration's outbox to its subscribers: `python -m services.registration.relay`."""

from services.registration.models import outbox
from shared import relay
from shared.config import Settings

if __name__ == "__main__":
    settings = Settings.from_env()
    relay.run(outbox, settings.registration_database_url, settings)
