"""`finops-bot budget list|show|set|delete|status|report`: the same code as `/budget` in Slack.

Every sub-command first brings the budgets the config file declares (`[[budgets]]`) into the
database: the file is their source of truth, and `set`/`delete` refuse to change them.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import EXIT_BAD_INPUT
from bot.settings import Settings, load_settings
from commands import budgetspec, queries, variance
from commands.cli.detect import as_of_day
from commands.cli.output import console, emit_json, money
from finops.budgets import DEFAULT_THRESHOLDS, PERIODS, Rates, Variance
from finops.currency import is_currency
from storage import budgets
from storage.budgets import BudgetAnswer, BudgetSpec
from storage.db import unit_of_work
from storage.migrate import migrated
from storage.models import Budget, BudgetAmendment

ACTOR = "cli"  # the actor and channel of the audit rows
OPTION_OF = {"name": "NAME", "rollover_cap": "--rollover-cap"}  # a field's option, when not --field
CSV_HEADER = (
    "period", "budget", "cost_center", "currency", "budget_amount", "actual", "variance", "variance_pct",
)  # fmt: skip

budget_app = typer.Typer(
    help="Budgets: list, show, set, delete, status, and budget against actual (variance) reports.",
    no_args_is_help=True,
)

AsOf = Annotated[str | None, typer.Option("--as-of", help="As on this day (YYYY-MM-DD); default today.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The migrated database, with the config file's budgets brought in."""
    async with migrated(settings.database_url) as engine:
        await budgetspec.sync(engine, settings)
        yield engine


def say(text: str) -> None:
    """A line of plain text: names and scopes are not rich markup."""
    console.print(text, markup=False)


def _today() -> date:
    return datetime.now(UTC).date()


