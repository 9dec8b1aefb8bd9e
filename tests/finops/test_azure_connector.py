"""Azure Cost Management exports: EA and MCA, actual and amortized, manifest deliveries.

Every load is checked against totals computed here from the fixture file itself (csv + Decimal),
not through the connector: the stored BilledCost per billing account, period and currency must
equal them to the cent (and beyond).
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from finops import connectors, sources
from finops.connectors.azure import AMORTIZED, scan
from finops.errors import UserError
from jobs.ingest import ingest
from storage.costs import source_totals, stored_totals
from storage.db import unit_of_work
from storage.models import CostDaily

FIXTURES = Path(__file__).parent.parent / "fixtures" / "azure"
COMMITMENTS = ("reservation", "savingsplan")
UNUSED = ("unusedreservation", "unusedsavingsplan")
Key = tuple[str, str, date, str]


def _month(text: str) -> date:
    """The first day of the month of an EA (MM/DD/YYYY) or ISO date."""
    if "/" in text:
        month, _, year = text.split("/")
        return date(int(year), int(month), 1)
    return date(int(text[:4]), int(text[5:7]), 1)


def expected(*paths: Path, amortized: bool = False) -> dict[Key, tuple[Decimal, Decimal]]:
    """(billed, effective) per (provider, billing account, period, currency), from the raw CSV."""
    totals: dict[Key, tuple[Decimal, Decimal]] = defaultdict(lambda: (Decimal(0), Decimal(0)))
    for path in paths:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for raw in csv.DictReader(handle):
                row = {name.lower(): value for name, value in raw.items()}
                cost = Decimal(row.get("costinbillingcurrency") or row["cost"])
                currency = row.get("billingcurrency") or row["billingcurrencycode"]
                covered = row["pricingmodel"].lower() in COMMITMENTS or row["chargetype"].lower() in UNUSED
                billed = Decimal(0) if amortized and covered else cost
                key = ("azure", row["billingaccountid"], _month(row["billingperiodstartdate"]), currency)
                before = totals[key]
                totals[key] = (before[0] + billed, before[1] + cost)
    return dict(totals)


def reconciled(stored: dict[Key, Decimal], want: dict[Key, Decimal]) -> bool:
    """The same groups, and the same amounts to the cent (storage keeps 6 decimals a daily row,
    the files up to 9: what is left is well under a cent and 0.00%)."""
    cent = Decimal("0.01")
    return stored.keys() == want.keys() and all(
        stored[key].quantize(cent) == want[key].quantize(cent)
        and abs(stored[key] - want[key]) < Decimal("1e-5")
        for key in want
    )


def billed(totals: dict[Key, tuple[Decimal, Decimal]]) -> dict[Key, Decimal]:
    return {key: amounts[0] for key, amounts in totals.items()}


async def _stored(engine: AsyncEngine) -> tuple[dict[Key, Decimal], dict[Key, Decimal]]:
    async with unit_of_work(engine) as session:
        return await stored_totals(session), await source_totals(session)


async def _effective(engine: AsyncEngine) -> Decimal:
    async with unit_of_work(engine) as session:
        return Decimal(await session.scalar(select(func.sum(CostDaily.effective_cost))) or 0)


async def _rows(engine: AsyncEngine) -> list[CostDaily]:
    async with unit_of_work(engine) as session:
        return list(
            (await session.scalars(select(CostDaily).order_by(CostDaily.usage_date, CostDaily.service))).all()
        )


async def test_ea_exports_reconcile_per_account_and_currency(engine: AsyncEngine) -> None:
    folder = FIXTURES / "ea"
    result = await ingest(engine, str(folder))
    assert (result.format, result.files) == ("azure-export", 2)
    want = expected(*sorted(folder.glob("*.csv")))
    assert {key[3] for key in want} == {"USD", "EUR"}
    stored, raw = await _stored(engine)
    assert reconciled(stored, billed(want))
    assert reconciled(raw, billed(want))  # 0.00% variance against the files
    rows = await _rows(engine)
    assert {row.region for row in rows} >= {"westeurope", "northeurope", "germanywestcentral", None}
    late = [row for row in rows if row.usage_date == date(2026, 9, 30)]
    assert [(row.billing_period_start, row.service) for row in late] == [
        (date(2026, 10, 1), "Virtual Network")
    ]
    by_category = {row.charge_category for row in rows}
    assert by_category == {"Usage", "Purchase", "Credit"}
    storage = next(row for row in rows if row.service == "Storage")
    assert (storage.team, storage.environment, storage.service_category) == ("data", "prod", "Storage")
    assert storage.tags == {"env": "prod", "team": "data"}  # brace-less tags read as an object
    sql = next(row for row in rows if row.service == "SQL Database")
    assert (sql.tags, sql.team, sql.service_category) == ({}, None, "Databases")
    marketplace = next(row for row in rows if row.service == "SaaS")
    assert (marketplace.charge_category, marketplace.billed_cost, marketplace.team) == (
        "Purchase",
        150,
        "data",
    )
    eur = [row for row in rows if row.currency == "EUR"]
    assert {row.billing_account for row in eur} == {"74100825"}
    assert {row.region for row in eur} == {"westeurope", "germanywestcentral"}  # "EU West" is westeurope


async def test_mca_actual_with_tax_refund_rounding_and_marketplace(engine: AsyncEngine) -> None:
    path = FIXTURES / "mca-actual" / "mca-actual-2026-10.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # written with a byte order mark, as Azure does
    await ingest(engine, str(path))
    stored, raw = await _stored(engine)
    assert reconciled(stored, billed(expected(path)))
    assert reconciled(raw, billed(expected(path)))
    rows = await _rows(engine)
    categories = {row.service: row.charge_category for row in rows}
    assert categories["Tax"] == "Tax"
    assert categories["Rounding adjustment"] == "Adjustment"
    assert categories["Azure savings plan for compute, 1 Year"] == "Credit"  # a refund
    vm = next(row for row in rows if row.service == "Virtual Machines")
    assert (vm.team, vm.environment, vm.list_cost) == ("api", "production", Decimal("3.024"))
    assert {row.service: row.service_category for row in rows if row.charge_category == "Usage"} == {
        "Virtual Machines": "Compute",
        "Azure Cosmos DB": "Databases",
        "Functions": "Compute",
        "Key Vault": "Security",
    }


async def test_amortized_export_bills_only_what_no_commitment_covers(engine: AsyncEngine) -> None:
    path = FIXTURES / "mca-amortized" / "mca-amortized-2026-10.csv"
    assert scan(sources.expand(str(path))[0]).kind == AMORTIZED  # no manifest: told by its rows
    await ingest(engine, str(path))
    [(key, (invoiced, effective))] = expected(path, amortized=True).items()
    stored, raw = await _stored(engine)
    assert stored == raw == {key: invoiced}
    assert invoiced == Decimal("95.656343")  # the disk and the marketplace charge
    assert await _effective(engine) == effective == Decimal("102.648743")
    rows = await _rows(engine)
    reserved = [row for row in rows if row.service == "Virtual Machines" and row.region == "westeurope"]
    assert all(row.billed_cost == 0 and row.effective_cost > 0 for row in reserved)


async def test_newest_run_of_a_delivery_replaces_the_older(engine: AsyncEngine) -> None:
    folder = FIXTURES / "delivery"
    runs = sorted(path.parent for path in folder.rglob("manifest.json"))
    older, newer = sorted(runs, key=lambda run: "4b3f" not in run.name)  # 4b3f... was submitted first
    result = await ingest(engine, str(folder))
    assert (result.files, result.rows_read) == (2, 5)  # the newer run's two files, no manifest
    stored, raw = await _stored(engine)
    assert reconciled(stored, billed(expected(*sorted(newer.glob("*.csv")))))
    assert reconciled(raw, stored)
    assert not reconciled(stored, billed(expected(*older.glob("*.csv"))))


def test_the_selector_keeps_the_newest_run_and_drops_manifests() -> None:
    files = connectors.select(sources.expand(str(FIXTURES / "delivery")))
    assert [Path(f.location).relative_to(FIXTURES / "delivery").parts[-2:] for f in files] == [
        ("9e2d5a7c-1b84-4c39-8f6e-5c4b3a291d02", "part_0_0001.csv"),
        ("9e2d5a7c-1b84-4c39-8f6e-5c4b3a291d02", "part_1_0001.csv"),
    ]


def test_a_manifest_naming_a_missing_file_waits_for_the_export(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "delivery", tmp_path / "delivery")
    [part] = (tmp_path / "delivery").rglob("9e2d*/part_1_0001.csv")
    part.unlink()
    with pytest.raises(UserError, match=r"manifest\.json names .*part_1_0001\.csv.* still be writing"):
        connectors.select(sources.expand(str(tmp_path / "delivery")))


def test_actual_and_amortized_for_one_period_are_refused(tmp_path: Path) -> None:
    actual = FIXTURES / "mca-actual" / "mca-actual-2026-10.csv"
    amortized = FIXTURES / "mca-amortized" / "mca-amortized-2026-10.csv"
    for path in (actual, amortized):
        shutil.copy(path, tmp_path / path.name)
    with pytest.raises(UserError) as refused:
        connectors.select(sources.expand(str(tmp_path)))
    message = str(refused.value)
    assert f"{tmp_path / actual.name} is an actual-cost export" in message
    assert f"{tmp_path / amortized.name} an amortized one, both for 2026-10" in message


def test_the_selector_leaves_other_sources_alone(tmp_path: Path) -> None:
    (tmp_path / "focus.csv").write_text(
        "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ProviderName,BilledCost\n"
        "a,USD,2026-10-01,2026-10-03,AWS,1.5\n"
    )
    (tmp_path / "manifest.json").write_text('{"reportKeys": ["cur/part-1.csv.gz"], "assemblyId": "x"}')
    files = sources.expand(str(tmp_path))
    assert connectors.select(files) == files


@pytest.mark.parametrize(
    ("header", "azure"),
    [
        ((FIXTURES / "ea" / "ea-actual-2026-10.csv").read_text().splitlines()[0], True),
        ((FIXTURES / "ea" / "ea-eur-actual-2026-10.csv").read_text().splitlines()[0], True),
        ((FIXTURES / "mca-actual" / "mca-actual-2026-10.csv").read_text("utf-8-sig").splitlines()[0], True),
        # FOCUS (Azure's own FOCUS export too) is the focus connector's
        (
            "BilledCost,BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ProviderName,"
            "SubAccountId,x_SkuMeterCategory,Date",
            False,
        ),
        # AWS CUR (legacy and 2.0)
        (
            "identity/LineItemId,bill/PayerAccountId,lineItem/UsageStartDate,lineItem/UnblendedCost,"
            "lineItem/CurrencyCode,product/ProductName",
            False,
        ),
        (
            "line_item_usage_account_id,line_item_usage_start_date,line_item_unblended_cost,product_servicecode",
            False,
        ),
    ],
)
def test_sniff_knows_azure_exports_only(header: str, azure: bool) -> None:
    assert connectors.get("azure-export").sniff(next(csv.reader([header]))) is azure


MCA = FIXTURES / "mca-actual" / "mca-actual-2026-10.csv"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            ",3.024,3.024,USD,",
            ",3.O24,3.024,USD,",
            r"row 1, column costInBillingCurrency: '3\.O24' is not a number",
        ),
        (",2026-10-06,", ",2026-13-06,", r"row 1, column date: '2026-13-06' is not a date"),
        (
            ",USD,Microsoft.Compute,",
            ",US$,Microsoft.Compute,",
            r"row 1, column billingCurrency: 'US\$' is not an ISO",
        ),
    ],
)
def test_bad_cells_name_file_row_and_column(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    text = MCA.read_text("utf-8-sig")
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(UserError, match=rf"^{path}, {message}"):
        list(connectors.get("azure-export").batches(sources.expand(str(path))[0]))


def test_a_missing_required_column_is_named(tmp_path: Path) -> None:
    lines = MCA.read_text("utf-8-sig").splitlines()
    path = tmp_path / "no-currency.csv"
    path.write_text("\n".join([lines[0].replace("billingCurrency", "pricingCurrency"), *lines[1:]]) + "\n")
    with pytest.raises(UserError, match=rf"^{path} lacks the Azure export column\(s\) BillingCurrency"):
        list(connectors.get("azure-export").batches(sources.expand(str(path))[0]))
