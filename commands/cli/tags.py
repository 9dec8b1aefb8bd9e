"""`finops-bot tags report`: how much of the cost carries the tags the policy requires.

`--json` prints one document (money as decimal strings, shares in percent with one decimal,
null when there is no cost to share):

    {"month": "2026-10", "start": "2026-10-01", "end": "2026-10-31", "complete": true,
     "cost": "billed_cost", "required": ["owner", "cost-center"], "case_insensitive": false,
     "spellings": {"owner": ["owner", "user:owner"], ...}, "by": "team",
     "currencies": [{"currency": "USD", "total": "...", "compliant": "...", "untagged": "...",
                     "score_pct": "87.5",
                     "keys": [{"key": "owner", "tagged": "...", "share_pct": "90.1"}],
                     "untagged_by_account": [{"billing_account": "...", "amount": "..."}],
                     "untagged_by_service": [{"service": "...", "amount": "..."}],
                     "top_untagged_resources": [{"resource_id": "...", "provider": "aws",
                         "billing_account": "...", "service": "...", "amount": "...",
                         "missing": ["cost-center"]}],
                     "groups": [{"value": "web", "total": "...", "compliant": "...", "score_pct": "..."}],
                     "groups_not_shown": 0,
                     "trend": [{"month": "2026-05", "total": "...", "compliant": "...", "score_pct": null}]}]}
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from bot.settings import load_settings
from commands import queries
from commands.cli.output import console, emit_json, money
from commands.tagging import by_label, month_label, pct
from finops.reconcile import parse_period
from storage import tagreport
from storage.db import connect
from storage.migrate import upgrade
from storage.tagreport import CurrencyReport, Required, TagReport, share

tags_app = typer.Typer(
    help="Tag governance: how much of the cost carries the tags the policy requires.", no_args_is_help=True
)


def document(report: TagReport) -> dict[str, Any]:
    keys = report.required.keys
    return {
        "month": f"{report.month:%Y-%m}",
        "start": report.month,
        "end": report.end,
        "complete": report.complete,
        "cost": "billed_cost",
        "required": list(keys),
        "case_insensitive": report.required.insensitive,
        "spellings": {key: list(found) for key, found in report.spellings.items()},
        "by": report.by,
        "currencies": [_currency(c, keys) for c in report.currencies],
    }


def _currency(c: CurrencyReport, keys: tuple[str, ...]) -> dict[str, Any]:
    s = c.summary
    return {
        "currency": s.currency,
        "total": s.total,
        "compliant": s.compliant,
        "untagged": s.untagged,
        "score_pct": s.score,
        "keys": [{"key": k, "tagged": s.tagged[k], "share_pct": share(s.tagged[k], s.total)} for k in keys],
        "untagged_by_account": [{"billing_account": x.values[0], "amount": x.amount} for x in c.by_account],
        "untagged_by_service": [{"service": x.values[0], "amount": x.amount} for x in c.by_service],
        "top_untagged_resources": [
            {
                "resource_id": r.resource_id,
                "provider": r.provider,
                "billing_account": r.billing_account,
                "service": r.service,
                "amount": r.amount,
                "missing": list(r.missing),
            }
            for r in c.resources
        ],
        "groups": [
            {"value": g.value, "total": g.total, "compliant": g.compliant, "score_pct": g.score}
            for g in c.groups
        ],
        "groups_not_shown": c.more_groups,
        "trend": [
            {"month": f"{m.month:%Y-%m}", "total": m.total, "compliant": m.compliant, "score_pct": m.score}
            for m in c.trend
        ],
    }


def _amount(value: Any) -> str:
    return money(value, "").strip()


def _table(title: str | None, text: Sequence[str], numbers: Sequence[str]) -> Table:
    """Text columns fold; amounts and shares align right."""
    table = Table(title=title)
    for name in text:
        table.add_column(name, overflow="fold")
    for name in numbers:
        table.add_column(name, justify="right", no_wrap=True)
    return table


def _print_currency(c: CurrencyReport, report: TagReport) -> None:
    s, cur = c.summary, c.summary.currency
    console.print(
        f"\n[bold]{cur}[/bold]: [bold]{pct(s.score)}[/bold] of {money(s.total, cur)} carries every "
        f"required tag; {money(s.untagged, cur)} untagged"
    )
    keys = _table(None, ["Tag"], ["Tagged", "Share"])
    for key in report.required.keys:
        keys.add_row(escape(key), _amount(s.tagged[key]), pct(share(s.tagged[key], s.total)))
    console.print(keys)
    label = escape(by_label(report.by))
    groups = _table(f"By {label}, worst score first", [label], [cur, "Score"])
    for g in c.groups:
        groups.add_row(escape(g.value), _amount(g.total), pct(g.score))
    if c.more_groups:
        groups.add_row(f"{c.more_groups} more", "", "")
    console.print(groups)
    for name, rows in (("Account", c.by_account), ("Service", c.by_service)):
        table = _table(f"Untagged spend by {name.lower()}", [name], [cur])
        for row in rows:
            table.add_row(escape(row.values[0]), _amount(row.amount))
        console.print(table)
    if c.resources:
        resources = _table("Top untagged resources", ["Resource", "Account", "Service", "Missing"], [cur])
        for r in c.resources:
            resources.add_row(
                escape(r.resource_id),
                escape(r.billing_account),
                escape(r.service or "(none)"),
                escape(", ".join(r.missing)),
                _amount(r.amount),
            )
        console.print(resources)
    else:
        console.print("No untagged resource with a ResourceId in this billing period.")
    console.print("Trend: " + " · ".join(f"{m.month:%Y-%m} {pct(m.score)}" for m in c.trend))


def _print(report: TagReport) -> None:
    required = ", ".join(report.required.keys) + (
        " (keys in any case)" if report.required.insensitive else ""
    )
    console.print(
        f"[bold]Tag compliance, {month_label(report)}[/bold] ({report.month} to {report.end}), BilledCost; "
        f"required: {escape(required)}"
    )
    if not report.currencies:
        console.print("No cost data for this month: load billing data first (`finops-bot ingest`).")
    for c in report.currencies:
        _print_currency(c, report)


async def _run(url: str, required: Required, month: date | None, months: int, by: str, top: int) -> TagReport:
    engine = connect(url)
    try:
        await upgrade(engine)
        today = datetime.now(UTC).date()
        return await queries.tags(engine, required, today, month=month, months=months, by=by, top=top)
    finally:
        await engine.dispose()


def handle_report(
    by: Annotated[
        str, typer.Option(help="Score per group of this: team, env, account, service, ... or tag:KEY.")
    ] = "team",
    month: Annotated[
        str | None, typer.Option(help="The month, YYYY-MM; default the last full month with data.")
    ] = None,
    months: Annotated[int, typer.Option(min=1, max=36, help="Months of the trend, ending with it.")] = (
        tagreport.DEFAULT_MONTHS
    ),
    top: Annotated[int, typer.Option(min=1, max=100, help="Rows of each list.")] = tagreport.DEFAULT_TOP,
    policy: Annotated[
        Path | None,
        typer.Option(
            help="The policy file (YAML); default [policies] in FINOPS_CONFIG, else ./finops-policy.yml."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Share of cost carrying each required tag, untagged spend, top untagged resources, the
    trend, and a compliance score per team (or --by)."""
    dimension = tagreport.dimension(by)
    start = parse_period(month) if month else None
    settings = load_settings()
    required = queries.required_tags(settings, policy)
    report = asyncio.run(_run(settings.database_url, required, start, months, dimension, top))
    if as_json:
        emit_json(document(report))
    else:
        _print(report)


def register(app: typer.Typer) -> None:
    tags_app.command("report")(handle_report)
    app.add_typer(tags_app, name="tags")
