"""`finops-bot demo`: the whole pipeline once on a generated sample organisation."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from bot.settings import load_settings
from commands.cli.output import console, emit_json, money
from jobs.demo import DemoResult, run_demo
from storage.db import connect


def handle_demo(
    seed: Annotated[int, typer.Option(help="Seed of the sample organisation (same seed, same data).")] = 42,
    end: Annotated[
        str | None, typer.Option(help="Last charge day, YYYY-MM-DD (default: yesterday, UTC).")
    ] = None,
    months: Annotated[int, typer.Option(min=1, max=36, help="Months of history to generate.")] = 13,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Generate a sample organisation, load it into the configured database and summarise it."""
    settings = load_settings()
    end_day = _parse_day(end) if end else None
    result = asyncio.run(_run(settings.database_url, seed, end_day, months))
    if as_json:
        emit_json(_document(result))
    else:
        _print(result)


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD", param_hint="--end") from None


async def _run(url: str, seed: int, end: date | None, months: int) -> DemoResult:
    engine = connect(url)
    try:
        return await run_demo(engine, seed=seed, end=end, months=months)
    finally:
        await engine.dispose()


def _document(result: DemoResult) -> dict[str, object]:
    return {
        "database": result.database,
        "seed": result.seed,
        "period": {"start": result.start, "end": result.end},
        "line_items": result.line_items,
        "load": result.load,
        "totals": result.totals,
        "planted_anomalies": result.planted,
    }


def _print(result: DemoResult) -> None:
    console.print(
        f"[bold]finops-bot demo[/bold] — sample organisation (seed {result.seed}) in {result.database}"
    )
    console.print(f"Charge days {result.start} to {result.end}; {result.line_items:,} FOCUS line items")
    if result.load.skipped:
        console.print("This exact data was already loaded: nothing changed.")
    else:
        console.print(
            f"Stored {result.load.rows_stored:,} daily rows in {result.load.runs} billing periods"
            + (f", replacing {result.load.rows_replaced:,} earlier rows" if result.load.rows_replaced else "")
        )
    table = Table(title="Spend by provider")
    for column in ("Provider", "Currency", "Rows", "From", "To"):
        table.add_column(column, no_wrap=True)
    table.add_column("Billed cost", justify="right", no_wrap=True)
    for total in result.totals:
        table.add_row(
            total.provider,
            total.currency,
            f"{total.rows:,}",
            str(total.first_day),
            str(total.last_day),
            money(total.billed_cost, total.currency),
        )
    console.print(table)
    console.print("Planted anomalies (for detection to find):")
    for planted in result.planted:
        scope = ", ".join(f"{k}={v}" for k, v in planted.scope.items())
        console.print(f"  • {planted.name}: {planted.kind} {planted.start}..{planted.end} ({scope})")


def register(app: typer.Typer) -> None:
    app.command("demo")(handle_demo)
