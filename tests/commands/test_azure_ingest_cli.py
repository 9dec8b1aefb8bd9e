"""`finops-bot ingest` and `reconcile` with Azure exports and the Query API, end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli_runner import RunCli, reconcile
from tests.fakes.azure import cost_management

FIXTURES = Path(__file__).parent.parent / "fixtures" / "azure"
LOCATION = (
    "azure://subscriptions/5d4c3b2a-0000-4000-8000-0000000000c1?type=ActualCost&from=2026-10-01&to=2026-10-31"
)


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "azure"
    shutil.copytree(FIXTURES / "ea", folder / "ea")
    shutil.copytree(FIXTURES / "delivery", folder / "delivery")
    return folder


def test_ingest_and_reconcile_exports(cli: RunCli, database_url: str, exports: Path) -> None:
    result = cli(
        "ingest", str(exports / "ea"), str(exports / "delivery"), "--json", database_url=database_url
    )
    assert result.code == 0, result.err
    documents = json.loads(result.out)
    assert [(d["format"], d["files"], d["skipped"]) for d in documents] == [
        ("azure-export", 2, False),
        ("azure-export", 2, False),
    ]
    groups = reconcile(cli)
    assert {(g["billing_account"], g["currency"]) for g in groups} == {
        ("8611537", "USD"),
        ("74100825", "EUR"),
        ("b7e5c6f1-3a2d-4c8e-9f10-2a4b6c8d0e1f:4f3c2b1a-5d6e-7f80-91a2-b3c4d5e6f708_2019-05-31", "USD"),
    }
    assert all(g["ok"] and g["variance"] == "0.000000" for g in groups)


@pytest.mark.parametrize("problem", ["not a number", "missing column", "actual and amortized"])
def test_bad_input_is_exit_2_names_the_file_and_writes_nothing(
    cli: RunCli, database_url: str, exports: Path, problem: str
) -> None:
    assert cli("ingest", str(exports / "ea"), database_url=database_url).code == 0
    before = reconcile(cli)
    bad = exports / "ea" / "ea-actual-2026-10.csv"
    lines = bad.read_text().splitlines()
    if problem == "not a number":
        lines[4] = lines[4].replace(",23.881728,", ',"23,88",', 1)
        expected = f"error: {bad}, row 4, column CostInBillingCurrency: '23,88' is not a number"
    elif problem == "missing column":
        lines[0] = lines[0].replace("BillingCurrencyCode", "PricingCurrency")
        expected = f"error: {bad} lacks the Azure export column(s) BillingCurrency"
    else:
        amortized = FIXTURES / "mca-amortized" / "mca-amortized-2026-10.csv"
        shutil.copy(amortized, exports / "ea" / amortized.name)
        expected = (
            f"error: {bad} is an actual-cost export and {exports / 'ea' / amortized.name} an amortized one"
        )
    bad.write_text("\n".join(lines) + "\n")
    result = cli("ingest", str(exports / "ea"))
    assert result.code == 2
    assert result.err.startswith(expected), result.err
    assert reconcile(cli) == before


def test_ingest_the_query_api(cli: RunCli, database_url: str, clean_env: pytest.MonkeyPatch) -> None:
    with cost_management() as fake:
        clean_env.setenv("FINOPS_AZURE_ENDPOINT", fake.endpoint)
        clean_env.setenv("FINOPS_AZURE_TOKEN", "recorded-token")
        for _ in range(2):
            fake.reply("actual-page1.json")
            fake.reply("actual-page2.json")
        result = cli("ingest", LOCATION, "--json", database_url=database_url)
        assert result.code == 0, result.err
        [document] = json.loads(result.out)
        assert (document["format"], document["rows_read"]) == ("azure-export", 7)
        assert [g["ok"] and g["variance"] == "0.000000" for g in reconcile(cli)] == [True]
        again = json.loads(cli("ingest", LOCATION, "--json").out)
        assert again[0]["skipped"] is True
        fake.reply("forbidden.json", status=403)
        refused = cli("ingest", LOCATION)
        assert refused.code == 2
        assert refused.err.startswith(f"error: {LOCATION}: the Cost Management API answered 403")
