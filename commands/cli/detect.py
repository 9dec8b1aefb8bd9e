"""`finops-bot detect [--as-of DATE] [--json]`: find cost anomalies as a run on that day would."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated

import typer

from bot.app import web_client
from bot.errors import EXIT_CHECK_FAILED
from bot.outbound import outbound
from bot.settings import Settings, load_settings
from commands.cli.output import console, emit_json, money
from jobs.detect import DetectionRun, detect
from jobs.notify import channel_for, plan, resolve_quiet
from jobs.outbox import Delivered, deliver
from storage.db import connect, unit_of_work
from storage.migrate import upgrade


def as_of_day(text: str | None) -> date:
    """The --as-of option: a YYYY-MM-DD day, today (UTC) when not given."""
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-10-31") from None


def handle_detect(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Detect as a run on this day (YYYY-MM-DD) would; default today."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify", help="Post new anomalies to Slack and news in their threads (SLACK_BOT_TOKEN)."
        ),
    ] = False,
) -> None:
    """Find cost anomalies (spikes against a seasonal baseline) and store them; prints what it found."""
    day = as_of_day(as_of)
    settings = load_settings()
    if notify:
        settings.require("slack_bot_token")
        channel_for(settings, {})  # no alert channel: say so before the work
    run, delivered = asyncio.run(_run(settings.database_url, day, settings, notify))
    if as_json:
        document: dict[str, object] = {"as_of": run.as_of.isoformat(), "anomalies": run.anomalies}
        if delivered is not None:
            document["notified"] = dataclasses.asdict(delivered)
        emit_json(document)
    else:
        _print(run)
        if delivered is not None:
            console.print(
                f"Slack: {len(delivered.sent)} sent, {len(delivered.retrying)} to retry, "
                f"{len(delivered.failed)} failed."
            )
    if delivered is not None and delivered.failed:
        raise typer.Exit(EXIT_CHECK_FAILED)


async def _run(
    url: str, day: date, settings: Settings, notify: bool
) -> tuple[DetectionRun, Delivered | None]:
    engine = connect(url)
    try:
        await upgrade(engine)
        run = await detect(engine, day, settings.detection)
        if not notify:
            return run, None
        async with unit_of_work(engine) as session:
            await plan(session, settings, [a["fingerprint"] for a in run.anomalies])
            await resolve_quiet(session, day)
        senders, on_failure = outbound(settings, web_client(settings))
        return run, await deliver(engine, senders, on_failure)
    finally:
        await engine.dispose()


def _scope(scope: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items())


def _print(run: DetectionRun) -> None:
    if not run.anomalies:
        console.print(f"No anomalies as of {run.as_of} ({run.series:,} series looked at).")
        return
    console.print(f"Anomalies as of {run.as_of} ({run.series:,} series looked at):")
    for a in run.anomalies:
        currency = a["currency"]
        change = f"+{money(Decimal(a['impact']), currency)}" + (
            f", +{a['pct']}%" if a["pct"] is not None else ""
        )
        since = f"{a['kind']} since {a['start']} ({a['status']})"
        console.print(f"  [bold]{a['severity']}[/bold] {since}: {_scope(a['scope'])}")
        hours = a["hours"]
        when = f"{a['date']} {hours['first']:02d}:00-{hours['last']:02d}:59 UTC" if hours else a["date"]
        console.print(
            f"    {when}: {money(Decimal(a['actual']), currency)}, expected "
            f"{money(Decimal(a['expected']), currency)} ({change})"
        )
        for cause in a["root_cause"]:
            console.print(f"    cause: {_scope(cause['scope'])} ({cause['share']:.0%})")
        for related in a["related"]:
            console.print(f"    also seen as: {_scope(related['scope'])}")


def register(app: typer.Typer) -> None:
    app.command("detect")(handle_detect)
