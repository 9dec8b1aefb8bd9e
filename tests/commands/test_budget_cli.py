"""`finops-bot budget list|show|set|delete|status|report` on both databases."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.db import connect, unit_of_work
from storage.models import AuditLog, Budget, BudgetAmendment
from tests.cli_runner import RunCli
from tests.factories import item, store

STATUS_KEYS = {
    "name", "period", "start", "end", "currency", "amount", "spent", "forecast", "pct_spent", "pct_forecast",
    "thresholds_crossed", "parent",
}  # fmt: skip
RATES_TOML = '[[rates]]\ncurrency = "EUR"\nto = "USD"\nsince = 2026-01-01\nrate = "1.10"\n'
CONFIG_REFUSAL = "is declared in the finops-bot config file (FINOPS_CONFIG), which is the source of truth"


@pytest.fixture
def costs(database_url: str, clean_env: pytest.MonkeyPatch) -> str:
    """October 1-20: cc-eng 10 USD a day (200, team eng) and from the 16th 2 EUR a day (10 EUR);
    cc-data 5 USD a day (100, team data); from the 16th AWS Lambda, untagged, 1 USD a day (5)."""
    items = []
    for d in range(1, 21):
        items += [
            item(f"2026-10-{d:02d}", "10.00", tags={"cost_center": "cc-eng", "team": "eng"}),
            item(
                f"2026-10-{d:02d}",
                "5.00",
                service="Amazon S3",
                tags={"cost_center": "cc-data", "team": "data"},
            ),
        ]
    for d in range(16, 21):
        items += [
            item(f"2026-10-{d:02d}", "1.00", service="AWS Lambda"),
            item(f"2026-10-{d:02d}", "2.00", provider="Microsoft", account="azure-1", service="Virtual Machines",
                 currency="EUR", tags={"cost_center": "cc-eng"}),
        ]  # fmt: skip
    store(database_url, *items)
    clean_env.setenv("FINOPS_DATABASE_URL", database_url)
    return database_url


def _config(clean_env: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    path = tmp_path / "finops.toml"
    path.write_text(text)
    clean_env.setenv("FINOPS_CONFIG", str(path))


def _json(cli: RunCli, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def _ok(cli: RunCli, *args: str, database_url: str | None = None) -> str:
    result = cli(*args, database_url=database_url)
    assert result.code == 0 and result.err == "", result.err
    return result.out


def _stored(database_url: str) -> tuple[list[tuple[str, Decimal]], int, list[tuple[str, str, str]]]:
    """The budgets (name, amount), the number of amendments, and the audit rows."""

    async def read() -> tuple[list[tuple[str, Decimal]], int, list[tuple[str, str, str]]]:
        engine = connect(database_url)
        try:
            async with unit_of_work(engine) as session:
                found = [
                    (b.name, b.amount) for b in await session.scalars(select(Budget).order_by(Budget.name))
                ]
                amended = await session.scalar(select(func.count()).select_from(BudgetAmendment))
                audit = [
                    (a.actor, a.channel, a.action)
                    for a in await session.scalars(select(AuditLog).order_by(AuditLog.id))
                ]
                return found, int(amended or 0), audit
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _date_amendments(database_url: str, name: str, *moments: datetime) -> None:
    """Give budget `name`'s amendments these dates, in order."""

    async def update() -> None:
        engine = connect(database_url)
        try:
            async with unit_of_work(engine) as session:
                budget = await session.scalar(select(Budget).where(Budget.name == name))
                assert budget is not None
                rows = list(
                    await session.scalars(
                        select(BudgetAmendment)
                        .where(BudgetAmendment.budget_id == budget.id)
                        .order_by(BudgetAmendment.id)
                    )
                )
                assert len(rows) == len(moments)
                for row, moment in zip(rows, moments, strict=True):
                    row.created_at = moment
        finally:
            await engine.dispose()

    asyncio.run(update())


