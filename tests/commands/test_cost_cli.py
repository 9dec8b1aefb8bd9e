"""`finops-bot cost`: the /cost grammar and code from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tests.cli_runner import RunCli


def _load(cli: RunCli, database_url: str) -> None:
    end = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    result = cli(
        "demo", "--end", end, "--months", "2", "--detect-days", "1", "--json", database_url=database_url
    )
    assert result.code == 0, result.err


def test_json_totals_rows_and_forecast(cli: RunCli, database_url: str, tmp_path: Path) -> None:
    _load(cli, database_url)
    chart = tmp_path / "cost.png"
    result = cli("cost", "last 7 days by provider forecast", "--json", "--chart", str(chart))
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    assert answer["group_by"] == ["provider"]
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert answer["data_until"] == answer["period"]["end"] == yesterday.isoformat()
    for total in answer["totals"]:
        rows = [r for r in answer["rows"] if r["currency"] == total["currency"]]
        assert sum(Decimal(r["amount"]) for r in rows) == Decimal(total["amount"])  # no rounding drift
    assert {r["keys"]["provider"] for r in answer["rows"]} == {"aws", "azure", "gcp"}
    assert {f["currency"] for f in answer["forecasts"]} == {"USD", "EUR"}
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_text_output_and_help(cli: RunCli, database_url: str) -> None:
    _load(cli, database_url)
    result = cli("cost", "mtd by team top 2")
    assert result.code == 0, result.err
    assert "Cost, this month" in result.out and "others" in result.out
    assert "last 7 days by service" in cli("cost", "help").out


def test_a_query_it_cannot_read_is_bad_input(cli: RunCli, database_url: str) -> None:
    result = cli("cost", "last fortnight", database_url=database_url)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith('error: Sorry, I did not understand "last", "fortnight".')