def _optional(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def status_document(answer: BudgetAnswer) -> dict[str, Any]:
    """The `budget status --json` contract: exactly these keys."""
    s, b = answer.status, answer.budget
    return {
        "name": b.name,
        "period": b.period,
        "start": s.start.isoformat(),
        "end": s.end.isoformat(),
        "currency": b.currency,
        "amount": format(s.amount, "f"),
        "spent": format(s.spent, "f"),
        "forecast": _optional(s.forecast),
        "pct_spent": format(s.pct_spent, "f"),
        "pct_forecast": _optional(s.pct_forecast),
        "thresholds_crossed": list(s.thresholds_crossed),
        "parent": answer.parent,
    }


def list_document(answer: BudgetAnswer) -> dict[str, Any]:
    b = answer.budget
    return {
        **status_document(answer),
        "state": answer.status.state,
        "scope": b.scope,
        "managed_by": b.managed_by,
    }


def show_document(answer: BudgetAnswer, history: list[BudgetAmendment]) -> dict[str, Any]:
    s, b = answer.status, answer.budget
    return {
        **list_document(answer),
        "as_of": s.as_of.isoformat(),
        "base_amount": format(b.amount, "f"),
        "carried": format(s.carried, "f"),
        "rollover": b.rollover,
        "rollover_cap": _optional(b.rollover_cap),
        "thresholds": list(b.thresholds),
        "days_left": s.days_left,
        "burn_per_day": format(s.burn_per_day, "f"),
        "left_per_day": _optional(s.left_per_day),
        "rates": {
            "used": answer.rates.used,
            "missing": {code: format(value, "f") for code, value in answer.rates.missing.items()},
        },
        "rates_note": answer.rates_note,
        "amendments": [
            {
                "at": a.created_at.isoformat(),
                "amount_before": format(a.amount_before, "f"),
                "amount_after": format(a.amount_after, "f"),
                "currency": a.currency,
                "reason": a.reason,
                "requested_by": a.requested_by,
                "approved_by": a.approved_by,
            }
            for a in history
        ],
    }


def _forecast_text(answer: BudgetAnswer) -> str:
    s, currency = answer.status, answer.budget.currency
    return "no forecast yet" if s.forecast is None else f"{money(s.forecast, currency)} ({s.pct_forecast}%)"


# list


async def _list(settings: Settings, day: date) -> list[BudgetAnswer]:
    async with _store(settings) as engine:
        return await queries.budget_list(engine, settings, day)


def handle_list(as_of: AsOf = None, as_json: Json = False) -> None:
    """Each budget: where it stands in its period (state, spent of amount, forecast)."""
    day = as_of_day(as_of)
    answers = asyncio.run(_list(load_settings(), day))
    if as_json:
        emit_json([list_document(a) for a in answers])
        return
    if not answers:
        say("No budgets yet; `finops-bot budget set NAME --amount N` makes one.")
        return
    for a in answers:
        s, b = a.status, a.budget
        say(
            f"{b.name}{' (config)' if b.managed_by == budgets.CONFIG else ''}: {s.state}, "
            f"{money(s.spent, b.currency)} of {money(s.amount, b.currency)} ({s.pct_spent}%) {b.period}, "
            f"forecast {_forecast_text(a)}"
        )
    for a in answers:
        if a.rates_note:
            say(f"  {a.rates_note}")


# show


async def _show(settings: Settings, name: str, day: date) -> tuple[BudgetAnswer, list[BudgetAmendment]]:
    async with _store(settings) as engine:
        answer = await queries.budget(engine, settings, name, day)
        async with unit_of_work(engine) as session:
            return answer, await budgets.amendments(session, answer.budget.id)


def handle_show(
    name: Annotated[str, typer.Argument(help="The budget's name (any case).")],
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """One budget in detail: scope, period, spend, forecast, burn, rollover, amendments."""
    day = as_of_day(as_of)
    answer, history = asyncio.run(_show(load_settings(), name, day))
    if as_json:
        emit_json(show_document(answer, history))
        return
    s, b = answer.status, answer.budget
    c = b.currency
    lines = [
        f"{b.name}: {s.state}",
        f"Scope: {budgetspec.scope_text(b.scope) or 'all costs'}",
        f"Budget: {money(b.amount, c)} {b.period}"
        + (f", plus {money(s.carried, c)} rolled over = {money(s.amount, c)}" if s.carried else ""),
        f"Period: {s.start} to {s.end}, data through {s.as_of}, {s.days_left} days left",
        f"Spent: {money(s.spent, c)} ({s.pct_spent}%)",
        f"Forecast: {_forecast_text(answer)}",
        f"Burn: {money(s.burn_per_day, c)} a day"
        + (f"; {money(s.left_per_day, c)} a day left to stay within" if s.left_per_day is not None else ""),
        "Thresholds: "
        + ", ".join(f"{t}%" for t in b.thresholds)
        + f"; crossed: {', '.join(f'{t}%' for t in s.thresholds_crossed) or 'none'}",
        f"Parent: {answer.parent or 'none'}",
        "Rollover: "
        + (
            "on" + (f", at most {money(b.rollover_cap, c)}" if b.rollover_cap is not None else "")
            if b.rollover
            else "off"
        ),
    ]
    if b.managed_by == budgets.CONFIG:
        lines.append("Declared in the config file (FINOPS_CONFIG): change it there.")
    if answer.rates_note:
        lines.append(f"Exchange rates: {answer.rates_note}")
    for line in lines:
        say(line)
    if history:
        say("Amendments:")
    for a in history:
        say(
            f"  {a.created_at:%Y-%m-%d %H:%M} UTC: {money(a.amount_before, a.currency)} -> "
            f"{money(a.amount_after, a.currency)} by {a.requested_by}"
            + (f", approved by {a.approved_by}" if a.approved_by and a.approved_by != a.requested_by else "")
            + (f" ({a.reason})" if a.reason else "")
        )


# set


@dataclass(frozen=True)
class SetRequest:
    """What `budget set` was given; None: not given (keep the stored budget's)."""

    name: str
    amount: str | None
    currency: str | None
    period: str | None
    scope: list[str] | None
    parent: str | None
    rollover: bool | None
    rollover_cap: str | None
    thresholds: str | None


@dataclass(frozen=True)
class SetOutcome:
    spec: BudgetSpec | None
    created: bool = False
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    warning: str | None = None


def _spec(request: SetRequest, stored: Budget | None, keep: BudgetSpec | None, today: date) -> SetOutcome:
    """The budget the options describe on top of the stored one, or the errors by field."""
    spec, errors = budgetspec.validate(
        name=stored.name if stored else request.name,
        amount=request.amount if request.amount is not None else (format(keep.amount, "f") if keep else ""),
        currency=request.currency or (keep.currency if keep else "USD"),
        period=request.period or (keep.period if keep else "monthly"),
        scope=request.scope or [],
        thresholds=request.thresholds
        or ", ".join(str(t) for t in (keep.thresholds if keep else DEFAULT_THRESHOLDS)),
        today=today,
        parent=request.parent,
        rollover=request.rollover,
        rollover_cap=request.rollover_cap,
        keep=keep,
    )
    if keep is None and request.amount is None:
        errors["amount"] = "A new budget needs an amount: --amount N, e.g. --amount 25000."
    if spec is None or errors:
        return SetOutcome(None, errors=errors)
    if request.scope is None and keep is not None:
        spec = dataclasses.replace(spec, scope=keep.scope)
    return SetOutcome(spec)


async def _set(settings: Settings, request: SetRequest, today: date) -> SetOutcome:
    async with _store(settings) as engine, unit_of_work(engine) as session:
        stored = await budgets.find(session, request.name)
        keep = None
        if stored is not None:
            budgets.refuse_config(stored, "changed")
            parent = await session.get(Budget, stored.parent_id) if stored.parent_id else None
            keep = budgetspec.spec_of(stored, parent.name if parent else None)
        outcome = _spec(request, stored, keep, today)
        if outcome.spec is None:
            return outcome  # nothing written
        spec = outcome.spec
        _, created = await budgets.save(
            session, spec, actor=ACTOR, channel=ACTOR, original=stored.name if stored else None
        )
        fit = await budgets.allocation_of(session, spec, Rates(settings.rate_table()), today, spec.name)
        return SetOutcome(spec, created, warning=budgets.over_allocation(fit, spec))


def _option(field: str) -> str:
    return OPTION_OF.get(field, f"--{field.replace('_', '-')}")


def handle_set(
    name: Annotated[str, typer.Argument(help="The budget's name; an existing one is updated.")],
    amount: Annotated[
        str | None, typer.Option(help="The amount per period (needed for a new budget).")
    ] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code; default USD.")] = None,
    period: Annotated[str | None, typer.Option(help=f"{', '.join(PERIODS)}; default monthly.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="KEY=VALUE[,VALUE] (repeatable), e.g. team=payments or tag:app=checkout; all costs if none.",
        ),
    ] = None,
    parent: Annotated[str | None, typer.Option(help='The budget this one is part of ("" for none).')] = None,
    rollover: Annotated[
        bool | None, typer.Option("--rollover/--no-rollover", help="Carry what is left into the next period.")
    ] = None,
    rollover_cap: Annotated[str | None, typer.Option("--rollover-cap", help="The most carried over.")] = None,
    thresholds: Annotated[
        str | None, typer.Option(help="Alert thresholds in percent, e.g. 50,80,100.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Create a budget, or change one: what is not given is kept."""
    request = SetRequest(name, amount, currency, period, scope, parent, rollover, rollover_cap, thresholds)
    outcome = asyncio.run(_set(load_settings(), request, _today()))
    if outcome.spec is None:
        for field, message in outcome.errors.items():
            print(f"error: {_option(field)}: {message}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT)
    spec = outcome.spec
    if outcome.warning:
        print(f"warning: {outcome.warning}", file=sys.stderr)
    if as_json:
        emit_json(
            {
                "name": spec.name,
                "created": outcome.created,
                "amount": spec.amount,
                "currency": spec.currency,
                "period": spec.period,
                "scope": spec.scope,
                "thresholds": list(spec.thresholds),
                "parent": spec.parent,
                "rollover": spec.rollover,
                "rollover_cap": spec.rollover_cap,
                "warning": outcome.warning,
            }
        )
        return
    say(
        f"Budget {spec.name} {'created' if outcome.created else 'updated'}: "
        f"{money(spec.amount, spec.currency)} {spec.period}, "
        f"scope {budgetspec.scope_text(spec.scope) or 'all costs'}"
        + (f", under {spec.parent}" if spec.parent else "")
        + "."
    )


# delete


async def _delete(settings: Settings, name: str) -> str:
    async with _store(settings) as engine, unit_of_work(engine) as session:
        return (await budgets.delete(session, name, actor=ACTOR, channel=ACTOR)).name


def handle_delete(
    name: Annotated[str, typer.Argument(help="The budget's name (any case).")],
    as_json: Json = False,
) -> None:
    """Delete a budget (its alerts and history go with it; its children lose their parent)."""
    deleted = asyncio.run(_delete(load_settings(), name))
    if as_json:
        emit_json({"deleted": deleted})
    else:
        say(f"Budget {deleted} deleted.")


# status


async def _status(settings: Settings, name: str | None, day: date) -> list[BudgetAnswer]:
    async with _store(settings) as engine:
        if name is None:
            return await queries.budget_list(engine, settings, day)
        return [await queries.budget(engine, settings, name, day)]


def handle_status(
    name: Annotated[str | None, typer.Argument(help="One budget; all when not given.")] = None,
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """Where the budgets stand in their periods: spent, forecast and thresholds crossed."""
    day = as_of_day(as_of)
    answers = asyncio.run(_status(load_settings(), name, day))
    if as_json:
        emit_json([status_document(a) for a in answers])
        return
    if not answers:
        say("No budgets yet.")
    for a in answers:
        s, c = a.status, a.budget.currency
        crossed = ", ".join(f"{t}%" for t in s.thresholds_crossed) or "none"
        say(
            f"{a.budget.name} ({s.state}): {money(s.spent, c)} of {money(s.amount, c)} ({s.pct_spent}%) "
            f"{s.start} to {s.end}; forecast {_forecast_text(a)}; thresholds crossed: {crossed}"
            + (f"; part of {a.parent}" if a.parent else "")
        )
        if a.rates_note:
            say(f"  {a.rates_note}")


# report


def _row(report: variance.VarianceReport, row: Variance) -> dict[str, str]:
    return {
        "period": report.period.label,
        "budget": row.name,
        "cost_center": row.cost_center or "",
        "currency": row.currency,
        "budget_amount": format(row.budget, ".2f"),
        "actual": format(row.actual, ".2f"),
        "variance": format(row.variance, ".2f"),
        "variance_pct": "" if row.variance_pct is None else format(row.variance_pct, "f"),
    }


async def _report(
    settings: Settings, period: variance.ReportPeriod, by: str, currency: str
) -> variance.VarianceReport:
    async with _store(settings) as engine:
        if by == "budget":
            return await variance.budget_variance(engine, period, settings.rate_table())
        return await variance.cost_center_variance(engine, period, settings.rate_table(), currency)


def handle_report(
    period: Annotated[str, typer.Option("--period", help="YYYY-MM, YYYY-Qn or YYYY, e.g. 2026-10.")],
    by: Annotated[str, typer.Option("--by", help="budget, or cost-center (chargeback).")] = "budget",
    currency: Annotated[
        str | None, typer.Option(help="The one currency of --by cost-center; default USD.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
) -> None:
    """Budget against actual for a month, quarter or year (positive variance: under budget)."""
    by = by.replace("_", "-").lower()
    if by not in ("budget", "cost-center"):
        raise typer.BadParameter(f"{by!r} is not a grouping; use budget or cost-center")
    fmt = "json" if as_json else fmt
    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter(f"{fmt!r} is not a format; use table, csv or json")
    if currency is not None and by == "budget":
        raise typer.BadParameter(
            "--currency is for --by cost-center; a budget's report is in its own currency"
        )
    code = (currency or "USD").strip().upper()
    if not is_currency(code):
        raise typer.BadParameter(f"{currency!r} is not an ISO 4217 currency code, e.g. USD or EUR")
    asked = variance.report_period(period)
    report = asyncio.run(_report(load_settings(), asked, by, code))
    rows = [_row(report, r) for r in report.rows]
    if fmt == "json":
        emit_json(
            {
                "period": asked.label,
                "start": asked.start,
                "end": asked.end,
                "by": report.by,
                "currency": report.currency,
                "rows": rows,
                "notes": report.notes,
            }
        )
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        for note in report.notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        _print_report(report, rows)


def _print_report(report: variance.VarianceReport, rows: list[dict[str, str]]) -> None:
    p = report.period
    what = "by cost center" if report.by == "cost-center" else "by budget"
    table = Table(
        title=f"Budget vs actual {what}, {p.label} ({p.start} to {p.end})",
        caption="Variance: budget minus actual (positive: under budget).",
    )
    for column in ("Cost center", "Budgets") if report.by == "cost-center" else ("Budget", "Cost center"):
        table.add_column(column, overflow="fold")
    table.add_column("Cur.")
    for column in ("Budget", "Actual", "Variance", "Variance %"):
        table.add_column(column, justify="right")
    for r in rows:
        first = (
            (r["cost_center"], r["budget"]) if report.by == "cost-center" else (r["budget"], r["cost_center"])
        )
        pct = f"{r['variance_pct']}%" if r["variance_pct"] else ""
        cells = (*first, r["currency"], r["budget_amount"], r["actual"], r["variance"], pct)
        table.add_row(*(escape(cell) for cell in cells))
    if rows:
        console.print(table)
    else:
        say(f"No budgets and no costs {what} in {p.label}.")
    for note in report.notes:
        say(f"Exchange rates: {note}")


def register(app: typer.Typer) -> None:
    budget_app.command("list")(handle_list)
    budget_app.command("show")(handle_show)
    budget_app.command("set")(handle_set)
    budget_app.command("delete")(handle_delete)
    budget_app.command("status")(handle_status)
    budget_app.command("report")(handle_report)
    app.add_typer(budget_app, name="budget")