def test_set_then_status_show_and_list(cli: RunCli, costs: str) -> None:
    made = _json(
        cli,
        "budget",
        "set",
        "data",
        "--amount",
        "150",
        "--scope",
        "cost_center=cc-data",
        "--thresholds",
        "50,60",
    )
    assert (made["name"], made["created"], Decimal(made["amount"]), made["scope"]) == (
        "data",
        True,
        Decimal(150),
        {"cost_center": ["cc-data"]},
    )
    _ok(cli, "budget", "set", "lambda", "--amount", "10", "--scope", "service=AWS Lambda")

    status = _json(cli, "budget", "status", "--as-of", "2026-10-20")
    assert [set(s) for s in status] == [STATUS_KEYS] * 2
    data, lam = status
    # 20 days at 5.00 of 150; the forecast: the same 5.00 a day for the month's 31 days
    assert (data["name"], data["period"], data["start"], data["end"], data["currency"]) == (
        "data", "monthly", "2026-10-01", "2026-10-31", "USD",
    )  # fmt: skip
    assert [Decimal(data[k]) for k in ("amount", "spent", "forecast")] == [
        Decimal(150),
        Decimal(100),
        Decimal(155),
    ]
    assert (data["pct_spent"], data["pct_forecast"], data["thresholds_crossed"], data["parent"]) == (
        "66.7", "103.3", [50, 60], None,
    )  # fmt: skip
    assert (lam["name"], Decimal(lam["amount"]), Decimal(lam["spent"]), lam["pct_spent"]) == (
        "lambda",
        Decimal(10),
        Decimal(5),
        "50.0",
    )
    assert lam["thresholds_crossed"] == [50]
    assert _json(cli, "budget", "status", "LAMBDA", "--as-of", "2026-10-20") == [lam]
    [early] = _json(cli, "budget", "status", "data", "--as-of", "2026-10-05")  # 5 days: too few to forecast
    assert (early["end"], Decimal(early["spent"]), early["pct_spent"], early["thresholds_crossed"]) == (
        "2026-10-31", Decimal(25), "16.7", [],
    )  # fmt: skip
    assert (early["forecast"], early["pct_forecast"]) == (None, None)
    assert "forecast no forecast yet" in _ok(cli, "budget", "status", "data", "--as-of", "2026-10-05")

    listed = _json(cli, "budget", "list", "--as-of", "2026-10-20")
    assert [(b["name"], b["state"], b["managed_by"]) for b in listed] == [
        ("data", "at risk", "store"),
        ("lambda", "on track", "store"),
    ]
    assert {k: listed[0][k] for k in STATUS_KEYS} == data

    shown = _json(cli, "budget", "show", "data", "--as-of", "2026-10-20")
    assert {k: shown[k] for k in STATUS_KEYS} == data
    assert (shown["as_of"], shown["days_left"], shown["scope"], shown["thresholds"]) == (
        "2026-10-20", 11, {"cost_center": ["cc-data"]}, [50, 60],
    )  # fmt: skip
    assert (Decimal(shown["burn_per_day"]), Decimal(shown["left_per_day"])) == (Decimal(5), Decimal("4.55"))
    assert (shown["rollover"], Decimal(shown["carried"]), shown["rates_note"], shown["amendments"]) == (
        False, Decimal(0), None, [],
    )  # fmt: skip

    text = _ok(cli, "budget", "show", "data", "--as-of", "2026-10-20")
    for line in (
        "data: at risk",
        "Scope: cost_center=cc-data",
        "Period: 2026-10-01 to 2026-10-31, data through 2026-10-20, 11 days left",
        "Spent: 100.00 USD (66.7%)",
        "Forecast: 155.00 USD (103.3%)",
        "Burn: 5.00 USD a day; 4.55 USD a day left to stay within",
        "Thresholds: 50%, 60%; crossed: 50%, 60%",
    ):
        assert line in text
    assert _ok(cli, "budget", "list", "--as-of", "2026-10-20").startswith(
        "data: at risk, 100.00 USD of 150.00 USD (66.7%) monthly, forecast 155.00 USD (103.3%)\nlambda: on track"
    )
    assert "lambda (on track): 5.00 USD of 10.00 USD (50.0%)" in _ok(
        cli, "budget", "status", "--as-of", "2026-10-20"
    )
    assert _stored(costs)[2] == [("cli", "cli", "budget.create")] * 2


