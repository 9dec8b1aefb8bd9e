"""The aws-cur connector: legacy CUR CSV and CUR 2.0 Parquet, through the real loader, reconciled
against sums taken straight from the raw files; delivery manifests decide what is read."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from finops import connectors, sources
from finops.connectors import aws_cur
from finops.errors import UserError
from jobs.ingest import ingest
from storage.costs import source_totals, stored_totals
from storage.db import unit_of_work
from storage.models import CostDaily, IngestionRun

FIXTURE = Path(__file__).parents[1] / "fixtures" / "aws" / "cur-legacy-2026-10.csv"
OCTOBER = date(2026, 10, 1)
NANO = Decimal("0.000000001")
CENT = Decimal("0.01")


def _rows(path: Path = FIXTURE) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _bill(rows: list[dict[str, str]]) -> dict[tuple[str, str, date, str], Decimal]:
    """What the raw CUR says each payer owes: the sum of lineItem/UnblendedCost, per currency."""
    totals: dict[tuple[str, str, date, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        period = date.fromisoformat(row["bill/BillingPeriodStartDate"][:10])
        key = ("aws", row["bill/PayerAccountId"], period, row["lineItem/CurrencyCode"])
        totals[key] += Decimal(row["lineItem/UnblendedCost"]).quantize(NANO, ROUND_HALF_EVEN)
    return dict(totals)


def _cents(totals: dict[tuple[str, str, date, str], Decimal]) -> dict[tuple[str, str, date, str], Decimal]:
    return {key: value.quantize(CENT, ROUND_HALF_EVEN) for key, value in totals.items()}


async def _stored(engine: AsyncEngine) -> dict[tuple[str, str, date, str], Decimal]:
    """Stored BilledCost to the cent (`cost_daily` keeps six decimals a row)."""
    async with unit_of_work(engine) as session:
        return _cents({key: Decimal(value) for key, value in (await stored_totals(session)).items()})


def _c(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, ROUND_HALF_EVEN)


async def _by(engine: AsyncEngine, column: str, money: str = "billed_cost") -> dict[str, Decimal]:
    """Stored cost per value of `column`, to the cent."""
    async with unit_of_work(engine) as session:
        rows = await session.execute(
            select(getattr(CostDaily, column), func.sum(getattr(CostDaily, money))).group_by(
                getattr(CostDaily, column)
            )
        )
        return {key: Decimal(value).quantize(CENT, ROUND_HALF_EVEN) for key, value in rows.tuples()}


def _write_csv(rows: list[dict[str, str]], path: Path, gzipped: bool = False) -> Path:
    """The rows as CSV; gzipped with a fixed header time, so that the same rows are the same bytes
    whenever they are written (gzip records the second it was written otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    data = text.getvalue().encode()
    path.write_bytes(gzip.compress(data, mtime=0) if gzipped else data)
    return path


def _cur2(rows: list[dict[str, str]]) -> pa.Table:
    """The same bill as a CUR 2.0 Parquet export: snake_case names, doubles, timestamps, maps."""

    def column(name: str) -> list[str | None]:
        return [row[name] or None for row in rows]

    def amounts(name: str) -> pa.Array:
        return pa.array([float(v) if v else None for v in column(name)], pa.float64())

    def times(name: str) -> pa.Array:
        return pa.array([v[:19] if v else None for v in column(name)]).cast(pa.timestamp("ms"))

    tags = [
        [
            (f"{key.split(':')[0]}_{key.split(':')[1]}", row[f"resourceTags/{key}"])
            for key in ("user:team", "user:cost-center", "aws:createdBy")
            if row[f"resourceTags/{key}"]
        ]
        for row in rows
    ]
    product = [[("product_name", row["product/ProductName"])] for row in rows]
    text = pa.map_(pa.string(), pa.string())
    return pa.table(
        {
            "identity_line_item_id": column("identity/LineItemId"),
            "bill_payer_account_id": column("bill/PayerAccountId"),
            "bill_billing_period_start_date": times("bill/BillingPeriodStartDate"),
            "line_item_usage_account_id": column("lineItem/UsageAccountId"),
            "line_item_line_item_type": column("lineItem/LineItemType"),
            "line_item_usage_start_date": times("lineItem/UsageStartDate"),
            "line_item_usage_end_date": times("lineItem/UsageEndDate"),
            "line_item_product_code": column("lineItem/ProductCode"),
            "line_item_resource_id": column("lineItem/ResourceId"),
            "line_item_currency_code": column("lineItem/CurrencyCode"),
            "line_item_unblended_cost": amounts("lineItem/UnblendedCost"),
            "product_region_code": column("product/region"),
            "product": pa.array(product, text),
            "pricing_public_on_demand_cost": amounts("pricing/publicOnDemandCost"),
            "reservation_effective_cost": amounts("reservation/EffectiveCost"),
            "reservation_reservation_a_r_n": column("reservation/ReservationARN"),
            "reservation_unused_amortized_upfront_fee_for_billing_period": amounts(
                "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod"
            ),
            "reservation_unused_recurring_fee": amounts("reservation/UnusedRecurringFee"),
            "savings_plan_savings_plan_effective_cost": amounts("savingsPlan/SavingsPlanEffectiveCost"),
            "savings_plan_total_commitment_to_date": amounts("savingsPlan/TotalCommitmentToDate"),
            "savings_plan_used_commitment": amounts("savingsPlan/UsedCommitment"),
            "resource_tags": pa.array(tags, text),
        }
    )


async def test_legacy_cur_reconciles_to_the_cent_with_the_raw_file(engine: AsyncEngine) -> None:
    result = await ingest(engine, str(FIXTURE))
    assert result.format == "aws-cur"
    assert result.rows_read == 18
    expected = _bill(_rows())
    assert set(expected) == {
        ("aws", "111111111111", OCTOBER, "USD"),
        ("aws", "555555555555", OCTOBER, "INR"),
    }
    assert await _stored(engine) == _cents(expected)  # 0.00% against the raw file
    async with unit_of_work(engine) as session:
        assert _cents({k: Decimal(v) for k, v in (await source_totals(session)).items()}) == _cents(expected)
    seen = {
        (t.provider, t.billing_account, t.billing_period_start, t.currency): t.billed_cost
        for t in result.totals
    }
    assert seen == expected  # what the load read, to the nano-dollar


async def test_line_item_types_become_focus_charge_categories(engine: AsyncEngine) -> None:
    await ingest(engine, str(FIXTURE))
    assert await _by(engine, "charge_category") == {
        # usage, covered usage (0), Savings Plan covered usage and its negation, marketplace, Sept. RDS
        "Usage": _c(Decimal("0.192") + Decimal("1.187096774") + Decimal("150.26") + Decimal("83.76")),
        "Purchase": _c(Decimal("44.64") + Decimal("500") + Decimal("74.4")),  # RI fee, RI upfront, SP fee
        "Tax": _c(Decimal("18.33") + Decimal("15.0768")),
        "Credit": _c(Decimal("-25") - Decimal("10") - Decimal("12.3456789") - Decimal("0.09")),
    }


async def test_effective_cost_is_awss_amortised_cost(engine: AsyncEngine) -> None:
    await ingest(engine, str(FIXTURE))
    effective = await _by(engine, "charge_category", "effective_cost")
    # RI: covered hour at its effective 0.124, fee's unused part 1 + 4.464, upfront fee 0;
    # Savings Plan: covered usage at 0.28, negation 0, recurring fee's unused 74.40 - 72.25.
    assert effective["Purchase"] == _c(Decimal("5.464") + Decimal("2.15"))
    assert effective["Usage"] == _c(
        Decimal("0.192") + Decimal("1.187096774") + Decimal("0.124") + Decimal("0.28") + Decimal("234.02")
    )


async def test_tags_services_regions_and_late_usage(engine: AsyncEngine) -> None:
    await ingest(engine, str(FIXTURE))
    teams = await _by(engine, "team")
    assert teams["payments"] == _c(Decimal("0.192") + Decimal("0.4000008") - Decimal("0.4000008") + 150)
    assert teams["platform"] == Decimal("83.76")
    assert (await _by(engine, "cost_center"))["CC-200"] == Decimal("44.64")
    services = await _by(engine, "service")
    assert services["Datadog Pro (Pay as you go)"] == Decimal("150")  # marketplace, by its product name
    assert (await _by(engine, "region"))["ap-south-1"] == Decimal("83.76")
    async with unit_of_work(engine) as session:
        late = await session.execute(
            select(CostDaily.usage_date, CostDaily.billing_period_start).where(
                CostDaily.service == "Amazon Relational Database Service"
            )
        )
        assert late.tuples().all() == [(date(2026, 9, 30), OCTOBER)]  # September usage, October bill


async def test_cur2_parquet_stores_the_same_bill_as_the_legacy_csv(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = tmp_path / "cur2-00001.snappy.parquet"
    pq.write_table(_cur2(_rows()), path)
    result = await ingest(engine, str(path))
    assert result.format == "aws-cur"
    assert await _stored(engine) == _cents(_bill(_rows()))
    assert (await _by(engine, "team"))["data"] == Decimal("44.64") + Decimal("0.26")
    assert (await _by(engine, "charge_category", "effective_cost"))["Purchase"] == Decimal("7.61")
    assert "Amazon Simple Storage Service" in await _by(engine, "service")


def _legacy_delivery(
    root: Path, assembly: str, parts: list[list[dict[str, str]]], report: str = "finops"
) -> dict[str, Any]:
    """One delivery of a legacy CUR: gzipped parts in the assembly's folder, its manifest there and
    (as AWS does) the period folder's manifest rewritten to name it."""
    period = root / "cur" / report / "20261001-20261101"
    keys = []
    for number, rows in enumerate(parts, 1):
        key = f"cur/{report}/20261001-20261101/{assembly}/{report}-{number:05d}.csv.gz"
        _write_csv(rows, root / key, gzipped=True)
        keys.append(key)
    manifest = {
        "assemblyId": assembly,
        "account": "111111111111",
        "reportName": report,
        "bucket": "billing",
        "billingPeriod": {"start": "20261001T000000.000Z", "end": "20261101T000000.000Z"},
        "reportKeys": keys,
        "compression": "GZIP",
    }
    for folder in (period / assembly, period):
        (folder / f"{report}-Manifest.json").write_text(json.dumps(manifest))
    return manifest


async def test_a_newer_delivery_replaces_the_older_and_an_unchanged_one_is_a_no_op(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    rows = _rows()
    _legacy_delivery(tmp_path, "aaaa-1111", [rows[:5]])  # an early delivery of October: five lines
    first = await ingest(engine, str(tmp_path))
    assert first.rows_read == 5
    assert await _stored(engine) == _cents(_bill(rows[:5]))

    _legacy_delivery(tmp_path, "bbbb-2222", [rows[:9], rows[9:]])  # the full month, in two parts
    second = await ingest(engine, str(tmp_path))
    assert (second.files, second.rows_read) == (2, 18)  # the old assembly's file is not read
    assert await _stored(engine) == _cents(_bill(rows))  # replaced, not added

    again = await ingest(engine, str(tmp_path))
    assert again.load.skipped
    assert await _stored(engine) == _cents(_bill(rows))

    # AWS re-delivers the same data under a new assemblyId: the same content is still a no-op.
    _legacy_delivery(tmp_path, "cccc-3333", [rows[:9], rows[9:]])
    assert (await ingest(engine, str(tmp_path))).load.skipped

    restated = [dict(row) for row in rows]
    restated[0]["lineItem/UnblendedCost"] = "1.0000000000"  # a restated line
    _legacy_delivery(tmp_path, "dddd-4444", [restated])
    await ingest(engine, str(tmp_path))
    assert await _stored(engine) == _cents(_bill(restated))
    async with unit_of_work(engine) as session:
        statuses = (await session.execute(select(IngestionRun.status))).scalars().all()
    assert sorted(statuses).count("succeeded") == 2  # one current run per payer and currency


def _upload(s3: Any, folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), "billing", str(path.relative_to(folder)))


async def test_cur_delivered_to_s3_follows_the_manifest(
    aws: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    rows = _rows()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="billing")
    _legacy_delivery(tmp_path, "aaaa-1111", [rows[:5]])
    _legacy_delivery(tmp_path, "bbbb-2222", [rows[:9], rows[9:]])
    _upload(s3, tmp_path)
    result = await ingest(engine, "s3://billing/cur/")
    assert (result.files, result.rows_read) == (2, 18)
    assert await _stored(engine) == _cents(_bill(rows))
    assert (await ingest(engine, "s3://billing/cur/")).load.skipped


def test_cur2_data_exports_manifest_names_the_files(tmp_path: Path) -> None:
    export = tmp_path / "exports" / "cur2"
    data = export / "data" / "BILLING_PERIOD=2026-10"
    data.mkdir(parents=True)
    pq.write_table(_cur2(_rows()), data / "cur2-00001.snappy.parquet")
    pq.write_table(_cur2(_rows()[:2]), data / "cur2-stale.snappy.parquet")  # not in the manifest
    (tmp_path / "other.csv").write_text("unrelated,file\n")  # outside the export: left alone
    manifest = export / "metadata" / "BILLING_PERIOD=2026-10" / "cur2-Manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "executionId": "exec-42",
                "billingPeriod": {"start": "2026-10-01T00:00:00.000Z", "end": "2026-11-01T00:00:00.000Z"},
                "dataFiles": [
                    "s3://billing/exports/cur2/data/BILLING_PERIOD=2026-10/cur2-00001.snappy.parquet"
                ],
            }
        )
    )
    chosen = connectors.select(sources.expand(str(tmp_path)))
    assert [Path(f.location).name for f in chosen] == ["cur2-00001.snappy.parquet", "other.csv"]


