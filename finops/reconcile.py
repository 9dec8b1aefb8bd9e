"""Reconciliation: what we stored against what the source files and the invoice said.

Groups are provider x billing account x billing period x currency, always by billing period
(never by charge date: late charges of a period still belong to its invoice).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from finops.errors import UserError
from finops.focus import normalise_provider

DEFAULT_TOLERANCE_PCT = Decimal(3)
INVOICE_COLUMNS = ("provider", "billing_account", "period", "currency", "amount")

GroupKey = tuple[str, str, date, str]  # provider, billing account, period start, currency


@dataclass(frozen=True)
class Group:
    provider: str
    billing_account: str
    period: str  # YYYY-MM
    currency: str
    stored: Decimal
    source: Decimal | None
    invoice: Decimal | None
    variance: Decimal | None
    variance_pct: Decimal | None
    ok: bool


def period_label(start: date) -> str:
    return f"{start.year:04d}-{start.month:02d}"


def parse_period(value: str) -> date:
    """`YYYY-MM` -> the first day of that month."""
    try:
        year, month = value.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise UserError(f"period {value!r} is not of the form YYYY-MM (e.g. 2026-10)") from None


def percent(variance: Decimal, reference: Decimal) -> Decimal | None:
    if reference == 0:
        return Decimal(0) if variance == 0 else None
    return (variance / reference * 100).quantize(Decimal("0.01"))


def _within(stored: Decimal, reference: Decimal | None, tolerance_pct: Decimal) -> bool:
    if reference is None:
        return True
    pct = percent(stored - reference, reference)
    return pct is not None and abs(pct) <= tolerance_pct


def reconcile(
    stored: Mapping[GroupKey, Decimal],
    source: Mapping[GroupKey, Decimal],
    invoice: Mapping[GroupKey, Decimal] | None = None,
    tolerance_pct: Decimal = DEFAULT_TOLERANCE_PCT,
) -> list[Group]:
    """One `Group` per key seen anywhere. The variance is stored minus the invoice where the
    invoice has the group, else stored minus the source files' raw total; a group is `ok` when it
    is within the tolerance of every reference it has."""
    invoice = invoice or {}
    groups = []
    for key in sorted(set(stored) | set(source) | set(invoice)):
        provider, account, period, currency = key
        amount = stored.get(key, Decimal(0))
        raw = source.get(key)
        billed = invoice.get(key)
        reference = billed if billed is not None else raw
        variance = None if reference is None else amount - reference
        groups.append(
            Group(
                provider=provider,
                billing_account=account,
                period=period_label(period),
                currency=currency,
                stored=amount,
                source=raw,
                invoice=billed,
                variance=variance,
                variance_pct=None if variance is None or reference is None else percent(variance, reference),
                ok=reference is not None
                and _within(amount, raw, tolerance_pct)
                and _within(amount, billed, tolerance_pct),
            )
        )
    return groups


def read_invoice(path: Path) -> dict[GroupKey, Decimal]:
    """Invoice totals from a CSV with the columns provider, billing_account, period, currency, amount."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read the invoice file {path}: {exc.strerror}") from exc
    totals: dict[GroupKey, Decimal] = {}
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in INVOICE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(
                f"invoice file {path} lacks the column(s) {', '.join(missing)}; "
                f"it needs a header row with {', '.join(INVOICE_COLUMNS)}"
            )
        for line, row in enumerate(reader, start=2):
            key, amount = _invoice_row(path, line, row)
            totals[key] = totals.get(key, Decimal(0)) + amount
    return totals


def _invoice_row(path: Path, line: int, row: Mapping[str, str]) -> tuple[GroupKey, Decimal]:
    where = f"invoice file {path}, line {line}"
    try:
        amount = Decimal(row["amount"].strip().replace(",", ""))
    except InvalidOperation:
        raise UserError(f"{where}: amount {row['amount']!r} is not a number") from None
    currency = row["currency"].strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise UserError(f"{where}: currency {row['currency']!r} is not an ISO 4217 code such as USD")
    try:
        period = parse_period(row["period"].strip())
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    account = row["billing_account"].strip()
    if not account:
        raise UserError(f"{where}: billing_account is empty")
    return (normalise_provider(row["provider"]), account, period, currency), amount


def failed(groups: Iterable[Group]) -> list[Group]:
    return [group for group in groups if not group.ok]
