from __future__ import annotations

from datetime import date
from decimal import Decimal

from finops import normalise
from finops.focus import normalise_provider
from tests.factories import frame, item


def test_rollup_sums_line_items_per_day_and_dimension_set() -> None:
    items = frame(
        item("2026-03-01T00:00:00", "1.000001", tags={"user:team": "data"}),
        item("2026-03-01T13:00:00", "2.000002", tags={"user:team": "data"}),  # hourly item, same day
        item("2026-03-01T00:00:00", "5", tags={"user:team": "web"}),
        item("2026-03-02T00:00:00", "7", tags={"user:team": "data"}),
    )
    daily = normalise.rollup(items)
    assert len(daily) == 3
    first = daily[(daily.usage_date == date(2026, 3, 1)) & (daily.team == "data")].iloc[0]
    assert first.billed_cost == Decimal("3.000003")
    assert isinstance(first.billed_cost, Decimal)
    assert first.provider == "aws"
    assert first.billing_period_start == date(2026, 3, 1)
    assert first.tags == {"user:team": "data"}
    assert sum(daily.billed_cost, Decimal(0)) == Decimal("15.000003")


def test_charge_days_are_utc_days() -> None:
    # 23:30 at UTC-5 is the next day in UTC.
    items = frame(item("2026-03-01T23:30:00-05:00", "1"))
    assert normalise.rollup(items).iloc[0].usage_date == date(2026, 3, 2)


def test_tag_aliases_first_present_wins_and_are_configurable() -> None:
    tags = {"Team": "payments", "user:team": "ignored", "env": "prod", "CostCenter": "CC-1"}
    found = normalise.tag_dimensions(tags, normalise.DEFAULT_TAG_ALIASES)
    assert found == {"team": "payments", "environment": "prod", "cost_center": "CC-1"}
    custom = normalise.tag_dimensions({"squad": "ml"}, {"team": ["squad"]})
    assert custom == {"team": "ml", "environment": None, "cost_center": None}


def test_untagged_and_missing_dimensions_stay_null() -> None:
    daily = normalise.rollup(
        frame(item("2026-03-01", "1", region=None), item("2026-03-01", "2", region=None))
    )
    assert len(daily) == 1
    row = daily.iloc[0]
    assert row.region is None and row.team is None and row.tags == {}
    assert row.billed_cost == Decimal("3")


def test_raw_totals_per_account_period_and_currency() -> None:
    items = frame(
        item("2026-02-28", "1.5", effective="1.2", list_cost="2"),
        item("2026-03-01", "2.5"),
        item("2026-03-01", "10", provider="Microsoft", account="ea-1", currency="EUR"),
    )
    totals = normalise.raw_totals(items)
    assert [(t.provider, t.billing_account, t.billing_period_start, t.currency, t.rows) for t in totals] == [
        ("aws", "111111111111", date(2026, 2, 1), "USD", 1),
        ("aws", "111111111111", date(2026, 3, 1), "USD", 1),
        ("azure", "ea-1", date(2026, 3, 1), "EUR", 1),
    ]
    assert (totals[0].billed_cost, totals[0].effective_cost, totals[0].list_cost) == (
        Decimal("1.5"),
        Decimal("1.2"),
        Decimal("2"),
    )


def test_fingerprint_follows_content() -> None:
    a = frame(item("2026-03-01", "1"))
    assert normalise.fingerprint(a) == normalise.fingerprint(frame(item("2026-03-01", "1")))
    assert normalise.fingerprint(a) != normalise.fingerprint(frame(item("2026-03-01", "1.01")))


def test_provider_names_are_normalised() -> None:
    assert normalise_provider("Amazon Web Services") == "aws"
    assert normalise_provider("Microsoft") == "azure"
    assert normalise_provider("Google  Cloud") == "gcp"
    assert normalise_provider("Oracle") == "oci"
    assert normalise_provider("Snowflake") == "snowflake"


def test_resources_are_rolled_up_per_billing_period_and_resource() -> None:
    def batch(cost: str) -> list[dict[str, object]]:
        return [
            item("2026-03-01", cost, resource="i-1", tags={"team": "data"}, effective="1"),
            item("2026-03-02", cost, resource="i-1", tags={"team": "data"}),
            item("2026-03-02", "9", resource="i-1", tags={}),  # another tag set: its own row
            item("2026-03-02", "100", resource=None),  # no ResourceId: not kept
            item("2026-03-02", "100", resource=""),
            item("2026-04-01", cost, resource="i-1", tags={"team": "data"}),  # the next period
        ]

    first = normalise.partials(frame(*batch("1.5")))
    second = normalise.partials(frame(*batch("2")))
    assert first.resources is not None and second.resources is not None
    rows = normalise.finish_resources(normalise.combine_resources([first.resources, second.resources]))
    found = [
        (r.billing_period_start.isoformat(), r.resource_id, r.team, r.tags, r.billed_cost, r.effective_cost)
        for r in rows.itertuples()
    ]
    assert found == [
        ("2026-03-01", "i-1", "data", {"team": "data"}, Decimal("7"), Decimal("5.5")),
        ("2026-03-01", "i-1", None, {}, Decimal("18"), Decimal("18")),
        ("2026-04-01", "i-1", "data", {"team": "data"}, Decimal("3.5"), Decimal("3.5")),
    ]
    assert (rows.iloc[0].provider, rows.iloc[0].service, rows.iloc[0].currency) == (
        "aws",
        "Amazon Elastic Compute Cloud",
        "USD",
    )
    assert normalise.partials(frame(item("2026-03-01", "1"))).resources is None