def test_a_manifest_naming_a_missing_file_is_refused(tmp_path: Path) -> None:
    manifest = _legacy_delivery(tmp_path, "aaaa-1111", [_rows()[:3]])
    os.remove(tmp_path / str(manifest["reportKeys"][0]))
    with pytest.raises(
        UserError, match=r"finops-Manifest\.json names .*finops-00001\.csv\.gz, which is not there"
    ):
        connectors.select(sources.expand(str(tmp_path)))


def test_bad_cur_files_name_the_file_and_the_problem(tmp_path: Path) -> None:
    rows = _rows()
    broken = [dict(row) for row in rows]
    broken[3]["lineItem/UnblendedCost"] = "12,5"
    path = _write_csv(broken, tmp_path / "bad" / "cur.csv")
    with pytest.raises(
        UserError, match=r"cur\.csv, row 4, column lineItem/UnblendedCost: '12,5' is not a number"
    ):
        list(aws_cur.AwsCurConnector().batches(sources.expand(str(path))[0]))

    lacking = [{k: v for k, v in row.items() if k != "lineItem/CurrencyCode"} for row in rows]
    path = _write_csv(lacking, tmp_path / "lacking" / "cur.csv")
    with pytest.raises(UserError, match=r"cur\.csv lacks the CUR column\(s\) lineItem/CurrencyCode"):
        list(aws_cur.AwsCurConnector().batches(sources.expand(str(path))[0]))

    manifest = tmp_path / "m" / "r-Manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{not json")
    with pytest.raises(UserError, match=r"r-Manifest\.json is not a readable CUR manifest"):
        connectors.select(sources.expand(str(manifest.parent)))


def test_detection_tells_cur_from_focus() -> None:
    cur = aws_cur.AwsCurConnector()
    assert cur.sniff(list(_rows()[0]))
    assert cur.sniff(_cur2(_rows()).schema.names)
    assert not cur.sniff(["BillingAccountId", "BilledCost", "BillingCurrency", "ChargePeriodStart"])
    assert not connectors.get("focus").sniff(list(_rows()[0]))
