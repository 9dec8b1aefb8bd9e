from __future__ import annotations

import asyncio
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from storage.db import connect
from tests.cli_runner import RunCli

END = "2026-10-31"


def _load_sample(cli: RunCli, database_url: str) -> None:
    result = cli(
        "demo", "--end", END, "--months", "2", "--detect-days", "1", "--json", database_url=database_url
    )
    assert result.code == 0, result.err


def test_loaded_data_reconciles_to_the_cent(cli: RunCli, database_url: str) -> None:
    _load_sample(cli, database_url)
    result = cli("reconcile", "--json")
    assert result.code == 0, result.err
    groups = json.loads(result.out)
    assert {g["period"] for g in groups} == {"2026-09", "2026-10"}
    assert {g["provider"] for g in groups} == {"aws", "azure", "gcp"}
    for group in groups:
        assert group["stored"] == group["source"]
        assert group["variance"] == "0.000000"
        assert group["variance_pct"] == "0.00"
        assert group["invoice"] is None
        assert group["ok"] is True
    only_october = json.loads(cli("reconcile", "--period", "2026-10", "--json").out)
    assert {g["period"] for g in only_october} == {"2026-10"}
    assert len(only_october) == len(groups) // 2


def test_invoice_outside_tolerance_fails_the_check(cli: RunCli, database_url: str, tmp_path: Path) -> None:
    _load_sample(cli, database_url)
    groups = json.loads(cli("reconcile", "--period", "2026-10", "--json").out)
    lines = ["provider,billing_account,period,currency,amount"]
    for i, g in enumerate(groups):
        amount = Decimal(g["stored"]) * (Decimal("1.05") if i == 0 else 1)  # the first group: 5% more billed
        lines.append(f"{g['provider']},{g['billing_account']},{g['period']},{g['currency']},{amount}")
    invoice = tmp_path / "invoice.csv"
    invoice.write_text("\n".join(lines) + "\n")

    result = cli("reconcile", "--period", "2026-10", "--invoice", str(invoice), "--json")
    assert result.code == 1
    checked = json.loads(result.out)
    assert [g["ok"] for g in checked] == [False] + [True] * (len(checked) - 1)
    assert checked[0]["variance_pct"] == "-4.76"
    assert cli("reconcile", "--period", "2026-10", "--invoice", str(invoice), "--tolerance", "5").code == 0
    text_run = cli("reconcile", "--period", "2026-10", "--invoice", str(invoice))
    assert text_run.code == 1
    assert "OFF" in text_run.out


async def _delete_late_gcp_rows(database_url: str) -> None:
    engine = connect(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM cost_daily WHERE provider = 'gcp' AND usage_date >= :day"),
                {"day": date(2026, 10, 20)},
            )
    finally:
        await engine.dispose()


def test_stored_data_that_lost_rows_is_caught(cli: RunCli, database_url: str) -> None:
    _load_sample(cli, database_url)
    asyncio.run(_delete_late_gcp_rows(database_url))
    result = cli("reconcile", "--json")
    assert result.code == 1
    off = [g for g in json.loads(result.out) if not g["ok"]]
    assert [(g["provider"], g["period"]) for g in off] == [("gcp", "2026-10")]
    assert Decimal(off[0]["variance"]) < 0


def test_bad_input_is_exit_2(cli: RunCli, tmp_path: Path) -> None:
    assert cli("reconcile", "--tolerance", "lots").code == 2
    bad_period = cli("reconcile", "--period", "October")
    assert bad_period.code == 2
    assert bad_period.err.startswith("error: period 'October'")
    missing = cli("reconcile", "--invoice", str(tmp_path / "none.csv"))
    assert missing.code == 2
    assert "cannot read the invoice file" in missing.err


def test_empty_database_says_what_to_do(cli: RunCli, database_url: str) -> None:
    cli("db", "upgrade", database_url=database_url)
    result = cli("reconcile")
    assert result.code == 0
    assert "Nothing is stored" in result.out
