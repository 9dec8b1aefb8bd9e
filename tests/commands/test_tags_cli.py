"""`finops-bot tags report` after ingesting a small FOCUS export with ResourceIds; the figures are
worked out here from the export's rows."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli_runner import RunCli

HEADER = ("BillingAccountId", "BillingCurrency", "BillingPeriodStart", "ChargePeriodStart", "ProviderName")
HEADER += ("ServiceName", "ResourceId", "BilledCost", "Tags")
DATA = {"owner": "ann", "cost-center": "cc1", "team": "data"}
LINES = (
    ("111", "USD", "2026-10-01", "2026-10-02", "AWS", "EC2", "i-1", "100.00", DATA),
    (
        "111",
        "USD",
        "2026-10-01",
        "2026-10-03",
        "AWS",
        "EC2",
        "i-2",
        "40.50",
        {"owner": "bob", "team": "data"},
    ),
    ("222", "USD", "2026-10-01", "2026-10-04", "AWS", "S3", "b-1", "25.25", {"team": "web"}),
    ("222", "USD", "2026-10-01", "2026-10-05", "AWS", "S3", "b-1", "4.75", {"team": "web", "owner": ""}),
    ("222", "USD", "2026-10-01", "2026-10-06", "AWS", "Support", "", "60.00", {}),  # no ResourceId
    ("111", "USD", "2026-09-01", "2026-09-10", "AWS", "EC2", "i-1", "80.00", DATA),
    ("111", "USD", "2026-09-01", "2026-09-11", "AWS", "EC2", "i-2", "20.00", {}),
)


def _export() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows([*line[:-1], json.dumps(line[-1])] for line in LINES)
    return out.getvalue()


REQUIRED = ("owner", "cost-center")


def _rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_export())))


def _compliant(row: dict[str, str]) -> bool:
    tags = json.loads(row["Tags"])
    return all(tags.get(key) for key in REQUIRED)


def _sum(rows: list[dict[str, str]]) -> Decimal:
    return sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0))


def _pct(part: Decimal, whole: Decimal) -> str:
    return str((part / whole * 100).quantize(Decimal("0.1")))


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text("tags:\n  required: [owner, cost-center]\n")
    return path


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "focus-2026-10.csv"
    path.write_text(_export())
    return path


def test_report_json_from_an_ingested_export(
    cli: RunCli, database_url: str, export: Path, policy: Path
) -> None:
    assert cli("ingest", str(export), database_url=database_url).code == 0
    result = cli("tags", "report", "--month", "2026-10", "--months", "2", "--policy", str(policy), "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert {k: document[k] for k in ("month", "start", "end", "cost", "required", "by")} == {
        "month": "2026-10",
        "start": "2026-10-01",
        "end": "2026-10-31",
        "cost": "billed_cost",
        "required": list(REQUIRED),
        "by": "team",
    }
    [usd] = document["currencies"]
    october = [r for r in _rows() if r["ChargePeriodStart"].startswith("2026-10")]
    good = [r for r in october if _compliant(r)]
    total, compliant = _sum(october), _sum(good)
    assert Decimal(usd["total"]) == total and Decimal(usd["compliant"]) == compliant
    assert Decimal(usd["untagged"]) == total - compliant
    assert usd["score_pct"] == _pct(compliant, total)
    for entry, key in zip(usd["keys"], REQUIRED, strict=True):
        tagged = _sum([r for r in october if json.loads(r["Tags"]).get(key)])
        assert (entry["key"], Decimal(entry["tagged"]), entry["share_pct"]) == (
            key,
            tagged,
            _pct(tagged, total),
        )

    untagged: dict[str, Decimal] = defaultdict(Decimal)
    for r in october:
        if not _compliant(r):
            untagged[r["BillingAccountId"]] += Decimal(r["BilledCost"])
    assert [(a["billing_account"], Decimal(a["amount"])) for a in usd["untagged_by_account"]] == sorted(
        untagged.items(), key=lambda kv: -kv[1]
    )
    # Resources: only rows with a ResourceId (the Support charge has none).
    resources: dict[str, Decimal] = defaultdict(Decimal)
    for r in october:
        if r["ResourceId"] and not _compliant(r):
            resources[r["ResourceId"]] += Decimal(r["BilledCost"])
    assert [
        (x["resource_id"], Decimal(x["amount"]), x["missing"]) for x in usd["top_untagged_resources"]
    ] == [
        ("i-2", resources["i-2"], ["cost-center"]),
        ("b-1", resources["b-1"], ["owner", "cost-center"]),
    ]
    teams = {g["value"]: (Decimal(g["total"]), g["score_pct"]) for g in usd["groups"]}
    assert teams == {
        "data": (Decimal("140.50"), _pct(Decimal("100.00"), Decimal("140.50"))),
        "web": (Decimal("30.00"), "0.0"),
        "(untagged)": (Decimal("60.00"), "0.0"),
    }
    assert [g["value"] for g in usd["groups"]] == ["(untagged)", "web", "data"]  # worst, then biggest
    september = [r for r in _rows() if r["ChargePeriodStart"].startswith("2026-09")]
    assert [(m["month"], m["score_pct"]) for m in usd["trend"]] == [
        ("2026-09", _pct(_sum([r for r in september if _compliant(r)]), _sum(september))),
        ("2026-10", usd["score_pct"]),
    ]


def test_report_text(cli: RunCli, tmp_path: Path, export: Path, policy: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'finops.db'}"
    assert cli("ingest", str(export), database_url=url).code == 0
    result = cli("tags", "report", "--month", "2026-10", "--by", "account", "--policy", str(policy))
    assert result.code == 0, result.err
    assert "Tag compliance, October 2026" in result.out
    assert "USD: 43.4% of 230.50 USD carries every required tag; 130.50 USD untagged" in result.out
    assert "By account, worst score first" in result.out and "Top untagged resources" in result.out
    assert "Trend: 2026-05 n/a · 2026-06 n/a · 2026-07 n/a · 2026-08 n/a · 2026-09 80.0% · 2026-10 43.4%" in (
        result.out
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "is not of the form YYYY-MM"),
        (["--by", "colour"], "cannot group by 'colour'; use one of provider, billing_account"),
        (["--top", "0"], "--top"),
        (["--policy", "missing.yml"], "policy file missing.yml does not exist"),
        ([], "no required tags are declared"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    cli: RunCli, tmp_path: Path, policy: Path, args: list[str], message: str
) -> None:
    database = tmp_path / "untouched.db"
    if "--policy" not in args and args:
        args = [*args, "--policy", str(policy)]
    result = cli("tags", "report", *args, database_url=f"sqlite+aiosqlite:///{database}")
    assert result.code == 2, result.out + result.err
    assert result.err.startswith("error:") and message in result.err
    assert result.out == ""
    assert not database.exists()


def test_policy_without_required_tags_from_the_config_file(cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text('[policies.tags]\nallowed = {env = ["prod"]}\n')
    database = tmp_path / "untouched.db"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FINOPS_CONFIG", str(config))
        result = cli("tags", "report", "--json", database_url=f"sqlite+aiosqlite:///{database}")
    assert result.code == 2 and "no required tags are declared" in result.err
    assert not database.exists()
