"""`finops-bot reconcile`: stored costs against the source files and the invoice."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.errors import EXIT_CHECK_FAILED
from bot.settings import load_settings
from commands.cli.output import console, emit_json
from finops.reconcile import (
    DEFAULT_TOLERANCE_PCT,
    Group,
    GroupKey,
    failed,
    parse_period,
    read_invoice,
    reconcile,
)
from storage.costs import source_totals, stored_totals
from storage.db import check, connect, unit_of_work


def handle_reconcile(
    period: Annotated[str | None, typer.Option(help="Only this billing period, YYYY-MM.")] = None,
    invoice: Annotated[
        Path | None,
        typer.Option(help="CSV of invoice totals: provider, billing_account, period, currency, amount."),
    ] = None,
    tolerance: Annotated[str, typer.Option(help="Largest allowed variance, in percent.")] = str(
        DEFAULT_TOLERANCE_PCT
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Check stored costs against the source files and an invoice; exit 1 when a group is off.

    Groups are provider x billing account x billing period x currency.
    """
    try:
        tolerance_pct = Decimal(tolerance)
    except InvalidOperation:
        raise typer.BadParameter(f"{tolerance!r} is not a number", param_hint="--tolerance") from None
    if not tolerance_pct.is_finite() or tolerance_pct < 0:
        raise typer.BadParameter("give a percentage of 0 or more", param_hint="--tolerance")
    start = parse_period(period) if period else None
    invoiced = read_invoice(invoice) if invoice else None
    settings = load_settings()
    stored, source = asyncio.run(_totals(settings.database_url, start))
    groups = reconcile(stored, source, invoiced, tolerance_pct)
    if as_json:
        emit_json(groups)
    else:
        _print(groups, tolerance_pct)
    if failed(groups):
        raise typer.Exit(EXIT_CHECK_FAILED)


async def _totals(url: str, start: date | None) -> tuple[dict[GroupKey, Decimal], dict[GroupKey, Decimal]]:
    engine = connect(url)
    try:
        await check(engine)
        async with unit_of_work(engine) as session:
            return await stored_totals(session, start), await source_totals(session, start)
    finally:
        await engine.dispose()


def _pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}%"


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.quantize(Decimal('0.01')):,}"


def _print(groups: list[Group], tolerance_pct: Decimal) -> None:
    if not groups:
        console.print(
            "Nothing is stored for that period yet; load billing data first (`finops-bot demo` does)."
        )
        return
    with_invoice = any(g.invoice is not None for g in groups)
    table = Table(title=f"Reconciliation, tolerance ±{tolerance_pct}%")
    table.add_column("Provider")
    table.add_column("Account", overflow="fold")
    for column in ("Period", "Cur", "Stored", "Files", *(("Invoice",) if with_invoice else ()), "Var", ""):
        table.add_column(column, no_wrap=True, justify="left" if column in ("Period", "Cur", "") else "right")
    for g in groups:
        table.add_row(
            g.provider,
            g.billing_account,
            g.period,
            g.currency,
            _amount(g.stored),
            _amount(g.source),
            *((_amount(g.invoice),) if with_invoice else ()),
            _pct(g.variance_pct),
            "ok" if g.ok else "[bold red]OFF[/bold red]",
        )
    console.print(table)
    off = failed(groups)
    console.print(f"{len(groups) - len(off)} of {len(groups)} groups within ±{tolerance_pct}%")


def register(app: typer.Typer) -> None:
    app.command("reconcile")(handle_reconcile)
