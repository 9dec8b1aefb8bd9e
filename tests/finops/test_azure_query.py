"""The Cost Management Query API (`azure://`): the real azure-mgmt-costmanagement client against a
local server replaying recorded answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from finops.connectors import azure_query
from finops.errors import UserError
from finops.sources import Access
from jobs.ingest import ingest
from storage.costs import source_totals, stored_totals
from storage.db import unit_of_work
from tests.fakes.azure import RECORDED, FakeCostManagement, cost_management

SUBSCRIPTION = "5d4c3b2a-0000-4000-8000-0000000000c1"
LOCATION = f"azure://subscriptions/{SUBSCRIPTION}?type=ActualCost&from=2026-10-01&to=2026-10-31"
QUERY_PATH = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CostManagement/query"
THROTTLED = {"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "1"}


@pytest.fixture
def fake() -> Iterator[FakeCostManagement]:
    with cost_management() as server:
        yield server


def _access(fake: FakeCostManagement) -> Access:
    return Access(azure_endpoint=fake.endpoint, azure_token="recorded-token")


def _recorded_total(*recordings: str) -> Decimal:
    """The sum of the recorded rows' cost, read from the recordings themselves (9 decimals kept)."""
    total = Decimal(0)
    for name in recordings:
        properties = json.loads((RECORDED / name).read_text(), parse_float=Decimal)["properties"]
        cost = [column["name"] for column in properties["columns"]].index("Cost")
        total += sum((Decimal(row[cost]).quantize(Decimal("1e-9")) for row in properties["rows"]), Decimal(0))
    return total


async def _totals(engine: AsyncEngine) -> tuple[dict[object, Decimal], dict[object, Decimal]]:
    async with unit_of_work(engine) as session:
        return dict(await stored_totals(session)), dict(await source_totals(session))


async def test_two_pages_after_a_throttled_first_try_reconcile(
    engine: AsyncEngine, fake: FakeCostManagement
) -> None:
    fake.reply("throttled.json", status=429, headers=THROTTLED)
    fake.reply("actual-page1.json")
    fake.reply("actual-page2.json")
    started = time.monotonic()
    result = await ingest(engine, LOCATION, access=_access(fake))
    assert time.monotonic() - started >= 1  # waited as the throttling header asked
    assert (result.format, result.files, result.rows_read) == ("azure-export", 1, 7)
    first, retried, second = fake.requests
    assert (first.path, first.query, first.body) == (retried.path, retried.query, retried.body)
    for seen in fake.requests:
        assert (seen.method, seen.path, seen.query["api-version"]) == ("POST", QUERY_PATH, "2025-03-01")
        assert seen.headers["authorization"] == "Bearer recorded-token"
        assert seen.body["type"] == "ActualCost"
        assert seen.body["timeframe"] == "Custom"
        assert seen.body["timePeriod"] == {
            "from": "2026-10-01T00:00:00+00:00",
            "to": "2026-10-31T23:59:59+00:00",
        }
        assert seen.body["dataset"]["granularity"] == "Daily"
        assert seen.body["dataset"]["aggregation"] == {"totalCost": {"name": "Cost", "function": "Sum"}}
        assert [g["name"] for g in seen.body["dataset"]["grouping"]] == list(azure_query.GROUPING)
    assert second.query["$skiptoken"] == "AQAAAA=="
    stored, raw = await _totals(engine)
    want = _recorded_total("actual-page1.json", "actual-page2.json")
    assert want == Decimal("77.583537001")
    key = ("azure", SUBSCRIPTION, date(2026, 10, 1), "USD")
    for totals in (stored, raw):  # storage keeps 6 decimals: equal to the cent, 0.00%
        assert totals.keys() == {key}
        assert totals[key].quantize(Decimal("0.01")) == want.quantize(Decimal("0.01"))
        assert abs(totals[key] - want) < Decimal("1e-5")


async def test_the_same_answer_twice_is_a_no_op(engine: AsyncEngine, fake: FakeCostManagement) -> None:
    for _ in range(2):
        fake.reply("actual-page1.json")
        fake.reply("actual-page2.json")
    assert not (await ingest(engine, LOCATION, access=_access(fake))).load.skipped
    again = await ingest(engine, LOCATION, access=_access(fake))
    assert again.load.skipped
    assert len(fake.requests) == 4  # asked again: only the answer tells whether anything changed


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (403, "forbidden.json", r"answered 403 \(\(AuthorizationFailed\).*Cost Management Reader"),
        (404, None, r"answered 404 .*no such scope"),
        (200, None, r"malformed JSON"),
    ],
)
async def test_bad_answers_are_user_errors_and_write_nothing(
    engine: AsyncEngine, fake: FakeCostManagement, status: int, body: str | None, message: str
) -> None:
    if body:
        fake.reply(body, status=status)
    elif status == 404:
        fake.reply_text('{"error": {"code": "NotFound", "message": "scope not found"}}', status=404)
    else:
        fake.reply_text('{"properties": {"columns": [', status=200)
    with pytest.raises(UserError, match=rf"^{LOCATION.replace('?', '[?]')}: .*{message}"):
        await ingest(engine, LOCATION, access=_access(fake))
    assert await _totals(engine) == ({}, {})


def test_throttling_gives_up_after_a_few_tries(fake: FakeCostManagement) -> None:
    for _ in range(azure_query.RETRIES + 1):
        fake.reply("throttled.json", status=429, headers={"Retry-After": "0"})
    with pytest.raises(UserError, match=r"answered 429 .*try again later"):
        azure_query.fetch(LOCATION, _access(fake))
    assert len(fake.requests) == azure_query.RETRIES + 1


def test_amortized_queries_group_by_pricing_model(fake: FakeCostManagement) -> None:
    fake.reply("actual-page2.json")
    [file] = azure_query.fetch(LOCATION.replace("ActualCost", "AmortizedCost"), _access(fake))
    [seen] = fake.requests
    assert seen.body["type"] == "AmortizedCost"
    assert [g["name"] for g in seen.body["dataset"]["grouping"]][-1] == "PricingModel"
    assert file.format == "azure-export"


def test_locations_and_their_defaults() -> None:
    query = azure_query.parse(
        "azure://providers/Microsoft.Billing/billingAccounts/8611537", today=date(2026, 11, 15)
    )
    assert query == azure_query.Query(
        "providers/Microsoft.Billing/billingAccounts/8611537",
        "ActualCost",
        date(2026, 10, 1),
        date(2026, 11, 15),
    )
    assert query.billing_account == "8611537"
    assert list(azure_query.months(query.start, query.end)) == [
        (date(2026, 10, 1), date(2026, 10, 31)),
        (date(2026, 11, 1), date(2026, 11, 15)),
    ]
    for bad, message in [
        ("azure://", "name a scope"),
        (f"{LOCATION}&granularity=Monthly", "unknown parameter"),
        (LOCATION.replace("ActualCost", "Usage"), "type must be ActualCost or AmortizedCost"),
        (LOCATION.replace("2026-10-31", "31/10/2026"), "is not a date"),
        (LOCATION.replace("2026-10-01", "2026-10-15"), "from must be the first day of a month"),
    ]:
        with pytest.raises(UserError, match=message):
            azure_query.parse(bad)


def test_the_token_goes_only_over_https() -> None:
    with pytest.raises(UserError, match="must be an https:// URL"):
        azure_query.fetch(LOCATION, Access(azure_endpoint="http://management.example.com", azure_token="t"))
