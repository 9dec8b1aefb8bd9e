"""`finops-bot cost "QUERY" [--json] [--chart FILE]`: the same grammar and code as `/cost`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bot.settings import load_settings
from commands import queries
from commands.cli.output import console, emit_json, money
from commands.messages import costquery_label
from finops import charts, costquery
from storage.db import connect
from storage.migrate import upgrade
from storage.reports import change


def document(answer: queries.CostAnswer) -> dict[str, Any]:
    report, query = answer.report, answer.query
    return {
        "query": query.text,
        "period": {"start": query.period.start, "end": query.period.end, "label": query.period.label},
        "compare": {"start": query.compare.start, "end": query.compare.end, "label": query.compare_label},
        "data_until": report.data_until,
        "group_by": list(query.group_by),
        "totals": [
            {
                "currency": currency,
                "amount": total,
                "previous": report.previous.get(currency),
                "change_pct": change(total, report.previous.get(currency, Decimal(0))),
            }
            for currency, total in sorted(report.totals.items())
        ],
        "rows": [
            {
                "keys": dict(zip(query.group_by, row.keys, strict=True)),
                "currency": row.currency,
                "amount": row.amount,
                "previous": row.previous,
                "change_pct": change(row.amount, row.previous),
            }
            for row in report.rows
        ],
        "others": [
            {"currency": c, "rows": n, "amount": amount, "previous": before}
            for c, (n, amount, before) in sorted(report.others.items())
        ],
        "forecasts": [
            {"currency": c, "end": f.end, "forecast": f.total, "lower": f.lower, "upper": f.upper}
            for c, f in sorted(answer.forecasts.items())
        ],
    }


def _print(answer: queries.CostAnswer) -> None:
    report, query = answer.report, answer.query
    console.print(f"[bold]Cost, {query.period.label}[/bold] ({query.period.start} to {query.period.end})")
    if not report.totals:
        console.print("No costs match in this period.")
    for currency, total in sorted(report.totals.items(), key=lambda kv: -kv[1]):
        before = report.previous.get(currency, Decimal(0))
        pct = change(total, before)
        console.print(
            f"Total {money(total, currency)}, {'new' if pct is None else f'{pct:+}%'} vs "
            f"{query.compare_label} ({money(before, currency)})"
        )
        if query.group_by:
            table = Table(*(costquery_label(d) for d in query.group_by))
            table.add_column(currency, justify="right")
            table.add_column("change", justify="right")
            for row in (r for r in report.rows if r.currency == currency):
                pct = change(row.amount, row.previous)
                table.add_row(*row.keys, money(row.amount, "").strip(), "new" if pct is None else f"{pct:+}%")
            if currency in report.others:
                count, rest, _ = report.others[currency]
                table.add_row(
                    f"{count} others", *[""] * (len(query.group_by) - 1), money(rest, "").strip(), ""
                )
            console.print(table)
        made = answer.forecasts.get(currency)
        if made:
            console.print(
                f"Forecast for {made.start:%B %Y}: {money(made.total, currency)} "
                f"(90%: {money(made.lower, currency)} to {money(made.upper, currency)})"
            )
    if report.data_until is not None and report.data_until < report.asked_end:
        console.print(f"Data through {report.data_until}; compared like for like.")


async def _run(url: str, text: str) -> queries.CostAnswer:
    engine = connect(url)
    try:
        await upgrade(engine)
        return await queries.cost(engine, text, datetime.now(UTC).date())
    finally:
        await engine.dispose()


def handle_cost(
    query: Annotated[str, typer.Argument(help='The query, e.g. "last 7 days by service"; "help" for more.')],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    chart: Annotated[Path | None, typer.Option("--chart", help="Also write a PNG chart here.")] = None,
) -> None:
    """Costs by period, dimension and filter: the same grammar as /cost in Slack."""
    if costquery.is_help(query):
        console.print(costquery.HELP.replace("*", ""))
        return
    answer = asyncio.run(_run(load_settings().database_url, query))
    if chart is not None and answer.report.totals:
        currency = max(answer.report.totals, key=lambda c: answer.report.totals[c])
        chart.write_bytes(charts.daily_spend(answer.report.daily[currency], title=query, currency=currency))
    if as_json:
        emit_json(document(answer))
    else:
        _print(answer)


def register(app: typer.Typer) -> None:
    app.command("cost")(handle_cost)
