"""AWS Cost Explorer (`aws-ce://`): daily cost by linked account, region and service (and one tag),
for accounts without a Cost and Usage Report.

    finops-bot ingest "aws-ce://?months=2&tag=team"

Cost Explorer groups by two keys at most, so the answer is taken in slices: one query finds the
(linked account, region) pairs with cost, then one query per pair groups by service (and the tag).
Whole calendar months are fetched (default: this month and the last), so a load replaces whole
billing periods. BilledCost is `UnblendedCost`, EffectiveCost `AmortizedCost`. Cost Explorer nets
credits and refunds into each service and has no billing period, so ChargeCategory is Usage
(Tax for the Tax service) and the billing period is the calendar month. Each query costs
$0.01: scheduled sources poll every 6 hours unless told otherwise.

The answer is kept as one JSON file (`sources.fetched`) that `batches` reads like an export, so
the same answer twice is a no-op and reconciliation compares against what the API said.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyarrow as pa

from finops import focus, lineitems, sources
from finops.connectors import register
from finops.errors import UserError
from finops.lineitems import Where
from finops.sources import Access, SourceFile

NAME = "aws-cost-explorer"
SCHEME = "aws-ce"
METRICS = ("UnblendedCost", "AmortizedCost")
MAX_MONTHS = 13  # how far back Cost Explorer keeps daily data
NO_REGION = ("NoRegion", "")


def window(months: int, today: date) -> tuple[date, date]:
    """The first day of the month `months - 1` before today's, and tomorrow (End is exclusive)."""
    year, month = divmod(today.year * 12 + today.month - 1 - (months - 1), 12)
    return date(year, month + 1, 1), today + timedelta(days=1)


def options(location: str) -> tuple[int, str | None]:
    """`aws-ce://?months=N&tag=KEY` -> (months, tag key)."""
    query = parse_qs(urlparse(location).query)
    unknown = sorted(set(query) - {"months", "tag"})
    if unknown:
        raise UserError(f"{location}: unknown option(s) {', '.join(unknown)}; use months=N and tag=KEY")
    try:
        months = int(query.get("months", ["2"])[-1])
    except ValueError:
        months = 0
    if not 1 <= months <= MAX_MONTHS:
        raise UserError(f"{location}: months must be a whole number from 1 to {MAX_MONTHS}")
    return months, query.get("tag", [None])[-1]


def _pages(ce: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ResultsByTime of one query, following NextPageToken."""
    results: list[dict[str, Any]] = []
    token = None
    while True:
        answer = ce.get_cost_and_usage(**request, **({"NextPageToken": token} if token else {}))
        results.extend(answer.get("ResultsByTime", []))
        token = answer.get("NextPageToken")
        if not token:
            return results


def _pairs(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The (linked account, region) pairs that have any cost."""
    found = set()
    for period in results:
        for group in period.get("Groups", []):
            if any(Decimal(m.get("Amount") or "0") for m in group.get("Metrics", {}).values()):
                account, region = group["Keys"]
                found.add((account, region))
    return sorted(found)


def fetch(location: str, access: Access, today: date | None = None) -> list[SourceFile]:
    import boto3  # only API sources need it here

    months, tag = options(location)
    start, end = window(months, today or datetime.now(UTC).date())
    base = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": list(METRICS),
    }
    try:
        ce = boto3.client("ce", region_name="us-east-1")
        payer = boto3.client("sts").get_caller_identity()["Account"]
        found = _pairs(
            _pages(
                ce,
                {
                    **base,
                    "GroupBy": [
                        {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                        {"Type": "DIMENSION", "Key": "REGION"},
                    ],
                },
            )
        )
        group_by = [{"Type": "DIMENSION", "Key": "SERVICE"}] + ([{"Type": "TAG", "Key": tag}] if tag else [])
        slices = [
            {
                "account": account,
                "region": region,
                "results": _pages(
                    ce,
                    {
                        **base,
                        "GroupBy": group_by,
                        "Filter": {
                            "And": [
                                {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [account]}},
                                {"Dimensions": {"Key": "REGION", "Values": [region]}},
                            ]
                        },
                    },
                ),
            }
            for account, region in found
        ]
    except Exception as exc:  # botocore's errors: no credentials, access denied, throttling, network
        raise UserError(
            f"cannot query Cost Explorer for {location}: {exc}; check the credentials and that they "
            "allow ce:GetCostAndUsage (Cost Explorer must be enabled on the account)"
        ) from exc
    answer = {"payer": payer, "tag": tag, "period": base["TimePeriod"], "slices": slices}
    return [sources.fetched(location, NAME, [json.dumps(answer, sort_keys=True).encode()])]


class CostExplorerConnector:
    name = NAME

    def sniff(self, columns: Sequence[str]) -> bool:
        return False  # never a file's header: its answers arrive named (`sources.fetched`)

    def batches(self, file: SourceFile, batch_rows: int = 200_000) -> Iterator[pa.Table]:
        with file.open() as stream:
            try:
                answer = json.loads(stream.read())
                rows = list(_rows(answer))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise UserError(f"{file.location} is not a Cost Explorer answer ({exc!r})") from None
        for offset in range(0, max(len(rows), 1), batch_rows):
            chunk = rows[offset : offset + batch_rows]
            if chunk:
                names = list(chunk[0])
                table = pa.table({name: [row[name] for row in chunk] for name in names})
                yield lineitems.conform(table, Where(file.location, offset))


def _rows(answer: dict[str, Any]) -> Iterator[dict[str, str | None]]:
    tag = answer.get("tag")
    for piece in answer["slices"]:
        region = None if piece["region"] in NO_REGION else piece["region"]
        for period in piece["results"]:
            day = period["TimePeriod"]["Start"]
            for group in period.get("Groups", []):
                keys = group["Keys"]
                billed, effective = (group["Metrics"][metric] for metric in METRICS)
                tags = {}
                if tag and len(keys) > 1 and keys[1].partition("$")[2]:
                    tags[tag] = keys[1].partition("$")[2]
                yield {
                    focus.PROVIDER_NAME: "AWS",
                    focus.BILLING_ACCOUNT_ID: answer["payer"],
                    focus.SUB_ACCOUNT_ID: piece["account"],
                    focus.REGION_ID: region,
                    focus.SERVICE_NAME: keys[0],
                    focus.CHARGE_CATEGORY: "Tax" if keys[0] == "Tax" else "Usage",
                    focus.BILLING_PERIOD_START: day[:8] + "01",
                    focus.CHARGE_PERIOD_START: day,
                    focus.CHARGE_PERIOD_END: period["TimePeriod"]["End"],
                    focus.BILLING_CURRENCY: billed["Unit"],
                    focus.BILLED_COST: billed["Amount"],
                    focus.EFFECTIVE_COST: effective["Amount"],
                    focus.TAGS: json.dumps(tags) if tags else None,
                }


register(CostExplorerConnector())
sources.register_scheme(SCHEME, fetch)
