"""aws-cost-explorer: the real boto3 Cost Explorer client against moto's server (canned results),
through the real loader, reconciled against the amounts the API answered."""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import boto3
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from finops.connectors import aws_cost_explorer as ce
from finops.errors import UserError
from finops.sources import Access
from jobs.ingest import ingest
from storage.db import unit_of_work
from storage.models import CostDaily

TODAY = date(2026, 11, 2)
PAYER = "123456789012"  # moto's account


def _money(amount: str) -> dict[str, str]:
    return {"Amount": amount, "Unit": "USD"}


def _day(day: str, groups: list[tuple[list[str], str, str]], estimated: bool = False) -> dict[str, Any]:
    end = date.fromisoformat(day).toordinal() + 1
    return {
        "TimePeriod": {"Start": day, "End": date.fromordinal(end).isoformat()},
        "Total": {},
        "Groups": [
            {"Keys": keys, "Metrics": {"UnblendedCost": _money(billed), "AmortizedCost": _money(amortised)}}
            for keys, billed, amortised in groups
        ],
        "Estimated": estimated,
    }


# What Cost Explorer answers, in the order the connector asks: the (account, region) pairs, in
# two pages, then one query per pair (sorted), grouped by service and the `team` tag.
PAIRS: list[dict[str, Any]] = [
    {
        "ResultsByTime": [_day("2026-10-31", [(["111111111111", "us-east-1"], "10", "10")])],
        "NextPageToken": "page-2",
    },
    {
        "ResultsByTime": [
            _day(
                "2026-11-01",
                [
                    (["111111111111", "eu-west-1"], "3.3", "3.3"),
                    (["222222222222", "NoRegion"], "4.5", "4.5"),
                    (["222222222222", "us-west-2"], "0", "0"),  # no cost: not queried
                ],
            )
        ]
    },
]
SLICES: list[dict[str, Any]] = [
    # 111111111111 / eu-west-1
    {
        "ResultsByTime": [
            _day("2026-11-01", [(["Amazon Simple Storage Service", "team$data"], "3.30", "3.30")])
        ]
    },
    # 111111111111 / us-east-1
    {
        "ResultsByTime": [
            _day(
                "2026-10-31",
                [
                    (["Amazon Elastic Compute Cloud - Compute", "team$payments"], "7.1234567891", "6.5"),
                    (["Amazon Elastic Compute Cloud - Compute", "team$"], "2.8765432109", "2.8765432109"),
                    (["Savings Plans for AWS Compute usage", "team$"], "-0.5", "0"),
                ],
            )
        ]
    },
    # 222222222222 / NoRegion: tax and a credit netted into support
    {
        "ResultsByTime": [
            _day(
                "2026-11-01",
                [(["Tax", "team$"], "5.0", "5.0"), (["AWS Support (Business)", "team$"], "-0.5", "-0.5")],
                estimated=True,
            )
        ]
    },
]


def _queue(endpoint: str, results: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(  # noqa: S310 - moto on localhost
        f"{endpoint}/moto-api/static/ce/cost-and-usage-results",
        data=json.dumps({"results": results}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()  # noqa: S310 - moto on localhost


@pytest.fixture
def requests(aws: str) -> Iterator[list[dict[str, Any]]]:
    """The GetCostAndUsage requests the real client sends (botocore's own event hook)."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("provide-client-params.ce.GetCostAndUsage", record)
    yield seen
    boto3.DEFAULT_SESSION = None


def _answer(day: date = TODAY) -> list[Any]:
    return ce.fetch("aws-ce://?tag=team", Access(), today=day)


def test_queries_are_whole_months_in_slices_of_two_keys(aws: str, requests: list[dict[str, Any]]) -> None:
    _queue(aws, [*PAIRS, *SLICES])
    [file] = _answer()
    assert file.format == "aws-cost-explorer"
    first, second, *per_pair = requests
    assert first["TimePeriod"] == {"Start": "2026-10-01", "End": "2026-11-03"}
    assert first["Granularity"] == "DAILY" and first["Metrics"] == ["UnblendedCost", "AmortizedCost"]
    assert [g["Key"] for g in first["GroupBy"]] == ["LINKED_ACCOUNT", "REGION"]
    assert second["NextPageToken"] == "page-2"
    assert [[f["Dimensions"]["Values"][0] for f in r["Filter"]["And"]] for r in per_pair] == [
        ["111111111111", "eu-west-1"],
        ["111111111111", "us-east-1"],
        ["222222222222", "NoRegion"],
    ]
    assert per_pair[0]["GroupBy"] == [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "team"}]


async def test_cost_explorer_loads_and_reconciles_with_the_answer(aws: str, engine: AsyncEngine) -> None:
    _queue(aws, [*PAIRS, *SLICES])
    result = await ingest(engine, "aws-ce://?tag=team")
    assert (result.format, result.source) == ("aws-cost-explorer", "aws-ce://")  # options aren't the name
    expected: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for page in SLICES:
        for period in page["ResultsByTime"]:
            for group in period["Groups"]:
                day = date.fromisoformat(period["TimePeriod"]["Start"])
                expected[(PAYER, day.replace(day=1))] += Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
    assert {(t.billing_account, t.billing_period_start): t.billed_cost for t in result.totals} == expected
    async with unit_of_work(engine) as session:
        stored = await session.execute(
            select(CostDaily.billing_period_start, func.sum(CostDaily.billed_cost)).group_by(
                CostDaily.billing_period_start
            )
        )
        assert {(PAYER, p): Decimal(v) for p, v in stored.tuples()} == {
            k: v.quantize(Decimal("0.000001")) for k, v in expected.items()
        }
        rows = await session.execute(
            select(
                CostDaily.sub_account,
                CostDaily.region,
                CostDaily.service,
                CostDaily.charge_category,
                CostDaily.team,
                CostDaily.billed_cost,
                CostDaily.effective_cost,
            ).order_by(CostDaily.billed_cost)
        )
        got = rows.tuples().all()
    assert ("222222222222", None, "Tax", "Tax", None, Decimal("5"), Decimal("5")) in got
    assert (
        "111111111111",
        "us-east-1",
        "Amazon Elastic Compute Cloud - Compute",
        "Usage",
        "payments",
        Decimal("7.123457"),
        Decimal("6.5"),
    ) in got

    _queue(aws, [])  # moto answers the same requests the same way: an unchanged answer is a no-op
    assert (await ingest(engine, "aws-ce://?tag=team")).load.skipped


def test_bad_locations_and_denied_access_are_user_errors(aws: str, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="months must be a whole number from 1 to 13"):
        ce.fetch("aws-ce://?months=40", Access())
    with pytest.raises(UserError, match=r"unknown option.*granularity"):
        ce.fetch("aws-ce://?granularity=hourly", Access())
    clean_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(UserError, match=r"cannot query Cost Explorer for aws-ce://: .*ce:GetCostAndUsage"):
        ce.fetch("aws-ce://", Access())


def test_window_is_whole_months_up_to_tomorrow() -> None:
    assert ce.window(1, date(2026, 3, 1)) == (date(2026, 3, 1), date(2026, 3, 2))
    assert ce.window(2, date(2026, 1, 15)) == (date(2025, 12, 1), date(2026, 1, 16))
    assert ce.window(13, date(2026, 11, 30)) == (date(2025, 11, 1), date(2026, 12, 1))
