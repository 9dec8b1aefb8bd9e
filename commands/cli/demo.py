"""`finops-bot demo`: the whole pipeline once on a generated sample organisation.

Load, detect (the daily job replayed over the last weeks), budgets, and what the bot would post to
Slack and open in Jira, rendered for the terminal. Nothing is sent and nothing is queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.settings import Settings, load_settings
from commands.cli import blocks
from commands.cli.output import console, emit_json, money
from commands.queries import BudgetAnswer
from jobs.demo import REPLAY_DAYS, Alert, PipelineResult, Progress, run_pipeline
from storage.db import connect

progress_console = Console(stderr=True)  # progress never mixes with --json on stdout
BAR = "  │ "


def handle_demo(
    seed: Annotated[int, typer.Option(help="Seed of the sample organisation (same seed, same data).")] = 42,
    end: Annotated[
        str | None, typer.Option(help="Last charge day, YYYY-MM-DD (default: yesterday, UTC).")
    ] = None,
    months: Annotated[int, typer.Option(min=1, max=36, help="Months of history to generate.")] = 13,
    detect_days: Annotated[
        int,
        typer.Option(
            min=1,
            max=400,
            help="Days of the daily detection run to replay, up to the day after the last charge day.",
        ),
    ] = REPLAY_DAYS,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Load a sample organisation, run detection and budgets on it, and show what would be posted
    to Slack and opened in Jira (nothing is sent; no account or network needed)."""
    settings = load_settings()
    end_day = _parse_day(end) if end else None
    with _progress() as say:
        result = asyncio.run(_run(settings, seed, end_day, months, detect_days, say))
    if as_json:
        emit_json(_document(result))
    else:
        _print(result)


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD", param_hint="--end") from None


@contextmanager
def _progress() -> Iterator[Progress]:
    """A status line on stderr (shown on a terminal only) that the pipeline updates."""
    with progress_console.status("Starting") as status:
        yield lambda text: status.update(text)


async def _run(
    settings: Settings, seed: int, end: date | None, months: int, days: int, say: Progress
) -> PipelineResult:
    engine = connect(settings.database_url)
    try:
        return await run_pipeline(
            engine, settings, seed=seed, end=end, months=months, replay_days=days, progress=say
        )
    finally:
        await engine.dispose()


# --- JSON -------------------------------------------------------------------------------------


def _document(result: PipelineResult) -> dict[str, object]:
    loaded = result.loaded
    return {
        "database": loaded.database,
        "seed": loaded.seed,
        "period": {"start": loaded.start, "end": loaded.end},
        "line_items": loaded.line_items,
        "load": loaded.load,
        "totals": loaded.totals,
        "planted_anomalies": loaded.planted,
        "detection": {
            "from": result.detected_from,
            "as_of": result.as_of,
            "runs": (result.as_of - result.detected_from).days + 1,
            "new": result.new,
        },
        "anomalies": [alert.anomaly for alert in result.alerts],
        "slack_messages": [
            {"fingerprint": a.anomaly["fingerprint"], "channel": a.channel, **a.message}
            for a in result.alerts
            if a.message is not None
        ],
        "jira_issues": [
            {"fingerprint": a.anomaly["fingerprint"], "fields": a.jira} for a in result.alerts if a.jira
        ],
        "budgets": [
            _budget(answer, answer.budget.name in result.budgets_created) for answer in result.budgets
        ],
        "budget_alerts": [
            {"budget": a.budget, "channel": a.channel, **a.message} for a in result.budget_alerts
        ],
    }


def _budget(answer: BudgetAnswer, created: bool) -> dict[str, object]:
    b, s = answer.budget, answer.status
    return {
        "name": b.name,
        "scope": b.scope,
        "period": b.period,
        "currency": b.currency,
        "amount": b.amount,
        "state": s.state,
        "start": s.start,
        "end": s.end,
        "as_of": s.as_of,
        "spent": s.spent,
        "pct_spent": s.pct_spent,
        "forecast": s.forecast,
        "pct_forecast": s.pct_forecast,
        "thresholds_crossed": list(s.thresholds_crossed),
        "created_by_demo": created,
    }


# --- text -------------------------------------------------------------------------------------


def _print(result: PipelineResult) -> None:
    _print_load(result)
    _print_anomalies(result)
    _print_planted(result)
    _print_slack(result.alerts)
    _print_jira(result.alerts)
    _print_budgets(result)
    _print_budget_alerts(result)
    console.print(
        "\nNothing was sent and nothing was queued: a later `finops-bot run` on this database posts "
        "only what its own detection finds."
    )


def _heading(text: str) -> None:
    console.print(Text(f"\n{text}", style="bold"))


def _scope(scope: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items())


def _print_load(result: PipelineResult) -> None:
    loaded = result.loaded
    console.print(
        f"[bold]finops-bot demo[/bold] — sample organisation (seed {loaded.seed}) in {loaded.database}"
    )
    console.print(f"Charge days {loaded.start} to {loaded.end}; {loaded.line_items:,} FOCUS line items")
    if loaded.load.skipped:
        console.print("This exact data was already loaded: nothing changed.")
    else:
        console.print(
            f"Stored {loaded.load.rows_stored:,} daily rows in {loaded.load.runs} billing periods"
            + (f", replacing {loaded.load.rows_replaced:,} earlier rows" if loaded.load.rows_replaced else "")
        )
    table = Table(title="Spend by provider")
    for column in ("Provider", "Currency", "Rows", "From", "To"):
        table.add_column(column, no_wrap=True)
    table.add_column("Billed cost", justify="right", no_wrap=True)
    for total in loaded.totals:
        table.add_row(
            total.provider,
            total.currency,
            f"{total.rows:,}",
            str(total.first_day),
            str(total.last_day),
            money(total.billed_cost, total.currency),
        )
    console.print(table)


