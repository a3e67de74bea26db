"""`rollcall`: migrate the databases, seed the demo event, run the whole stack locally."""

from __future__ import annotations

import json

import click

from rollcall.importing import import_delegates
from shared.config import Settings


@click.group()
def cli() -> None:
    """Rollcall: registration and badge check-in for congresses."""


@cli.command()
def migrate() -> None:
    """Bring every service's database to the newest schema."""
    from services import checkin, notify, registration

    settings = Settings.from_env()
    for service in (registration, checkin, notify):
        service.migrate(settings)
        click.echo(f"migrated {service.__name__.rsplit('.', 1)[-1]}")


@cli.command("seed-demo")
def seed_demo() -> None:
    """Create the demo event (Global Mayors' Forum 2023) and its gates; write var/demo.json."""
    from rollcall import demo

    settings = Settings.from_env()
    click.echo(json.dumps(demo.seed(settings), indent=2, ensure_ascii=False))


@cli.command()
def keygen() -> None:
    """Print new secrets for .env: BADGE_SIGNING_KEY, BADGE_VERIFY_KEYS, MANAGE_LINK_KEY,
    WEBHOOK_SECRET_KEY, FEED_TOKEN."""
    import secrets

    from shared.badges import generate_keypair

    private, public = generate_keypair()
    click.echo(f"BADGE_SIGNING_KEY={private}\nBADGE_VERIFY_KEYS={public}")
    click.echo(f"MANAGE_LINK_KEY={secrets.token_hex(32)}")
    click.echo(f"WEBHOOK_SECRET_KEY={secrets.token_hex(32)}")
    click.echo(f"FEED_TOKEN=rc_feed_{secrets.token_urlsafe(32)}")


@cli.command("rebuild-replica")
@click.option("--event", "slug", help="Only this event (by slug); default: every event.")
@click.option(
    "--catch-up",
    "catching_up",
    is_flag=True,
    help="Only apply the events of registration's change feed the replica missed.",
)
def rebuild_replica(slug: str | None, catching_up: bool) -> None:
    """Rebuild checkin's badge replica from registration's snapshot (FEED_URL, FEED_TOKEN);
    safe while events keep flowing, and running it twice changes nothing."""
    from services.checkin import catch_up
    from shared import db

    settings = Settings.from_env()
    engine = db.make_engine(settings.checkin_database_url)
    sessions, fetch = db.make_sessions(engine), catch_up.http_fetch(settings)
    try:
        if catching_up:
            done = catch_up.catch_up(sessions, fetch)
            click.echo(f"feed events read {done.seen}, missed and applied {done.applied}, "
                       f"whole through {done.through}")  # fmt: skip
        else:
            built = catch_up.rebuild(sessions, fetch, slug)
            click.echo(f"events updated {built.events}, delegates read {built.delegates}, "
                       f"badges changed {built.badges}, feed position {built.head}")  # fmt: skip
    finally:
        engine.dispose()


@cli.command()
def run() -> None:
    """Start everything in the foreground (Redis, both web services, relays, workers, beat,
    SMTP sink); Ctrl-C stops it all."""
    from rollcall.stack import run_stack

    raise SystemExit(run_stack())


@cli.command("smtp-sink")
def smtp_sink() -> None:
    """Run the local SMTP sink that keeps every mail as an .eml file."""
    from rollcall.smtp_sink import main

    main()


cli.add_command(import_delegates)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
