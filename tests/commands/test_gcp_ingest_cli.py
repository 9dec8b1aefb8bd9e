"""`finops-bot ingest` on Google Cloud billing exports: files and `bigquery://` (recorded REST)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli_runner import RunCli, reconcile
from tests.fakes.gcp import FakeBigQuery, bigquery_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcp"
TABLE = "billing-admin-4412.billing_export.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "gcp-exports"
    folder.mkdir()
    for name in ("standard-2026-10.jsonl", "detailed-eur-2026-10.jsonl"):
        shutil.copy(FIXTURES / name, folder / name)
    return folder


@pytest.fixture
def bigquery(clean_env: pytest.MonkeyPatch) -> Iterator[FakeBigQuery]:
    with bigquery_server() as fake:
        clean_env.setenv("FINOPS_BIGQUERY_ENDPOINT", fake.endpoint)
        yield fake


def test_ingest_folder_then_reconcile(cli: RunCli, database_url: str, exports: Path) -> None:
    result = cli("ingest", str(exports), "--json", database_url=database_url)
    assert result.code == 0, result.err
    [document] = json.loads(result.out)
    assert (document["format"], document["files"], document["rows_read"]) == ("gcp-export", 2, 20)
    periods = {
        (p["billing_account"], p["period"], p["currency"]): p["billed_cost"] for p in document["periods"]
    }
    assert periods == {
        ("01A2B3-C4D5E6-F7A8B9", "2026-09", "USD"): "42.3",
        ("01A2B3-C4D5E6-F7A8B9", "2026-10", "USD"): "175.351247",
        ("0F1E2D-3C4B5A-69788F", "2026-09", "EUR"): "0.019716",
        ("0F1E2D-3C4B5A-69788F", "2026-10", "EUR"): "0.912277",
    }
    groups = reconcile(cli)
    assert len(groups) == 4
    assert all(g["ok"] and g["variance"] == "0.000000" for g in groups)
    assert sum(Decimal(g["stored"]) for g in groups) == sum(Decimal(v) for v in periods.values())
    assert json.loads(cli("ingest", str(exports), "--json").out)[0]["skipped"] is True


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        (
            "standard-2026-10.jsonl",
            lambda lines: [*lines[:2], lines[2].replace('"cost":18.4,', '"cost":"18,4",'), *lines[3:]],
            "standard-2026-10.jsonl, line 3, cost: '18,4' is not a number",
        ),
        (
            "standard-2026-10.jsonl",
            lambda lines: [*lines[:4], lines[4][:-30], *lines[5:]],
            "standard-2026-10.jsonl, line 5: not a JSON object",
        ),
        (
            "standard-2026-10.csv",
            lambda lines: [lines[0].replace(",currency,", ",currency_code,"), *lines[1:]],
            "standard-2026-10.csv lacks the Google Cloud billing export column(s) currency",
        ),
    ],
)
def test_bad_file_is_exit_2_and_writes_nothing(
    cli: RunCli,
    database_url: str,
    exports: Path,
    name: str,
    edit: Callable[[list[str]], list[str]],
    message: str,
) -> None:
    assert cli("ingest", str(exports), database_url=database_url).code == 0
    before = reconcile(cli)
    bad = exports / name
    lines = (FIXTURES / name).read_text().splitlines()
    bad.write_text("\n".join(edit(lines)) + "\n")
    detailed = exports / "detailed-eur-2026-10.jsonl"
    detailed.write_text("\n".join(detailed.read_text().splitlines()[:2]) + "\n")  # valid, read first
    result = cli("ingest", str(exports))
    assert result.code == 2
    assert result.err.startswith(f"error: {exports}/{message}"), result.err
    assert reconcile(cli) == before  # the change to the EUR file was not written either


def test_ingest_bigquery_table(cli: RunCli, database_url: str, bigquery: FakeBigQuery) -> None:
    location = f"bigquery://{TABLE}?month=202609&month=202610"
    result = cli("ingest", location, "--json", database_url=database_url)
    assert result.code == 0, result.err
    [document] = json.loads(result.out)
    assert (document["format"], document["rows_read"]) == ("gcp-export", 13)
    assert all(g["ok"] and g["variance"] == "0.000000" for g in reconcile(cli))
    assert json.loads(cli("ingest", location, "--json").out)[0]["skipped"] is True

    missing = cli("ingest", "bigquery://billing-admin-4412.billing_export.no_such_table")
    assert missing.code == 2
    assert missing.err.startswith(
        "error: bigquery://billing-admin-4412.billing_export.no_such_table: not found"
    )
    invalid = cli("ingest", "bigquery://not a table")
    assert invalid.code == 2
    assert "is not a BigQuery table name" in invalid.err
