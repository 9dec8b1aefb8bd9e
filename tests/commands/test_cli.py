from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finops import focus, sample
from finops.focus import normalise_provider
from storage.migrate import head_revision
from tests.cli_runner import RunCli

END = "2026-10-31"


def _totals(document: dict[str, Any]) -> dict[tuple[str, str], Decimal]:
    return {(t["provider"], t["currency"]): Decimal(t["billed_cost"]) for t in document["totals"]}


def test_help_lists_the_commands(cli: RunCli) -> None:
    result = cli("--help")
    assert result.code == 0
    assert "demo" in result.out and "db" in result.out


def test_unknown_command_is_a_usage_error(cli: RunCli) -> None:
    result = cli("frobnicate")
    assert result.code == 2
    assert result.err.startswith("error: ")
    assert "frobnicate" in result.err


def test_db_upgrade_migrates_then_reports_up_to_date(cli: RunCli, database_url: str) -> None:
    first = cli("db", "upgrade", database_url=database_url)
    assert first.code == 0, first.err
    assert f"migrated from an empty database to revision {head_revision()}" in first.out
    second = cli("db", "upgrade", database_url=database_url)
    assert second.code == 0
    assert f"already at revision {head_revision()}" in second.out


def test_demo_loads_exactly_what_the_generator_made(cli: RunCli, database_url: str) -> None:
    result = cli("demo", "--end", END, "--detect-days", "1", "--json", database_url=database_url)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    org = sample.generate(seed=42, end=sample.date.fromisoformat(END))
    expected: dict[tuple[str, str], Decimal] = {}
    for row in org.rows[[focus.PROVIDER_NAME, focus.BILLING_CURRENCY, focus.BILLED_COST]].itertuples(
        index=False
    ):
        key = (normalise_provider(row[0]), row[1])
        expected[key] = expected.get(key, Decimal(0)) + row[2]
    assert _totals(document) == expected
    assert document["period"] == {"start": org.start.isoformat(), "end": END}
    assert len(document["planted_anomalies"]) == len(org.planted) >= 3


# SQLite only: restatement on PostgreSQL is tested with the same code in test_ingest_cli.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_demo_twice_replaces_instead_of_doubling(cli: RunCli, database_url: str) -> None:
    cli("demo", "--end", END, "--detect-days", "1", "--json", database_url=database_url)
    # Different data for the same periods replaces the old rows rather than adding to them (the
    # same data again is a no-op: test_demo_json_then_again_on_the_same_database).
    second = json.loads(
        cli(
            "demo", "--end", END, "--seed", "7", "--detect-days", "1", "--json", database_url=database_url
        ).out
    )
    assert second["load"]["rows_replaced"] > 0
    fresh = sample.generate(seed=7, end=sample.date.fromisoformat(END))
    assert sum(_totals(second).values()) == sum(fresh.rows[focus.BILLED_COST], Decimal(0))


def test_demo_prints_a_summary(cli: RunCli) -> None:
    result = cli("demo", "--end", END, "--detect-days", "1")
    assert result.code == 0, result.err
    assert "Spend by provider" in result.out
    for provider in ("aws", "azure", "gcp"):
        assert provider in result.out
    assert "2025-10-01" in result.out and END in result.out
    assert Path("finops.db").is_file()  # the embedded default: a SQLite file in the working directory


def test_corrupt_sqlite_file_is_a_clear_error(cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "finops.db").write_bytes(b"this is not a database, just some bytes" * 200)
    result = cli("demo", "--end", END)
    assert result.code == 2
    assert result.err.startswith("error: ")
    assert "is not a readable SQLite database" in result.err
    assert "Traceback" not in result.err + result.out


def test_bad_end_date_is_a_usage_error(cli: RunCli) -> None:
    result = cli("demo", "--end", "31/10/2026")
    assert result.code == 2
    assert result.err.startswith("error: ") and "YYYY-MM-DD" in result.err
    assert not Path("finops.db").exists()  # nothing written


def test_bad_setting_is_a_clear_error(cli: RunCli) -> None:
    result = cli("db", "upgrade", database_url="mysql://root@localhost/x")
    assert result.code == 2
    assert result.err.startswith("error: FINOPS_DATABASE_URL uses 'mysql'")


def test_console_script_and_module_entry_points(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("finops-bot")
    for command in ([str(script), "--help"], [sys.executable, "-m", "bot", "--help"]):
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "demo" in done.stdout
