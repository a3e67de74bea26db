"""Publishes checkin's outbox to its subscribers: `python -m services.checkin.relay`."""

from services.checkin.models import outbox
from shared import relay
from shared.config import Settings

if __name__ == "__main__":
    settings = Settings.from_env()
    relay.run(outbox, settings.checkin_database_url, settings)
