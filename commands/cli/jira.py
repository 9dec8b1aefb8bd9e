"""`finops-bot jira check` (the configuration against Jira) and `finops-bot jira sync` (what
happened to the linked issues, back to Slack)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from jira import JIRAError

from bot.app import web_client
from bot.errors import EXIT_CHECK_FAILED
from bot.jira_client import checks, message, searcher
from bot.outbound import outbound
from bot.settings import Settings, load_settings
from commands.cli.output import console, emit_json
from finops.errors import UserError
from jobs.jira_sync import sync
from jobs.outbox import deliver
from storage.db import connect as connect_db
from storage.migrate import upgrade

jira_app = typer.Typer(
    help="Jira follow-up: check the configuration, sync linked issues.", no_args_is_help=True
)


def handle_check(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Check that the Jira server, projects, issue type, priorities and components exist."""
    settings = load_settings()
    settings.require("jira_url", "jira_api_token")
    found = checks(settings)
    if as_json:
        emit_json([{"check": what, "ok": ok, "detail": detail} for what, ok, detail in found])
    else:
        for what, ok, detail in found:
            console.print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail else ""))
    if not all(ok for _, ok, _ in found):
        raise typer.Exit(EXIT_CHECK_FAILED)


async def _sync(settings: Settings) -> dict[str, Any]:
    engine = connect_db(settings.database_url)
    try:
        await upgrade(engine)
        synced = await sync(engine, searcher(settings))
        senders, on_failure = outbound(settings, web_client(settings))
        delivered = await deliver(engine, senders, on_failure)
        return {"resolved": synced.resolved, "reopened": synced.reopened, "sent": delivered.sent}
    finally:
        await engine.dispose()


def handle_sync(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Bring what happened to the linked Jira issues back to their Slack threads (the jira-sync job)."""
    settings = load_settings()
    settings.require("jira_url", "jira_api_token", "slack_bot_token")
    try:
        result = asyncio.run(_sync(settings))
    except JIRAError as exc:
        raise UserError(f"Jira refused the sync: {message(exc)}") from exc
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"Resolved in Jira: {', '.join(result['resolved']) or 'none'}; "
            f"reopened: {', '.join(result['reopened']) or 'none'}."
        )


def register(app: typer.Typer) -> None:
    jira_app.command("check")(handle_check)
    jira_app.command("sync")(handle_sync)
    app.add_typer(jira_app, name="jira")
