"""`bigquery://` sources: the real google-cloud-bigquery client against recorded BigQuery REST
answers (tests/fakes/gcp.py), loaded for real and reconciled against the recorded rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from finops.connectors import gcp_bigquery
from finops.errors import UserError
from finops.sources import Access
from jobs.ingest import ingest
from storage.costs import source_totals, stored_totals
from storage.db import unit_of_work
from storage.models import CostDaily, IngestionRun
from tests.fakes.gcp import FakeBigQuery, bigquery_server

TABLE = "billing-admin-4412.billing_export.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
LOCATION = f"bigquery://{TABLE}?month=202609&month=202610"


@pytest.fixture
def fake() -> Iterator[FakeBigQuery]:
    with bigquery_server() as server:
        yield server


def _access(fake: FakeBigQuery) -> Access:
    return Access(bigquery_endpoint=fake.endpoint)


def _cells(fields: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    """A recorded row ({"f": [{"v": ...}]}) by field name, nested records decoded."""
    out = {}
    for field, cell in zip(fields, row["f"], strict=True):
        value = cell["v"]
        if field["type"] == "RECORD" and value is not None:
            if field["mode"] == "REPEATED":
                value = [_cells(field["fields"], item["v"]) for item in value]
            else:
                value = _cells(field["fields"], value)
        out[field["name"]] = value
    return out


def recorded_totals(fake: FakeBigQuery) -> dict[tuple[str, str, date, str], Decimal]:
    totals: defaultdict[tuple[str, str, date, str], Decimal] = defaultdict(Decimal)
    for page in fake.pages:
        for encoded in page["rows"]:
            row = _cells(page["schema"]["fields"], encoded)
            month = row["invoice"]["month"]
            net = Decimal(row["cost"]) + sum((Decimal(c["amount"]) for c in row["credits"]), Decimal(0))
            totals[
                ("gcp", row["billing_account_id"], date(int(month[:4]), int(month[4:]), 1), row["currency"])
            ] += net
    return dict(totals)


async def test_query_pages_load_and_reconcile(engine: AsyncEngine, fake: FakeBigQuery) -> None:
    result = await ingest(engine, LOCATION, access=_access(fake))
    assert (result.format, result.files, result.rows_read) == ("gcp-export", 1, 13)
    expected = recorded_totals(fake)
    assert expected == {
        ("gcp", "01A2B3-C4D5E6-F7A8B9", date(2026, 10, 1), "USD"): Decimal("55.351247"),
        ("gcp", "01A2B3-C4D5E6-F7A8B9", date(2026, 9, 1), "USD"): Decimal("42.30"),
    }
    async with unit_of_work(engine) as session:
        assert await stored_totals(session) == expected
        assert await source_totals(session) == expected
        teams = await session.execute(
            select(CostDaily.team, func.sum(CostDaily.billed_cost))
            .where(CostDaily.billing_period_start == date(2026, 10, 1))
            .group_by(CostDaily.team)
        )
        assert dict(teams.tuples().all())["web"] == Decimal("37.987654")

    [query] = fake.queries()
    assert f"FROM `{TABLE}`" in query["query"]
    assert "WHERE invoice.month IN UNNEST(@months)" in query["query"]
    assert "system_labels" not in query["query"]  # only the columns the connector reads
    assert query["parameterMode"] == "NAMED"
    [parameter] = query["queryParameters"]
    assert parameter["name"] == "months"
    assert [v["value"] for v in parameter["parameterValue"]["arrayValues"]] == ["202609", "202610"]
    pages = [r.query.get("pageToken") for r in fake.requests if "/queries/" in r.path]
    assert pages == [None, [fake.pages[0]["pageToken"]]]  # two result pages, the second by its token


async def test_the_same_answer_twice_is_a_no_op(engine: AsyncEngine, fake: FakeBigQuery) -> None:
    first = await ingest(engine, LOCATION, access=_access(fake))
    again = await ingest(engine, LOCATION, access=_access(fake))
    assert (first.load.skipped, again.load.skipped) == (False, True)
    async with unit_of_work(engine) as session:
        runs = await session.scalar(select(func.count()).select_from(IngestionRun))
    assert runs == 2  # one per billing period of the first load; none for the second


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            "billing-admin-4412.billing_export.missing_table",
            r"not found \(Not found: Table billing-admin-4412:billing_export\.missing_table\); check the project",
        ),
        ("billing-admin-4412.locked.gcp_billing_export_v1_X", r"access denied \(Access Denied: Table"),
    ],
)
async def test_bad_answers_are_user_errors_and_write_nothing(
    engine: AsyncEngine, fake: FakeBigQuery, table: str, message: str
) -> None:
    fake.denied.add("billing-admin-4412.locked.gcp_billing_export_v1_X")
    with pytest.raises(UserError, match=rf"^bigquery://{table}\?months=2: {message}"):
        await ingest(engine, f"bigquery://{table}?months=2", access=_access(fake))
    assert fake.queries() == []
    async with unit_of_work(engine) as session:
        assert await stored_totals(session) == {}


def test_a_failed_query_job(fake: FakeBigQuery) -> None:
    fake.job_error = {
        "reason": "invalidQuery",
        "location": "query",
        "message": "Unrecognized name: cost_at_list at [1:86]",
    }
    with pytest.raises(UserError, match=r"BigQuery failed \(Unrecognized name: cost_at_list at \[1:86\]\)"):
        gcp_bigquery.fetch(LOCATION, _access(fake))
    assert len(fake.queries()) == 1


def test_a_table_that_is_not_a_billing_export(fake: FakeBigQuery) -> None:
    [table] = fake.tables.values()
    fake.tables["billing-admin-4412.billing_export.orders"] = {
        **table,
        "schema": {"fields": [{"name": "order_id", "type": "STRING"}, {"name": "cost", "type": "FLOAT"}]},
    }
    with pytest.raises(
        UserError, match=r"not a Google Cloud billing export table \(it has no billing_account_id"
    ):
        gcp_bigquery.fetch("bigquery://billing-admin-4412.billing_export.orders", _access(fake))


def test_locations_are_checked_before_any_call() -> None:
    today = date(2026, 1, 10)
    query = gcp_bigquery.parse(f"bigquery://{TABLE}", today)
    assert (query.table, query.months, query.job_project) == (
        TABLE,
        ("202512", "202601"),
        "billing-admin-4412",
    )
    assert gcp_bigquery.parse(f"bigquery://{TABLE}?months=3&project=finops-jobs-01", today).months == (
        "202511",
        "202512",
        "202601",
    )
    assert (
        gcp_bigquery.parse(f"bigquery://{TABLE}?project=finops-jobs-01", today).job_project
        == "finops-jobs-01"
    )
    bad = {
        "bigquery://billing-admin-4412.billing_export": "is not a BigQuery table name",
        "bigquery://p.d.t": "is not a BigQuery table name",
        "bigquery://billing-admin-4412.ds.t` WHERE 1=1; --": "is not a BigQuery table name",
        f"bigquery://{TABLE}?months=0": "months must be a whole number from 1 to 36",
        f"bigquery://{TABLE}?month=2026-10": "'2026-10' is not an invoice month like 202610",
        f"bigquery://{TABLE}?months=2&month=202610": "months=N or month=YYYYMM, not both",
        f"bigquery://{TABLE}?since=202601": "unknown option",
        f"bigquery://{TABLE}?project=Bad_Project": "is not a Google Cloud project id",
    }
    for location, message in bad.items():
        with pytest.raises(UserError, match=message):
            gcp_bigquery.fetch(location, Access(bigquery_endpoint="http://127.0.0.1:9"))