def _print_anomalies(result: PipelineResult) -> None:
    runs = (result.as_of - result.detected_from).days + 1
    _heading(
        f"Anomalies: the daily detection run replayed as of {result.detected_from} to {result.as_of} "
        f"({runs} runs)"
    )
    if not result.alerts:
        console.print("None found.")
        return
    known = len(result.alerts) - sum(1 for a in result.alerts if a.anomaly["new"])
    if known:
        console.print(
            f"{known} of {len(result.alerts)} were already known from an earlier run on this data; "
            "they are shown as they stand now."
        )
    for alert in result.alerts:
        a = alert.anomaly
        impact = money(Decimal(a["impact"]), a["currency"])
        pct = f", +{a['pct']:.0f}%" if a["pct"] is not None else ", new cost"
        when = a["start"] if a["start"] == a["date"] else f"{a['start']} to {a['date']}"
        console.print(
            Text.assemble(
                ("  " + a["severity"].upper(), "bold"),
                f" {a['kind']} {when} ({a['status']}{', new' if a['new'] else ''}): {_scope(a['scope'])}",
            )
        )
        console.print(Text(f"    impact +{impact} a day{pct}; planted: {a['planted'] or 'no'}"))
        for cause in a["root_cause"][:3]:
            console.print(Text(f"    root cause: {_scope(cause['scope'])} ({cause['share']:.0%})"))
        for related in a["related"]:
            console.print(Text(f"    also seen as: {_scope(related['scope'])}"))


def _print_planted(result: PipelineResult) -> None:
    found = {a.anomaly["planted"] for a in result.alerts}
    _heading("Planted anomalies (the known answer)")
    for planted in result.loaded.planted:
        where = f"{planted.kind} {planted.start}..{planted.end} ({_scope(planted.scope)})"
        if planted.name in found:
            mark = "found"
        elif planted.end < result.detected_from:
            mark = (
                f"before the replayed days (--detect-days {(result.as_of - planted.start).days + 1} finds it)"
            )
        else:
            mark = "not found"
        console.print(Text(f"  • {planted.name}: {where}: {mark}"))


def _print_slack(alerts: list[Alert]) -> None:
    posted = [a for a in alerts if a.message is not None]
    _heading(f"Slack: {len(posted)} alert message(s) as they would be posted (not sent)")
    for alert in posted:
        channel = alert.channel or "the alert channel (set FINOPS_ALERT_CHANNEL)"
        console.print(Text(f"\n  → {channel}", style="dim"))
        for line in blocks.render(alert.message or {}):
            console.print(Text.assemble(BAR, line))


def _print_jira(alerts: list[Alert]) -> None:
    issues = [a for a in alerts if a.jira]
    _heading(f"Jira: {len(issues)} issue(s) that would be opened (not sent)")
    for alert in issues:
        fields = alert.jira or {}
        priority = fields.get("priority", {}).get("name", "default")
        components = ", ".join(c["name"] for c in fields.get("components", []))
        console.print(
            Text(
                f"\n  {fields['project']['key']} · {fields['issuetype']['name']} · priority {priority}"
                + (f" · component {components}" if components else ""),
                style="bold",
            )
        )
        console.print(Text(f"  Summary: {fields['summary']}"))
        console.print(Text(f"  Labels: {', '.join(fields['labels'])}"))
        console.print(Text("  Description:"))
        for line in str(fields["description"]).strip().splitlines():
            console.print(Text(BAR + line))


def _print_budgets(result: PipelineResult) -> None:
    _heading(f"Budgets as of {result.loaded.end} (what /budget list answers)")
    if not result.budgets:
        console.print("None, and none could be made: the sample has no spend in their scopes.")
    for answer in result.budgets:
        b, s = answer.budget, answer.status
        scope = ", ".join(f"{k}={','.join(v)}" for k, v in sorted(b.scope.items())) or "all costs"
        made = " (created for the demo)" if b.name in result.budgets_created else ""
        forecast = (
            "" if s.forecast is None else f", forecast {money(s.forecast, b.currency)} ({s.pct_forecast}%)"
        )
        console.print(
            Text.assemble(
                (f"  {s.state.upper():<8} ", "bold"),
                f"{b.name}{made}: {money(b.amount, b.currency)} {b.period} for {scope}; "
                f"{s.start:%b %Y} spent {money(s.spent, b.currency)} ({s.pct_spent}%){forecast}",
            )
        )


def _print_budget_alerts(result: PipelineResult) -> None:
    alerts = result.budget_alerts
    _heading(f"Slack: {len(alerts)} budget alert(s) the budgets job would post this period (not sent)")
    for alert in alerts:
        channel = alert.channel or "the alert channel (set FINOPS_ALERT_CHANNEL)"
        console.print(Text(f"\n  → {channel}", style="dim"))
        for line in blocks.render(alert.message):
            console.print(Text.assemble(BAR, line))


def register(app: typer.Typer) -> None:
    app.command("demo")(handle_demo)
