"""The gcp-export connector on recorded-shape exports (JSON lines and CSV), loaded for real.

Expected totals are worked out here from the raw files with json/csv and Decimal, not with the
connector's code, so the load reconciles to 0.00% against the file itself.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from finops import connectors, normalise, sources
from finops.errors import UserError
from jobs.ingest import ingest, read_source
from storage.costs import source_totals, stored_totals
from storage.db import unit_of_work
from storage.models import CostDaily

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcp"
STANDARD = FIXTURES / "standard-2026-10.jsonl"
DETAILED = FIXTURES / "detailed-eur-2026-10.jsonl"
FLATTENED = FIXTURES / "standard-2026-10.csv"
USD_ACCOUNT = "01A2B3-C4D5E6-F7A8B9"
EUR_ACCOUNT = "0F1E2D-3C4B5A-69788F"
OCTOBER, SEPTEMBER = date(2026, 10, 1), date(2026, 9, 1)

Totals = dict[tuple[str, str, date, str], Decimal]


def _invoice_day(month: str) -> date:
    return date(int(month[:4]), int(month[4:]), 1)


def _add(
    totals: defaultdict[Any, Decimal], account: str, month: str, currency: str, cost: Decimal, credits: Any
) -> None:
    net = cost + sum((Decimal(str(c["amount"])) for c in credits or []), Decimal(0))
    totals[("gcp", account, _invoice_day(month), currency)] += net


def expected_jsonl(path: Path) -> Totals:
    totals: defaultdict[Any, Decimal] = defaultdict(Decimal)
    for line in path.read_text().splitlines():
        row = json.loads(line, parse_float=Decimal)
        _add(
            totals,
            row["billing_account_id"],
            row["invoice"]["month"],
            row["currency"],
            row["cost"],
            row["credits"],
        )
    return dict(totals)


def expected_csv(path: Path) -> Totals:
    totals: defaultdict[Any, Decimal] = defaultdict(Decimal)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            credits = json.loads(row["credits"] or "[]", parse_float=Decimal)
            _add(
                totals,
                row["billing_account_id"],
                row["invoice.month"],
                row["currency"],
                Decimal(row["cost"]),
                credits,
            )
    return dict(totals)


async def _stored(engine: AsyncEngine) -> tuple[Totals, Totals]:
    async with unit_of_work(engine) as session:
        return await stored_totals(session), await source_totals(session)


async def _sums(engine: AsyncEngine, column: Any, period: date = OCTOBER) -> dict[Any, Decimal]:
    async with unit_of_work(engine) as session:
        rows = await session.execute(
            select(column, func.sum(CostDaily.billed_cost))
            .where(CostDaily.billing_period_start == period, CostDaily.billing_account == USD_ACCOUNT)
            .group_by(column)
        )
        return {key: Decimal(total) for key, total in rows.tuples()}


async def test_standard_export_reconciles_by_invoice_month(engine: AsyncEngine) -> None:
    result = await ingest(engine, str(STANDARD))
    assert (result.format, result.rows_read) == ("gcp-export", 14)
    expected = expected_jsonl(STANDARD)
    assert expected == {
        ("gcp", USD_ACCOUNT, OCTOBER, "USD"): Decimal("175.351247"),  # cost net of credits
        ("gcp", USD_ACCOUNT, SEPTEMBER, "USD"): Decimal("42.30"),
    }
    stored, raw = await _stored(engine)
    assert stored == expected
    assert raw == expected
    assert await _sums(engine, CostDaily.charge_category) == {
        "Usage": Decimal("185.477247"),
        "Tax": Decimal("14.87"),
        "Adjustment": Decimal("-24.996"),  # a refund and a rounding error
    }
    # Labels of the row win over its project's; a project's team covers rows without one.
    assert await _sums(engine, CostDaily.team) == {
        "web": Decimal("37.987654"),
        "search": Decimal("120"),
        "data": Decimal("0.0413"),
        "analytics": Decimal("0"),
        "platform": Decimal("2.448293"),
        None: Decimal("14.874"),
    }
    categories = await _sums(engine, CostDaily.service_category)
    assert set(categories) == {"Compute", "Storage", "Databases", "Networking", "Other"}


async def test_late_usage_belongs_to_its_invoice_month(engine: AsyncEngine) -> None:
    await ingest(engine, str(STANDARD))
    async with unit_of_work(engine) as session:
        rows = await session.execute(
            select(CostDaily.billing_period_start, CostDaily.service, CostDaily.billed_cost).where(
                CostDaily.usage_date == date(2026, 9, 30)
            )
        )
        assert [tuple(row) for row in rows] == [(OCTOBER, "Kubernetes Engine", Decimal("2.448281"))]


async def test_detailed_export_in_euro(engine: AsyncEngine) -> None:
    await ingest(engine, str(DETAILED))
    expected = expected_jsonl(DETAILED)
    assert expected == {
        ("gcp", EUR_ACCOUNT, OCTOBER, "EUR"): Decimal("0.912277"),
        ("gcp", EUR_ACCOUNT, SEPTEMBER, "EUR"): Decimal("0.019716"),
    }
    assert await _stored(engine) == (expected, expected)
    async with unit_of_work(engine) as session:
        rows = await session.execute(
            select(
                CostDaily.service, CostDaily.service_category, CostDaily.region, CostDaily.sub_account
            ).where(CostDaily.service == "Vertex AI")
        )
        assert [tuple(row) for row in rows] == [
            ("Vertex AI", "AI and Machine Learning", "europe-west4", "ml-research-77c2")
        ]


async def test_folder_of_both_exports_and_currencies(engine: AsyncEngine, tmp_path: Path) -> None:
    folder = tmp_path / "gcp"
    folder.mkdir()
    (folder / STANDARD.name).write_bytes(STANDARD.read_bytes())
    (folder / (DETAILED.name + ".gz")).write_bytes(gzip.compress(DETAILED.read_bytes()))
    result = await ingest(engine, str(folder))
    assert (result.files, result.rows_read) == (2, 20)
    expected = expected_jsonl(STANDARD) | expected_jsonl(DETAILED)
    assert await _stored(engine) == (expected, expected)
    assert (await ingest(engine, str(folder))).load.skipped


async def test_flattened_csv_reads_like_the_json_lines(engine: AsyncEngine) -> None:
    result = await ingest(engine, str(FLATTENED))
    assert result.format == "gcp-export"
    expected = expected_csv(FLATTENED)
    assert expected == expected_jsonl(STANDARD)
    assert await _stored(engine) == (expected, expected)
    assert await _sums(engine, CostDaily.team) == {
        "web": Decimal("37.987654"),
        "search": Decimal("120"),
        "data": Decimal("0.0413"),
        "analytics": Decimal("0"),
        "platform": Decimal("2.448293"),
        None: Decimal("14.874"),
    }


def _read(path: Path, fmt: str = "auto") -> tuple[Totals, int]:
    read = read_source(sources.expand(str(path)), fmt, normalise.DEFAULT_TAG_ALIASES)
    totals = {
        (t.provider, t.billing_account, t.billing_period_start, t.currency): t.billed_cost
        for t in read.totals
    }
    return totals, read.rows


def test_underscored_csv_names_and_small_batches(tmp_path: Path) -> None:
    header, rest = FLATTENED.read_text().split("\n", 1)
    underscored = tmp_path / "query-result.csv"
    underscored.write_text(header.replace(".", "_") + "\n" + rest + "\n")  # and a blank line
    assert _read(underscored) == (expected_jsonl(STANDARD), 14)

    connector = connectors.get("gcp-export")
    [file] = sources.expand(str(STANDARD))
    batches = list(connector.batches(file, batch_rows=4))
    assert [batch.num_rows for batch in batches] == [4, 4, 4, 2]


@pytest.mark.parametrize(
    ("columns", "gcp"),
    [
        (
            ["billing_account_id", "service", "sku", "cost", "currency", "credits", "invoice", "cost_type"],
            True,
        ),
        (["billing_account_id", "service.description", "cost", "currency", "invoice.month"], True),
        (["\ufeffbilling_account_id", "service_description", "cost", "currency", "invoice_month"], True),
        (["BillingAccountId", "BillingCurrency", "BilledCost", "ChargePeriodStart", "ProviderName"], False),
        (
            [
                "identity/LineItemId",
                "lineItem/UnblendedCost",
                "lineItem/CurrencyCode",
                "bill/BillingPeriodStartDate",
            ],
            False,
        ),
        (["line_item_unblended_cost", "line_item_currency_code", "bill_payer_account_id"], False),
        (["billingAccountId", "costInBillingCurrency", "billingCurrency", "date", "Cost"], False),
    ],
)
def test_sniff(columns: list[str], gcp: bool) -> None:
    assert connectors.get("gcp-export").sniff(columns) is gcp


def _jsonl_with(tmp_path: Path, line: int, edit: Any) -> Path:
    rows = [json.loads(text) for text in STANDARD.read_text().splitlines()]
    edit(rows[line - 1])
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _set(key: str, value: Any) -> Any:
    return lambda row: row.__setitem__(key, value)


@pytest.mark.parametrize(
    ("line", "edit", "message"),
    [
        (3, _set("cost", "12,50"), r"bad\.jsonl, line 3, cost: '12,50' is not a number"),
        (
            2,
            _set("credits", [{"name": "x", "amount": "free"}]),
            r"line 2, credits\.amount: 'free' is not a number",
        ),
        (4, lambda row: row.pop("invoice"), r"line 4: invoice\.month is missing"),
        (
            5,
            _set("invoice", {"month": "2026-10"}),
            r"line 5, invoice\.month: '2026-10' is not a month like 202610",
        ),
        (
            6,
            _set("usage_start_time", "last tuesday"),
            r"line 6, usage_start_time: 'last tuesday' is not a date-time",
        ),
        (7, _set("labels", "team=web"), r"line 7, labels: not valid JSON"),
        (8, _set("currency", "US$"), r"bad\.jsonl, row 8, column BillingCurrency: 'US\$' is not an ISO 4217"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path: Path, line: int, edit: Any, message: str) -> None:
    with pytest.raises(UserError, match=message):
        _read(_jsonl_with(tmp_path, line, edit))


def test_broken_files(tmp_path: Path) -> None:
    lines = STANDARD.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], lines[1][:-20], *lines[2:]]) + "\n")
    with pytest.raises(UserError, match=r"broken\.jsonl, line 2: not a JSON object"):
        _read(broken)
    header, rest = FLATTENED.read_text().split("\n", 1)
    no_month = tmp_path / "no-month.csv"
    no_month.write_text(header.replace("invoice.month", "invoice_date") + "\n" + rest)
    with pytest.raises(
        UserError, match=r"no-month\.csv lacks the Google Cloud billing export column\(s\) invoice\.month"
    ):
        _read(no_month, fmt="gcp-export")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(header + "\n" + rest.splitlines()[0] + ",extra\n")
    with pytest.raises(UserError, match=r"ragged\.csv, row 1: 27 fields where the header has 26"):
        _read(ragged)