def test_a_converted_currency_is_said_in_status_and_show(
    cli: RunCli, costs: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _config(clean_env, tmp_path, RATES_TOML)
    _ok(cli, "budget", "set", "eng", "--amount", "400", "--scope", "cost_center=cc-eng")
    [eng] = _json(cli, "budget", "status", "eng", "--as-of", "2026-10-20")
    assert Decimal(eng["spent"]) == Decimal(211)  # 200 USD and 10 EUR at 1.10
    note = "EUR converted to USD at 1.1 (since 2026-01-01)"
    assert f"  {note}" in _ok(cli, "budget", "status", "eng", "--as-of", "2026-10-20")
    assert f"Exchange rates: {note}" in _ok(cli, "budget", "show", "eng", "--as-of", "2026-10-20")
    assert _json(cli, "budget", "show", "eng", "--as-of", "2026-10-20")["rates_note"] == note


def test_an_update_keeps_what_it_does_not_give(cli: RunCli, costs: str) -> None:
    _ok(cli, "budget", "set", "org", "--amount", "5000", "--period", "quarterly")
    _ok(cli, "budget", "set", "org2", "--amount", "6000")
    _ok(
        cli, "budget", "set", "eng", "--amount", "400", "--currency", "eur", "--period", "quarterly",
        "--scope", "cost_center=cc-eng", "--scope", "team=eng", "--thresholds", "70, 90", "--parent", "org",
        "--rollover", "--rollover-cap", "50",
    )  # fmt: skip
    before = _json(cli, "budget", "show", "eng", "--as-of", "2026-10-20")
    assert _json(cli, "budget", "set", "ENG", "--amount", "450")["created"] is False
    after = _json(cli, "budget", "show", "eng", "--as-of", "2026-10-20")
    kept = ("currency", "period", "scope", "thresholds", "parent", "rollover", "rollover_cap")
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    assert (after["name"], after["currency"], after["period"], after["parent"], after["thresholds"]) == (
        "eng", "EUR", "quarterly", "org", [70, 90],
    )  # fmt: skip
    assert after["scope"] == {"cost_center": ["cc-eng"], "team": ["eng"]}
    assert (after["rollover"], Decimal(after["rollover_cap"])) == (True, Decimal(50))
    assert Decimal(after["base_amount"]) == Decimal(450)
    [amended] = after["amendments"]
    assert (Decimal(amended["amount_before"]), Decimal(amended["amount_after"]), amended["requested_by"]) == (
        Decimal(400),
        Decimal(450),
        "cli",
    )
    _ok(cli, "budget", "set", "eng", "--no-rollover", "--parent", "org2", "--scope", "team=eng")
    changed = _json(cli, "budget", "show", "eng", "--as-of", "2026-10-20")
    assert (changed["rollover"], changed["parent"], changed["scope"], Decimal(changed["base_amount"])) == (
        False, "org2", {"team": ["eng"]}, Decimal(450),
    )  # fmt: skip
    assert len(changed["amendments"]) == 1
    _ok(cli, "budget", "set", "eng", "--parent", "")
    assert _json(cli, "budget", "show", "eng")["parent"] is None
    assert [a for _, _, a in _stored(costs)[2]] == ["budget.create"] * 3 + ["budget.update"] * 3


def test_bad_input_is_exit_2_and_writes_nothing(cli: RunCli, database_url: str) -> None:
    result = cli(
        "budget", "set", "x", "--amount", "-1", "--currency", "dollars", "--period", "weekly",
        "--scope", "nonsense", "--thresholds", "0", "--rollover-cap", "-5", database_url=database_url,
    )  # fmt: skip
    assert result.code == 2 and result.out == ""
    lines = result.err.splitlines()
    assert all(line.startswith("error: ") for line in lines)
    assert [line.split(":")[1].strip() for line in lines] == [
        "--amount", "--currency", "--period", "--scope", "--thresholds", "--rollover-cap",
    ]  # fmt: skip
    assert "error: --amount: Enter an amount above 0" in result.err
    assert "error: --period: Choose one of: monthly, quarterly, yearly." in result.err

    new = cli("budget", "set", "x", "--scope", "team=eng")
    assert (new.code, new.out) == (2, "")
    assert new.err == "error: --amount: A new budget needs an amount: --amount N, e.g. --amount 25000.\n"
    orphan = cli("budget", "set", "x", "--amount", "10", "--parent", "nope")
    assert orphan.code == 2 and orphan.err.startswith("error: There is no budget called 'nope'")
    assert _stored(database_url) == ([], 0, [])

    _ok(cli, "budget", "set", "x", "--amount", "10")
    assert cli("budget", "set", "x", "--amount", "ten").code == 2
    assert cli("budget", "set", "x", "--parent", "x").code == 2  # its own parent
    assert _stored(database_url) == ([("x", Decimal(10))], 0, [("cli", "cli", "budget.create")])

    missing = cli("budget", "show", "nope")
    assert (
        missing.code == 2 and missing.err == "error: There is no budget called 'nope'; the budgets are: x.\n"
    )
    for args, message in (
        (("--period", "2026-13"), "error: '2026-13' is not a report period"),
        (("--period", "2026-10", "--by", "team"), "error: Invalid value: 'team' is not a grouping"),
        (("--period", "2026-10", "--format", "xml"), "error: Invalid value: 'xml' is not a format"),
        (("--period", "2026-10", "--by", "cost-center", "--currency", "EURO"), "error: Invalid value: 'EURO'"),
        (("--period", "2026-10", "--currency", "EUR"), "error: Invalid value: --currency is for --by cost-center"),
        (("--period", "2026-10", "--as-of", "2026"), "error: No such option: --as-of"),
        (("--by", "budget",), "error: Missing option '--period'"),
    ):  # fmt: skip
        bad = cli("budget", "report", *args)
        assert bad.code == 2 and bad.out == "" and bad.err.startswith(message), (args, bad.err)
    assert cli("budget", "status", "--as-of", "yesterday").code == 2


def test_delete(cli: RunCli, database_url: str) -> None:
    _ok(cli, "budget", "set", "org", "--amount", "1000", database_url=database_url)
    _ok(cli, "budget", "set", "team", "--amount", "100", "--parent", "org")
    _ok(cli, "budget", "set", "team", "--amount", "200")
    assert _json(cli, "budget", "delete", "ORG") == {"deleted": "org"}
    assert [(b["name"], b["parent"]) for b in _json(cli, "budget", "list")] == [("team", None)]
    assert _ok(cli, "budget", "delete", "team") == "Budget team deleted.\n"
    assert _json(cli, "budget", "list") == []
    budgets, amendments, audit = _stored(database_url)
    assert (budgets, amendments) == ([], 0)  # its amendment went with it
    assert [a for _, _, a in audit][-2:] == ["budget.delete", "budget.delete"]
    _ok(cli, "budget", "set", "ops [eu]", "--amount", "5")
    assert _ok(cli, "budget", "show", "ops [eu]").startswith("ops [eu]: on track\n")  # not rich markup
    assert _ok(cli, "budget", "delete", "ops [eu]") == "Budget ops [eu] deleted.\n"
    again = cli("budget", "delete", "team")
    assert (
        again.code == 2
        and again.err == "error: There is no budget called 'team'; there are no budgets yet.\n"
    )


def test_a_budget_in_the_config_file_is_listed_and_not_changed_here(
    cli: RunCli, costs: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    declared = (
        '[[budgets]]\nname = "cloud-total"\namount = 5000\nperiod = "quarterly"\nscope = { team = "data" }\n'
    )
    _config(clean_env, tmp_path, declared)
    [listed] = _json(cli, "budget", "list", "--as-of", "2026-10-20")
    assert (listed["name"], listed["managed_by"], listed["period"], listed["scope"]) == (
        "cloud-total", "config", "quarterly", {"team": ["data"]},
    )  # fmt: skip
    assert (listed["start"], listed["end"], Decimal(listed["amount"]), Decimal(listed["spent"])) == (
        "2026-10-01", "2026-12-31", Decimal(5000), Decimal(100),
    )  # fmt: skip
    assert "cloud-total (config)" in _ok(cli, "budget", "list")
    for args in (
        ("set", "Cloud-Total", "--amount", "1"),
        ("set", "cloud-total", "--amount", "x"),
        ("delete", "cloud-total"),
    ):
        refused = cli("budget", *args)
        assert refused.code == 2 and refused.out == ""
        assert refused.err.startswith("error: Budget 'cloud-total' " + CONFIG_REFUSAL), refused.err
        assert refused.err.rstrip().endswith("change it in that file.")
    assert _stored(costs)[0] == [("cloud-total", Decimal(5000))]
    assert {actor for actor, _, _ in _stored(costs)[2]} == {"config"}

    _config(clean_env, tmp_path, declared.replace("5000", "6000"))
    [changed] = _json(cli, "budget", "status")
    assert Decimal(changed["amount"]) == Decimal(6000)
    _config(clean_env, tmp_path, "")
    assert _json(cli, "budget", "list") == []  # no longer declared: gone


def test_more_than_the_parent_has_left_warns_and_saves(cli: RunCli, database_url: str) -> None:
    _ok(cli, "budget", "set", "org", "--amount", "1000", database_url=database_url)
    _ok(
        cli, "budget", "set", "a", "--amount", "1800", "--period", "quarterly", "--parent", "org"
    )  # 600 a month
    over = cli("budget", "set", "b", "--amount", "500", "--parent", "org")
    assert over.code == 0 and "Budget b created" in over.out
    assert over.err == (
        "warning: b (500.00 USD a month) is more than org has left: 400.00 of 1,000.00 USD after its other "
        "children.\n"
    )
    assert [b[0] for b in _stored(database_url)[0]] == ["a", "b", "org"]
    assert _ok(cli, "budget", "set", "b", "--amount", "400")  # fits now: no warning
    assert _json(cli, "budget", "set", "b", "--amount", "401")["warning"].startswith("b (401.00 USD a month)")


def _report_budgets(cli: RunCli, database_url: str) -> None:
    """annual: 1200 a year, everything; data: 150 a month on cc-data, 180 from 10 October, 200 from
    5 November; eng: 300 a month on cc-eng; platform-q: 900 a quarter on team data."""
    _ok(cli, "budget", "set", "annual", "--amount", "1200", "--period", "yearly", database_url=database_url)
    for amount in ("150", "180", "200"):
        _ok(cli, "budget", "set", "data", "--amount", amount, "--scope", "cost_center=cc-data")
    _date_amendments(
        database_url, "data", datetime(2026, 10, 10, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC)
    )
    _ok(cli, "budget", "set", "eng", "--amount", "300", "--scope", "cost_center=cc-eng")
    _ok(
        cli, "budget", "set", "platform-q", "--amount", "900", "--period", "quarterly", "--scope", "team=data"
    )


def test_report_csv_for_a_month(
    cli: RunCli, costs: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _config(clean_env, tmp_path, RATES_TOML)
    _report_budgets(cli, costs)
    result = cli("budget", "report", "--period", "2026-10", "--format", "csv")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "period,budget,cost_center,currency,budget_amount,actual,variance,variance_pct",
        "2026-10,annual,,USD,100.00,316.00,-216.00,-216.0",  # 1200 / 12; 200 + 11 + 100 + 5
        "2026-10,data,cc-data,USD,180.00,100.00,80.00,44.4",  # the amount in force on 31 October
        "2026-10,eng,cc-eng,USD,300.00,211.00,89.00,29.7",  # 10 EUR at 1.10
        "2026-10,platform-q,,USD,300.00,100.00,200.00,66.7",  # 900 / 3
    ]
    assert result.err == "note: EUR converted to USD at 1.1 (since 2026-01-01)\n"
    quarter = _json(cli, "budget", "report", "--period", "2026-q4")
    assert (quarter["period"], quarter["start"], quarter["end"], quarter["by"]) == (
        "2026-Q4", "2026-10-01", "2026-12-31", "budget",
    )  # fmt: skip
    assert [(r["budget"], r["budget_amount"], r["actual"]) for r in quarter["rows"]] == [
        ("annual", "300.00", "316.00"),
        ("data", "600.00", "100.00"),  # 200 a month at the quarter's end
        ("eng", "900.00", "211.00"),
        ("platform-q", "900.00", "100.00"),
    ]
    assert quarter["notes"] == ["EUR converted to USD at 1.1 (since 2026-01-01)"]
    september = _json(cli, "budget", "report", "--period", "2026-09")
    assert [(r["budget"], r["budget_amount"], r["actual"]) for r in september["rows"]] == [
        ("annual", "100.00", "0.00"),
        ("data", "150.00", "0.00"),  # before the first amendment
        ("eng", "300.00", "0.00"),
        ("platform-q", "300.00", "0.00"),
    ]
    table = _ok(cli, "budget", "report", "--period", "2026-10")
    assert "Budget vs actual by budget, 2026-10 (2026-10-01 to 2026-10-31)" in table
    assert "platform-q" in table and "-216.00" in table and "-216.0%" in table
    assert "Exchange rates: EUR converted to USD at 1.1 (since 2026-01-01)" in table


def test_cost_center_report_in_one_currency(
    cli: RunCli, costs: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _report_budgets(cli, costs)
    without = cli("budget", "report", "--period", "2026-10", "--by", "cost-center", "--format", "csv")
    assert without.code == 0, without.err
    assert "2026-10,eng,cc-eng,USD,300.00,200.00,100.00,33.3" in without.out.splitlines()
    assert without.err == "note: 10.00 EUR not counted: no EUR→USD rate in the config\n"

    _config(clean_env, tmp_path, RATES_TOML)
    result = cli("budget", "report", "--period", "2026-10", "--by", "cost-center", "--format", "csv")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "period,budget,cost_center,currency,budget_amount,actual,variance,variance_pct",
        "2026-10,data,cc-data,USD,180.00,100.00,80.00,44.4",
        "2026-10,eng,cc-eng,USD,300.00,211.00,89.00,29.7",  # 200 USD and 10 EUR at 1.10
        "2026-10,,(untagged),USD,0.00,5.00,-5.00,",
    ]
    assert result.err == "note: EUR converted to USD at 1.1 (since 2026-01-01)\n"
    document = _json(
        cli, "budget", "report", "--period", "2026-10", "--by", "cost_center", "--currency", "eur"
    )
    assert (document["by"], document["currency"]) == ("cost-center", "EUR")
    assert [(r["cost_center"], r["currency"], r["budget_amount"], r["actual"]) for r in document["rows"]] == [
        ("cc-data", "EUR", "163.64", "90.91"),  # 180 and 100 USD at 1 / 1.10
        ("cc-eng", "EUR", "272.73", "191.82"),  # 200 USD at 1 / 1.10, and 10 EUR
        ("(untagged)", "EUR", "0.00", "4.55"),
    ]
    table = _ok(cli, "budget", "report", "--period", "2026-10", "--by", "cost-center")
    assert "Budget vs actual by cost center, 2026-10" in table
    assert "(untagged)" in table and "211.00" in table
    assert "Exchange rates: EUR converted to USD at 1.1 (since 2026-01-01)" in table
