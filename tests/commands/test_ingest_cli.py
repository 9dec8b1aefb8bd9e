from __future__ import annotations

import asyncio
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from sqlalchemy import func, select

from finops import focus, sample
from storage.db import connect, unit_of_work
from storage.models import CostDaily
from tests.cli_runner import RunCli, reconcile

END = date(2026, 10, 31)


@pytest.fixture(scope="module")
def org() -> sample.SampleOrg:
    return sample.generate(seed=11, end=END, months=2)


@pytest.fixture
def exports(org: sample.SampleOrg, tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    sample.write_focus_files(org, folder)
    return folder


def test_ingest_then_reconcile_to_the_cent(
    cli: RunCli, database_url: str, exports: Path, org: sample.SampleOrg
) -> None:
    result = cli("ingest", str(exports), "--json", database_url=database_url)
    assert result.code == 0, result.err
    [document] = json.loads(result.out)
    assert (document["files"], document["rows_read"], document["skipped"]) == (6, len(org.rows), False)
    groups = reconcile(cli)
    assert len(groups) == 8
    assert all(g["variance"] == "0.000000" and g["ok"] for g in groups)
    assert sum(Decimal(g["stored"]) for g in groups) == sum(org.rows[focus.BILLED_COST], Decimal(0))
    again = json.loads(cli("ingest", str(exports), "--json").out)
    assert again[0]["skipped"] is True


def test_restated_file_replaces_its_period_only(cli: RunCli, database_url: str, exports: Path) -> None:
    assert cli("ingest", str(exports), database_url=database_url).code == 0
    before = {
        (g["provider"], g["billing_account"], g["period"]): Decimal(g["stored"]) for g in reconcile(cli)
    }
    restated = exports / "gcp-2026-10.csv"
    lines = restated.read_text().splitlines()
    restated.write_text("\n".join(lines[: len(lines) // 2]) + "\n")  # the provider re-delivers the month
    result = cli("ingest", str(exports), "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)[0]["rows_replaced"] > 0
    after = {(g["provider"], g["billing_account"], g["period"]): Decimal(g["stored"]) for g in reconcile(cli)}
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {("gcp", "01A2B3-C4D5E6-F7A8B9", "2026-10")}
    assert (
        after[("gcp", "01A2B3-C4D5E6-F7A8B9", "2026-10")] < before[("gcp", "01A2B3-C4D5E6-F7A8B9", "2026-10")]
    )


def test_bad_file_is_exit_2_and_writes_nothing(cli: RunCli, database_url: str, exports: Path) -> None:
    assert cli("ingest", str(exports), database_url=database_url).code == 0
    before = reconcile(cli)
    broken = exports / "gcp-2026-10.csv"
    lines = broken.read_text().splitlines()
    lines[5] = lines[5].replace(",USD,", ",XXX,", 1)
    broken.write_text("\n".join(lines) + "\n")
    september = exports / "gcp-2026-09.csv"
    september.write_text("\n".join(september.read_text().splitlines()[:100]) + "\n")  # valid, read first
    result = cli("ingest", str(exports))
    assert result.code == 2
    assert result.err.startswith(f"error: {broken}, row 5, column BillingCurrency: 'XXX'")
    assert reconcile(cli) == before  # the September change was not written either


def test_usage_errors(cli: RunCli, exports: Path, tmp_path: Path) -> None:
    unknown = cli("ingest", str(exports), "--format", "oracle-usage")
    assert unknown.code == 2
    assert "unknown format 'oracle-usage'; use one of: auto, aws-cost-explorer, aws-cur," in unknown.err
    missing = cli("ingest", str(tmp_path / "nothing-here"))
    assert missing.code == 2
    assert "does not exist" in missing.err
    assert cli("ingest").code == 2


def test_ingest_from_s3_prefix(cli: RunCli, aws: str, exports: Path, org: sample.SampleOrg) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket="bills")
    for path in sorted(exports.iterdir()):
        client.put_object(Bucket="bills", Key=f"focus/{path.name}", Body=path.read_bytes())
    client.put_object(Bucket="bills", Key="focus/README.txt", Body=b"not a bill")
    result = cli("ingest", "s3://bills/focus/", "--json")
    assert result.code == 0, result.err
    [document] = json.loads(result.out)
    assert (document["files"], document["rows_read"]) == (6, len(org.rows))
    assert all(g["ok"] and g["variance"] == "0.000000" for g in reconcile(cli))
    empty = cli("ingest", "s3://bills/nothing/")
    assert empty.code == 2
    assert "nothing to read under s3://bills/nothing/" in empty.err


def test_configured_tag_aliases_name_the_team(
    cli: RunCli, database_url: str, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "finops.toml"
    config.write_text('[tag_aliases]\nteam = ["squad", "user:squad"]\n')
    clean_env.setenv("FINOPS_CONFIG", str(config))
    bill = tmp_path / "bill.csv"
    bill.write_text(
        "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ProviderName,BilledCost,Tags\n"
        'a,USD,2026-10-01,2026-10-03,AWS,1.5,"{""squad"": ""payments"", ""team"": ""ignored""}"\n'
        'a,USD,2026-10-01,2026-10-03,AWS,2,"{""user:squad"": ""data""}"\n'
        'a,USD,2026-10-01,2026-10-03,AWS,4,"{""team"": ""web""}"\n'
    )
    assert cli("ingest", str(bill), database_url=database_url).code == 0

    async def teams() -> dict[str | None, Decimal]:
        engine = connect(database_url)
        try:
            async with unit_of_work(engine) as session:
                rows = await session.execute(
                    select(CostDaily.team, func.sum(CostDaily.billed_cost)).group_by(CostDaily.team)
                )
                return dict(rows.tuples().all())
        finally:
            await engine.dispose()

    assert asyncio.run(teams()) == {"payments": Decimal("1.5"), "data": Decimal("2"), None: Decimal("4")}


CUR = Path(__file__).parents[1] / "fixtures" / "aws" / "cur-legacy-2026-10.csv"


def test_cur_ingests_reconciles_and_bad_cur_is_exit_2(cli: RunCli, database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "cur"
    folder.mkdir()
    (folder / "october.csv").write_text(CUR.read_text())
    result = cli("ingest", str(folder), "--format", "aws-cur", "--json", database_url=database_url)
    assert result.code == 0, result.err
    assert json.loads(result.out)[0]["format"] == "aws-cur"
    before = reconcile(cli)
    assert {(g["billing_account"], g["currency"]) for g in before} == {
        ("111111111111", "USD"),
        ("555555555555", "INR"),
    }
    assert all(g["ok"] and g["variance"] == "0.000000" for g in before)

    lines = CUR.read_text().splitlines()
    lines[7] = lines[7].replace(",USD,", ",US$,", 1)  # a restated delivery with a broken currency
    (folder / "october.csv").write_text("\n".join(lines) + "\n")
    broken = cli("ingest", str(folder))
    assert broken.code == 2
    assert broken.err.startswith(f"error: {folder / 'october.csv'}, row 7, column BillingCurrency: 'US$'")
    assert reconcile(cli) == before  # nothing written
