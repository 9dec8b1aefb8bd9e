"""`finops-bot forecast [--as-of DATE] [--period month|quarter] [--by DIMENSION...] [--json]`."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, cast

import typer

from bot.settings import load_settings
from commands.cli.detect import as_of_day
from commands.cli.output import console, emit_json, money
from finops.forecast import Period
from jobs.forecast import ScopeForecast, forecasts
from storage.db import connect
from storage.migrate import upgrade
from storage.models import DIMENSIONS


def handle_forecast(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Forecast as on this day (YYYY-MM-DD); default today.")
    ] = None,
    period: Annotated[str, typer.Option(help="month or quarter.")] = "month",
    by: Annotated[
        list[str] | None, typer.Option("--by", help="Dimension(s) per scope; default provider.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Forecast spend to the end of the month or quarter, per scope, with a 90% interval."""
    if period not in ("month", "quarter"):
        raise typer.BadParameter(f"{period!r} is not a period; use month or quarter")
    dimensions = by or ["provider"]
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown:
        raise typer.BadParameter(f"unknown dimension(s) {', '.join(unknown)}; use: {', '.join(DIMENSIONS)}")
    day = as_of_day(as_of)
    settings = load_settings()
    found = asyncio.run(_run(settings.database_url, day, dimensions, cast(Period, period)))
    if as_json:
        emit_json({"as_of": day.isoformat(), "period": period, "forecasts": [_document(f) for f in found]})
        return
    if not found:
        console.print(f"No cost data to forecast from as of {day}.")
    for item in found:
        f = item.forecast
        scope = ", ".join(f"{k}={v}" for k, v in item.scope.items())
        console.print(
            f"{scope}: {money(f.total, item.currency)} by {f.end} "
            f"(90%: {money(f.lower, item.currency)} to {money(f.upper, item.currency)}; "
            f"{money(f.actual, item.currency)} spent to {f.as_of}, {f.days_left} days left)"
        )


async def _run(url: str, day: date, dimensions: list[str], period: Period) -> list[ScopeForecast]:
    engine = connect(url)
    try:
        await upgrade(engine)
        return await forecasts(engine, day, dimensions, period)
    finally:
        await engine.dispose()


def _document(item: ScopeForecast) -> dict[str, object]:
    f = item.forecast
    return {
        "scope": item.scope,
        "currency": item.currency,
        "period": f.period,
        "start": f.start.isoformat(),
        "end": f.end.isoformat(),
        "as_of": f.as_of.isoformat(),
        "actual": str(f.actual),
        "forecast": str(f.total),
        "lower": str(f.lower),
        "upper": str(f.upper),
        "days_left": f.days_left,
        "model": f.model,
    }


def register(app: typer.Typer) -> None:
    app.command("forecast")(handle_forecast)
