"""`rollcall`: migrate the databases, seed the demo event, run the whole stack locally."""

from __future__ import annotations

import json
from pathlib import Path

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


@cli.command()
@click.option("--delegates", default=800, show_default=True, help="How many delegates.")
@click.option("--gates", default=4, show_default=True, help="Entrances to the venue.")
@click.option("--desks", type=int, help="Registration desks (default: one per 2,000 delegates).")
@click.option("--seed", default=2023, show_default=True, help="The same seed, the same run.")
@click.option("--speed", default=60.0, show_default=True, help="Simulated seconds a second.")
@click.option("--replicas", default=1, show_default=True, help="Processes of each (own system).")
@click.option("--database-url", help="The own system's database (default: SQLite files).")
@click.option(
    "--demo-json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Drive the running system `rollcall run` describes (var/demo.json).",
)
@click.option("--registration-url", multiple=True, help="A running registration (repeatable).")
@click.option("--checkin-url", multiple=True, help="A running checkin (repeatable).")
@click.option("--organizer-token", help="An organiser token of the running system.")
@click.option(
    "--mail-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the running system's SMTP sink keeps mail.",
)
@click.option("--checkin-database-url", help="To check the running system's scan log.")
@click.option(
    "--out",
    "out_dir",
    default="var/rehearsal",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Reports go here.",
)
@click.option("--mail-timeout", default=600.0, show_default=True, help="Seconds for the mails.")
@click.option(
    "--badges",
    type=click.Choice(["mail", "api"]),
    default="mail",
    show_default=True,
    help="Read each badge from its mail, or (quicker, for big runs) from the organisers' API.",
)
def rehearse(**given) -> None:
    """The dress rehearsal: register a realistic forum, read every badge mail, play the
    morning rush at the gates and check the headcount. Starts its own system unless told of a
    running one (--demo-json, or the URLs and --organizer-token); exits 1 on any mismatch."""
    from rich.console import Console

    from rollcall.rehearse import rehearsal, system

    names = ("demo_json", "registration_url", "checkin_url", "organizer_token", "mail_dir",
             "checkin_database_url")  # fmt: skip
    running = {k: given.pop(k) for k in names}
    against = system.from_demo_json(running["demo_json"]) if running["demo_json"] else {}
    if running["registration_url"]:
        against |= {"registration_urls": list(running["registration_url"]),
                    "checkin_urls": list(running["checkin_url"]),
                    "organizer_token": running["organizer_token"],
                    "mail_dir": running["mail_dir"]}  # fmt: skip
    if against:
        against["checkin_database_url"] = running["checkin_database_url"]
        missing = [k for k, v in against.items() if not v and k != "checkin_database_url"]
        if missing:
            raise click.UsageError(f"A running system needs {', '.join(missing)}.")
    if given["replicas"] > 1 and not against and not given["database_url"]:
        raise click.UsageError("--replicas runs against PostgreSQL: give --database-url.")
    options = rehearsal.Options(**given, against=against or None)
    outcome = rehearsal.rehearse(options, Console())
    raise SystemExit(0 if outcome.ok else 1)


cli.add_command(import_delegates)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
