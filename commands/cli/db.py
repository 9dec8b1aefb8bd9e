"""`finops-bot db ...`: database maintenance."""

from __future__ import annotations

import asyncio

import typer

from bot.settings import load_settings
from commands.cli.output import console
from storage.db import connect, describe
from storage.migrate import upgrade

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def handle_upgrade() -> None:
    """Migrate the configured database (FINOPS_DATABASE_URL) to the newest schema."""
    settings = load_settings()
    before, after = asyncio.run(_upgrade(settings.database_url))
    where = describe(connect(settings.database_url).url)
    if before == after:
        console.print(f"{where}: already at revision {after}")
    else:
        console.print(f"{where}: migrated from {before or 'an empty database'} to revision {after}")


async def _upgrade(url: str) -> tuple[str | None, str | None]:
    engine = connect(url)
    try:
        return await upgrade(engine)
    finally:
        await engine.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
