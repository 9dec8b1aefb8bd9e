from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from statistics import median

import pandas as pd
import pytest

from finops import focus
from finops.errors import UserError
from finops.sample import PlantedAnomaly, SampleOrg, generate, write_focus_files

END = date(2026, 10, 31)
START = date(2025, 10, 1)
TEAM_KEYS = ("user:team", "Team", "team")
ENV_KEYS = ("user:environment", "Environment", "env")


@pytest.fixture(scope="module")
def org() -> SampleOrg:
    return generate(seed=7, end=END)


@pytest.fixture(scope="module")
def written(org: SampleOrg, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_focus_files(org, tmp_path_factory.mktemp("sample") / "exports" / "nested")


@pytest.fixture(scope="module")
def usage(org: SampleOrg) -> pd.DataFrame:
    return org.rows[org.rows[focus.CHARGE_CATEGORY] == "Usage"]


def _total(values: pd.Series) -> Decimal:
    return sum(values, Decimal(0))


def _by_provider(org: SampleOrg) -> dict[str, Decimal]:
    rows = org.rows
    return {
        provider: _total(group[focus.BILLED_COST])
        for provider, group in rows.groupby(focus.PROVIDER_NAME, sort=True)
    }


def _month(rows: pd.DataFrame) -> pd.Series:
    return rows[focus.BILLING_PERIOD_START].dt.strftime("%Y-%m")


def _tag(tags: str, keys: tuple[str, ...]) -> str | None:
    parsed = json.loads(tags)
    return next((parsed[key] for key in keys if key in parsed), None)


def _scope_rows(org: SampleOrg, anomaly: PlantedAnomaly) -> pd.DataFrame:
    rows = org.rows
    scope = anomaly.scope
    mask = (
        (rows[focus.PROVIDER_NAME].map(focus.normalise_provider) == scope["provider"])
        & (rows[focus.BILLING_ACCOUNT_ID] == scope["billing_account"])
        & (rows[focus.SUB_ACCOUNT_ID] == scope["sub_account"])
        & (rows[focus.SERVICE_NAME] == scope["service"])
        & (rows[focus.REGION_ID] == scope["region"])
        & (rows[focus.CHARGE_CATEGORY] == "Usage")
    )
    selected = rows[mask]
    teams = selected[focus.TAGS].map(lambda t: _tag(t, TEAM_KEYS))
    envs = selected[focus.TAGS].map(lambda t: _tag(t, ENV_KEYS))
    return selected[(teams == scope["team"]) & (envs == scope["environment"])]


def _daily(rows: pd.DataFrame) -> dict[date, Decimal]:
    totals: dict[date, Decimal] = defaultdict(Decimal)
    for start, cost in zip(rows[focus.CHARGE_PERIOD_START], rows[focus.BILLED_COST], strict=True):
        totals[start.date()] += cost
    return dict(totals)


def _median_before(daily: dict[date, Decimal], day: date, days: int = 28) -> Decimal:
    before = [daily[day - timedelta(days=n)] for n in range(1, days + 1)]
    return Decimal(median(before))


def _planted(org: SampleOrg, kind: str) -> list[PlantedAnomaly]:
    return [p for p in org.planted if p.kind == kind]


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_rows_and_totals() -> None:
    first, second = generate(seed=7, end=END), generate(seed=7, end=END)
    pd.testing.assert_frame_equal(first.rows, second.rows)
    assert first.planted == second.planted
    cents = Decimal("0.01")
    assert {k: v.quantize(cents) for k, v in _by_provider(first).items()} == {
        k: v.quantize(cents) for k, v in _by_provider(second).items()
    }


def test_different_seed_gives_different_amounts(org: SampleOrg) -> None:
    other = generate(seed=8, end=END)
    totals, other_totals = _by_provider(org), _by_provider(other)
    assert totals.keys() == other_totals.keys()
    assert all(totals[p] != other_totals[p] for p in totals)


# --- shape ---------------------------------------------------------------------------------------


def test_shape_of_the_organisation(org: SampleOrg) -> None:
    rows = org.rows
    assert tuple(rows.columns) == focus.COLUMNS
    assert org.seed == 7
    assert (org.start, org.end) == (START, END)
    assert 40_000 <= len(rows) <= 80_000
    assert set(rows[focus.PROVIDER_NAME]) == {"AWS", "Microsoft", "Google Cloud"}
    assert (rows[focus.PUBLISHER_NAME] == rows[focus.PROVIDER_NAME]).all()
    assert (rows[focus.INVOICE_ISSUER_NAME] == rows[focus.PROVIDER_NAME]).all()
    assert rows[focus.BILLING_ACCOUNT_ID].nunique() >= 4
    assert 12 <= rows[focus.SERVICE_NAME].nunique() <= 18
    assert set(rows[focus.BILLING_CURRENCY]) == {"USD", "EUR"}
    currency = rows.groupby(focus.PROVIDER_NAME)[focus.BILLING_CURRENCY].unique()
    assert [list(currency[p]) for p in ("AWS", "Microsoft", "Google Cloud")] == [["USD"], ["EUR"], ["USD"]]
    assert set(rows[focus.SERVICE_CATEGORY]) <= set(focus.SERVICE_CATEGORIES)


def test_accounts_and_resources_look_real(org: SampleOrg, usage: pd.DataFrame) -> None:
    rows = org.rows
    accounts = rows.groupby(focus.PROVIDER_NAME)[focus.BILLING_ACCOUNT_ID].unique()
    assert len(accounts["AWS"]) == 2
    assert all(re.fullmatch(r"\d{12}", a) for a in accounts["AWS"])
    assert [
        bool(re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", a)) for a in accounts["Microsoft"]
    ] == [True]
    assert [
        bool(re.fullmatch(r"[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}", a)) for a in accounts["Google Cloud"]
    ] == [True]
    prefixes = {"AWS": "arn:aws:", "Microsoft": "/subscriptions/", "Google Cloud": "//"}
    for provider, prefix in prefixes.items():
        ids = usage.loc[usage[focus.PROVIDER_NAME] == provider, focus.RESOURCE_ID]
        assert ids.map(lambda value, p=prefix: value.startswith(p)).all()
    per_day = usage.groupby(focus.CHARGE_PERIOD_START)[focus.RESOURCE_ID].nunique()
    assert 100 <= per_day.max() <= 200
    assert not usage.duplicated([focus.CHARGE_PERIOD_START, focus.RESOURCE_ID]).any()


def test_charge_days_and_billing_periods(org: SampleOrg) -> None:
    rows = org.rows
    starts = rows[focus.CHARGE_PERIOD_START]
    assert str(starts.dt.tz) == "UTC"
    assert str(rows[focus.BILLING_PERIOD_START].dt.tz) == "UTC"
    assert starts.min() == pd.Timestamp(START, tz="UTC")
    assert starts.max() == pd.Timestamp(END, tz="UTC")
    assert (starts == starts.dt.normalize()).all()
    assert (rows[focus.CHARGE_PERIOD_END] - starts == pd.Timedelta(days=1)).all()
    periods = rows[focus.BILLING_PERIOD_START]
    assert periods.nunique() == 13
    assert (periods.dt.year == starts.dt.year).all()
    assert (periods.dt.month == starts.dt.month).all()
    assert (periods.dt.day == 1).all()
    assert (rows[focus.BILLING_PERIOD_END] == periods + pd.offsets.MonthBegin(1)).all()
    assert starts.dt.normalize().nunique() == (END - START).days + 1


def test_money_is_decimal_with_six_places(org: SampleOrg, usage: pd.DataFrame) -> None:
    for column in focus.MONEY_COLUMNS:
        values = org.rows[column]
        assert all(isinstance(v, Decimal) and v.as_tuple().exponent == -6 for v in values), column
    quantities = usage[focus.PRICING_QUANTITY]
    assert all(isinstance(q, Decimal) and q > 0 for q in quantities)
    assert usage[focus.PRICING_UNIT].map(lambda u: isinstance(u, str) and u != "").all()


def test_cost_columns_relate_like_real_exports(usage: pd.DataFrame) -> None:
    billed, effective = usage[focus.BILLED_COST], usage[focus.EFFECTIVE_COST]
    assert (usage[focus.LIST_COST] >= billed).all()
    assert (usage[focus.LIST_COST] > billed).any()
    assert (usage[focus.CONTRACTED_COST] == billed).all()
    assert (effective <= billed).all()
    assert (effective >= billed * Decimal("0.7")).all()
    assert (usage[billed > 0].shape[0]) == len(usage)
    discounted = usage[effective < billed]
    assert set(discounted[focus.SERVICE_CATEGORY]) == {"Compute"}
    assert (usage[focus.CHARGE_FREQUENCY] == "Usage-Based").all()


def test_tags_use_each_providers_spelling(usage: pd.DataFrame) -> None:
    expected = {
        "AWS": {"user:team", "user:environment", "user:cost-center"},
        "Microsoft": {"Team", "Environment", "CostCenter"},
        "Google Cloud": {"team", "env", "cost_center"},
    }
    for provider, keys in expected.items():
        tags = usage.loc[usage[focus.PROVIDER_NAME] == provider, focus.TAGS]
        seen = set().union(*(json.loads(t).keys() for t in tags.unique()))
        assert seen == keys
    sample = usage[focus.TAGS].iloc[0]
    assert sample == json.dumps(json.loads(sample), sort_keys=True, separators=(",", ":"))
    teams = {_tag(t, TEAM_KEYS) for t in usage[focus.TAGS].unique()} - {None}
    assert teams == {"payments", "data", "platform", "web", "ml"}
    environments = {_tag(t, ENV_KEYS) for t in usage[focus.TAGS].unique()} - {None}
    assert environments == {"prod", "staging", "dev"}


@pytest.mark.parametrize("seed", [7, 42, 2024])
def test_untagged_share_of_usage_cost(seed: int) -> None:
    rows = generate(seed=seed, end=END).rows
    usage = rows[rows[focus.CHARGE_CATEGORY] == "Usage"]
    untagged = _total(usage.loc[usage[focus.TAGS] == "{}", focus.BILLED_COST])
    share = untagged / _total(usage[focus.BILLED_COST])
    assert Decimal("0.05") <= share <= Decimal("0.20")


# --- realism -------------------------------------------------------------------------------------


def _weekend_ratio(rows: pd.DataFrame) -> Decimal:
    daily = _daily(rows)
    weekend = [v for d, v in daily.items() if d.weekday() >= 5]
    weekday = [v for d, v in daily.items() if d.weekday() < 5]
    return (sum(weekend, Decimal(0)) / len(weekend)) / (sum(weekday, Decimal(0)) / len(weekday))


def test_weekly_seasonality(usage: pd.DataFrame) -> None:
    quiet = usage[_month(usage) == "2025-11"]
    compute = quiet[quiet[focus.SERVICE_CATEGORY] == "Compute"]
    storage = quiet[quiet[focus.SERVICE_CATEGORY] == "Storage"]
    assert _weekend_ratio(compute) < Decimal("0.85")
    assert Decimal("0.95") <= _weekend_ratio(storage) <= Decimal("1.05")


def test_spend_grows_month_on_month(usage: pd.DataFrame) -> None:
    months = _month(usage)
    for provider in ("AWS", "Microsoft", "Google Cloud"):
        mine = usage[focus.PROVIDER_NAME] == provider
        first = _total(usage.loc[mine & (months == "2025-10"), focus.BILLED_COST])
        last_full = _total(usage.loc[mine & (months == "2026-10"), focus.BILLED_COST])
        assert last_full > first * Decimal("1.1"), provider


def test_noise_makes_days_differ(usage: pd.DataFrame) -> None:
    storage = usage[usage[focus.SERVICE_CATEGORY] == "Storage"]
    one = storage[storage[focus.RESOURCE_ID] == storage[focus.RESOURCE_ID].iloc[0]]
    costs = list(one[focus.BILLED_COST].iloc[:28])
    changes = [b / a for a, b in pairwise(costs)]
    assert len(set(costs)) == len(costs)
    assert all(Decimal("0.8") < c < Decimal("1.25") for c in changes)


def test_month_start_charges_only_on_day_one(org: SampleOrg) -> None:
    rows = org.rows
    charges = rows[rows[focus.CHARGE_CATEGORY] != "Usage"]
    assert set(charges[focus.CHARGE_CATEGORY]) == {"Purchase", "Tax"}
    assert (charges[focus.CHARGE_PERIOD_START].dt.day == 1).all()
    assert (charges[focus.CHARGE_PERIOD_START] == charges[focus.BILLING_PERIOD_START]).all()
    assert (charges[focus.CHARGE_FREQUENCY] == "Recurring").all()


def test_month_start_charges_in_every_month(org: SampleOrg) -> None:
    rows = org.rows
    periods = sorted(_month(rows).unique())
    months = _month(rows)
    support = rows[rows[focus.SERVICE_NAME] == "AWS Support"]
    tax = rows[rows[focus.CHARGE_CATEGORY] == "Tax"]
    commitments = rows[(rows[focus.CHARGE_CATEGORY] == "Purchase") & (rows[focus.EFFECTIVE_COST] == 0)]
    assert set(support[focus.CHARGE_CATEGORY]) == {"Purchase"}
    assert set(tax[focus.PROVIDER_NAME]) == {"Microsoft"}
    assert set(commitments[focus.SERVICE_NAME]) == {"Savings Plans for AWS Compute usage", "Compute Engine"}
    for period in periods:
        assert support[months[support.index] == period][focus.BILLING_ACCOUNT_ID].nunique() == 2, period
        assert len(tax[months[tax.index] == period]) > 0, period
        in_period = commitments[months[commitments.index] == period]
        assert set(in_period[focus.PROVIDER_NAME]) == {"AWS", "Google Cloud"}, period


def test_support_and_vat_follow_previous_months_usage(org: SampleOrg, usage: pd.DataFrame) -> None:
    rows = org.rows
    months, usage_months = _month(rows), _month(usage)
    periods = sorted(months.unique())
    for previous, period in pairwise(periods):
        for account in ("123456789012", "210987654321"):
            used = _total(
                usage.loc[
                    (usage_months == previous) & (usage[focus.BILLING_ACCOUNT_ID] == account),
                    focus.BILLED_COST,
                ]
            )
            fee = _total(
                rows.loc[
                    (months == period)
                    & (rows[focus.SERVICE_NAME] == "AWS Support")
                    & (rows[focus.BILLING_ACCOUNT_ID] == account),
                    focus.BILLED_COST,
                ]
            )
            assert Decimal("0.03") * used <= fee <= Decimal("0.10") * used
        azure_used = _total(
            usage.loc[
                (usage_months == previous) & (usage[focus.PROVIDER_NAME] == "Microsoft"), focus.BILLED_COST
            ]
        )
        vat = rows[(months == period) & (rows[focus.CHARGE_CATEGORY] == "Tax")]
        assert abs(_total(vat[focus.BILLED_COST]) - azure_used * Decimal("0.21")) <= Decimal(
            "0.000001"
        ) * len(vat)


def test_monthly_charges_have_no_resource_and_no_tags(org: SampleOrg) -> None:
    rows = org.rows
    charges = rows[rows[focus.CHARGE_CATEGORY] != "Usage"]
    assert charges[focus.RESOURCE_ID].isna().all()
    assert (charges[focus.TAGS] == "{}").all()
    tax = charges[charges[focus.CHARGE_CATEGORY] == "Tax"]
    assert tax[focus.PRICING_QUANTITY].isna().all()


# --- planted anomalies ---------------------------------------------------------------------------


def test_all_four_anomalies_are_planted(org: SampleOrg) -> None:
    kinds = sorted(p.kind for p in org.planted)
    assert kinds == ["new_service", "spike", "spike", "step"]
    assert len({p.name for p in org.planted}) == 4
    for anomaly in org.planted:
        assert START <= anomaly.start <= anomaly.end <= END
        assert anomaly.extra_cost > 0
        assert anomaly.extra_cost.as_tuple().exponent == -6
        assert set(anomaly.scope) == {
            "provider",
            "billing_account",
            "sub_account",
            "service",
            "region",
            "team",
            "environment",
        }
        rows = _scope_rows(org, anomaly)
        assert rows[focus.RESOURCE_ID].nunique() == 1, anomaly.name
    by_name = {p.name: p for p in org.planted}
    ec2 = by_name["ec2-spike-data-team"]
    assert (ec2.scope["provider"], ec2.scope["team"]) == ("aws", "data")
    assert ec2.scope["service"] == "Amazon Elastic Compute Cloud"
    assert ((END - ec2.start).days, (ec2.end - ec2.start).days) == (60, 2)
    assert by_name["bigquery-spike-data-prod"].scope["service"] == "BigQuery"
    assert by_name["azure-storage-step-web"].scope["service"] == "Storage"
    assert by_name["sagemaker-new-ml"].scope["service"] == "Amazon SageMaker"
    assert by_name["sagemaker-new-ml"].scope["team"] == "ml"


def test_spikes_stand_out_of_their_series(org: SampleOrg) -> None:
    spikes = _planted(org, "spike")
    assert {(p.end - p.start).days + 1 for p in spikes} == {1, 3}
    for spike in spikes:
        daily = _daily(_scope_rows(org, spike))
        baseline = _median_before(daily, spike.start)
        days = [spike.start + timedelta(days=n) for n in range((spike.end - spike.start).days + 1)]
        assert all(daily[d] > 3 * baseline for d in days), spike.name
        after = spike.end + timedelta(days=1)
        assert daily[after] < 2 * baseline, spike.name
        spent = sum((daily[d] for d in days), Decimal(0))
        estimate = spent - len(days) * baseline
        assert abs(estimate - spike.extra_cost) < Decimal("0.25") * spike.extra_cost, spike.name


def test_step_persists_to_the_end(org: SampleOrg) -> None:
    (step,) = _planted(org, "step")
    assert step.end == END
    assert 35 <= (END - step.start).days <= 45
    daily = _daily(_scope_rows(org, step))
    baseline = _median_before(daily, step.start)
    after = [step.start + timedelta(days=n) for n in range((END - step.start).days + 1)]
    assert max(daily) == END
    assert all(daily[d] > Decimal("1.6") * baseline for d in after)
    assert daily[step.start - timedelta(days=1)] < Decimal("1.3") * baseline
    # The step doubles the series, so the extra is half of what it cost over the step.
    spent = sum((daily[d] for d in after), Decimal(0))
    assert abs(step.extra_cost - spent / 2) <= Decimal("0.000001") * len(after)


def test_new_service_has_no_earlier_rows(org: SampleOrg) -> None:
    (new,) = _planted(org, "new_service")
    assert new.end == END
    assert 5 <= (END - new.start).days <= 15
    rows = org.rows
    service = rows[rows[focus.SERVICE_NAME] == new.scope["service"]]
    assert service[focus.CHARGE_PERIOD_START].min() == pd.Timestamp(new.start, tz="UTC")
    days = set(service[focus.CHARGE_PERIOD_START].dt.date)
    assert days == {new.start + timedelta(days=n) for n in range((END - new.start).days + 1)}
    assert new.extra_cost == _total(service[focus.BILLED_COST])
    assert new.extra_cost == _total(_scope_rows(org, new)[focus.BILLED_COST])


def test_short_windows_skip_anomalies_that_do_not_fit() -> None:
    one_month = generate(seed=7, end=END, months=1)
    assert [p.name for p in one_month.planted] == ["sagemaker-new-ml"]
    two_months = generate(seed=7, end=END, months=2)
    assert "ec2-spike-data-team" not in {p.name for p in two_months.planted}
    assert len(two_months.planted) == 3
    tiny = generate(seed=7, end=date(2026, 10, 5), months=1)
    assert tiny.planted == ()
    assert (tiny.start, tiny.end) == (date(2026, 10, 1), date(2026, 10, 5))
    assert "Amazon SageMaker" not in set(tiny.rows[focus.SERVICE_NAME])
    assert tuple(tiny.rows.columns) == focus.COLUMNS


# --- CSV export ----------------------------------------------------------------------------------


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_write_focus_files_one_per_provider_and_period(org: SampleOrg, written: list[Path]) -> None:
    paths = written
    assert all(p.parent.name == "nested" for p in paths)
    assert paths == sorted(paths)
    periods = sorted(_month(org.rows).unique())
    assert [p.name for p in paths] == sorted(
        f"{provider}-{period}.csv" for provider in ("aws", "azure", "gcp") for period in periods
    )
    with paths[0].open(encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle)) == list(focus.COLUMNS)


def test_written_totals_match_the_rows_exactly(org: SampleOrg, written: list[Path]) -> None:
    paths = written
    written: dict[str, Decimal] = defaultdict(Decimal)
    count = 0
    for path in paths:
        provider, period = path.stem.split("-", 1)
        for row in _read_csv(path):
            count += 1
            assert focus.normalise_provider(row[focus.PROVIDER_NAME]) == provider
            assert row[focus.BILLING_PERIOD_START] == f"{period}-01T00:00:00Z"
            for column in focus.MONEY_COLUMNS:
                assert re.fullmatch(r"-?\d+\.\d{6}", row[column]), row[column]
            written[row[focus.PROVIDER_NAME]] += Decimal(row[focus.BILLED_COST])
    assert count == len(org.rows)
    assert dict(written) == _by_provider(org)


def test_written_cells_are_iso_utc_and_empty_when_missing(written: list[Path]) -> None:
    path = written[0]
    rows = _read_csv(path)
    assert rows[0][focus.CHARGE_PERIOD_START] == "2025-10-01T00:00:00Z"
    assert rows[0][focus.CHARGE_PERIOD_END] == "2025-10-02T00:00:00Z"
    support = [r for r in rows if r[focus.SERVICE_NAME] == "AWS Support"]
    assert support
    assert all(r[focus.RESOURCE_ID] == "" and r[focus.REGION_ID] == "" for r in support)


def test_writing_twice_gives_identical_bytes(written: list[Path], tmp_path: Path) -> None:
    before = [p.read_bytes() for p in written]
    again = write_focus_files(generate(seed=7, end=END), tmp_path)
    assert [p.name for p in again] == [p.name for p in written]
    assert [p.read_bytes() for p in again] == before
    other_seed = write_focus_files(generate(seed=8, end=END), tmp_path / "other")
    assert [p.read_bytes() for p in other_seed] != before


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"months": 0}, "months"),
        ({"months": 37}, "months"),
        ({"months": 100}, "months"),
        ({"end": date(1999, 12, 31)}, "2000-01-01"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_user_error(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"end": END, **kwargs}
    with pytest.raises(UserError, match=message):
        generate(**arguments)  # type: ignore[arg-type]


def test_end_defaults_to_yesterday_in_utc() -> None:
    org = generate(months=1)
    today = pd.Timestamp.now(tz="UTC").date()
    assert org.end in {today - timedelta(days=1), today - timedelta(days=2)}
    assert org.start == org.end.replace(day=1)
