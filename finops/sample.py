"""A deterministic sample organisation: FOCUS line items for AWS, Azure and GCP.

The sample is what the demo, the tests and the benchmarks run on when there is no cloud account:
a mid-sized company ("Acme") with two AWS payer accounts, one Azure billing account (billed in
EUR) and one GCP billing account, about 120 resource series over 15 services, five teams and three
environments. It looks like real billing data where it matters to a FinOps tool:

* weekly seasonality (compute and non-production spend drops at weekends, storage stays flat),
  compounding growth of 1-3% a month and a few percent of multiplicative noise;
* charges dated on day 1 of every month: AWS Support, Azure VAT and commitment fees (an AWS
  Savings Plan and a GCP committed-use discount);
* tag keys spelt the way each provider spells them, and some untagged spend;
* planted anomalies whose place and size are recorded in `SampleOrg.planted`, so anomaly
  detection can be checked against a known answer.

The same (seed, end, months) always gives the same rows: every random number comes from one
`numpy.random.default_rng(seed)` drawn in a fixed order. The organisation's structure (accounts,
series, resource ids) does not depend on the seed; the amounts and which series are untagged do.
Money is computed in floats and stored as `Decimal` with exactly six decimal places.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from finops import focus
from finops.errors import UserError

Floats = npt.NDArray[np.float64]

MIN_MONTHS = 1
MAX_MONTHS = 36
EARLIEST_END = date(2000, 1, 1)
# Days of history in the window an anomaly needs before it starts, or it is left out.
ANOMALY_MIN_HISTORY_DAYS = 14

_QUANTUM = Decimal("0.000001")
_DAYS_PER_MONTH = 30.4375
_NOISE = 0.03
_UNTAGGED_TARGET = (0.10, 0.13)  # share of usage cost left untagged: aim for the first, stay below the second


@dataclass(frozen=True)
class PlantedAnomaly:
    """An anomaly put into the sample on purpose, with where it is and what it cost."""

    name: str  # short slug, e.g. "ec2-spike-data-team"
    kind: str  # "spike" | "step" | "new_service"
    start: date  # first affected day (inclusive)
    end: date  # last affected day (inclusive)
    scope: dict[str, str]  # provider, billing_account, sub_account, service, region, team, environment
    extra_cost: Decimal  # extra BilledCost over the window, in the billing account's currency


@dataclass(frozen=True)
class SampleOrg:
    """A generated organisation: FOCUS-shaped rows plus the anomalies planted in them."""

    seed: int
    start: date  # first charge day
    end: date  # last charge day (inclusive)
    rows: pd.DataFrame  # columns exactly `focus.COLUMNS`, in that order
    planted: tuple[PlantedAnomaly, ...]


# --- the organisation's catalogue -------------------------------------------------------------


@dataclass(frozen=True)
class _Service:
    name: str
    category: str
    unit: str
    unit_price: float  # list price per pricing unit
    description: str
    daily_cost: float  # a typical day in a production home region, before random scaling
    resource: str  # ResourceId template
    weekly: str  # "compute" (drops at weekends), "flat" or "mild"


@dataclass(frozen=True)
class _Sub:
    id: str
    name: str
    team: str
    environment: str
    cost_center: str
    regions: tuple[str, ...]  # home region first
    services: tuple[str, ...]  # keys of _SERVICES


@dataclass(frozen=True)
class _Account:
    provider: str  # FOCUS ProviderName
    id: str
    name: str
    currency: str
    discount: float  # negotiated discount off list price
    subs: tuple[_Sub, ...]


@dataclass(frozen=True)
class _Series:
    index: int
    account: _Account
    sub: _Sub
    service_key: str
    region: str

    @property
    def service(self) -> _Service:
        return _SERVICES[self.service_key]

    @property
    def provider_key(self) -> str:
        return focus.normalise_provider(self.account.provider)


_SERVICES: dict[str, _Service] = {
    "ec2": _Service(
        "Amazon Elastic Compute Cloud",
        "Compute",
        "Hours",
        0.192,
        "$0.192 per On Demand Linux m5.xlarge Instance Hour",
        900.0,
        "arn:aws:ec2:{region}:{sub_id}:instance/i-{tok}",
        "compute",
    ),
    "s3": _Service(
        "Amazon Simple Storage Service",
        "Storage",
        "GB-Month",
        0.023,
        "$0.023 per GB - first 50 TB / month of storage used",
        160.0,
        "arn:aws:s3:::acme-{sub_name}-{region}-{tok6}",
        "flat",
    ),
    "rds": _Service(
        "Amazon Relational Database Service",
        "Databases",
        "Hours",
        0.712,
        "$0.712 per RDS db.r6g.xlarge Multi-AZ instance hour running PostgreSQL",
        420.0,
        "arn:aws:rds:{region}:{sub_id}:db:{sub_name}-{tok6}",
        "mild",
    ),
    "lambda": _Service(
        "AWS Lambda",
        "Compute",
        "GB-Seconds",
        0.0000166667,
        "$0.0000166667 per GB-second of AWS Lambda compute (x86)",
        70.0,
        "arn:aws:lambda:{region}:{sub_id}:function:{team}-{env}-{tok6}",
        "compute",
    ),
    "cloudfront": _Service(
        "Amazon CloudFront",
        "Networking",
        "GB",
        0.085,
        "$0.085 per GB - first 10 TB / month data transfer out",
        140.0,
        "arn:aws:cloudfront::{sub_id}:distribution/E{TOK}",
        "mild",
    ),
    "sagemaker": _Service(
        "Amazon SageMaker",
        "AI and Machine Learning",
        "Hours",
        1.515,
        "$1.515 per ml.g5.2xlarge hour of real-time inference",
        520.0,
        "arn:aws:sagemaker:{region}:{sub_id}:endpoint/{team}-inference-{tok6}",
        "compute",
    ),
    "vm": _Service(
        "Virtual Machines",
        "Compute",
        "Hours",
        0.192,
        "Virtual Machines Dsv5 Series - D4s v5",
        600.0,
        "/subscriptions/{sub_id}/resourceGroups/rg-{team}-{env}-{region}"
        "/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-{team}-{tok6}",
        "compute",
    ),
    "storage": _Service(
        "Storage",
        "Storage",
        "GB-Month",
        0.0184,
        "Hot LRS Data Stored",
        130.0,
        "/subscriptions/{sub_id}/resourceGroups/rg-{team}-{env}-{region}"
        "/providers/Microsoft.Storage/storageAccounts/st{team}{env}{tok6}",
        "flat",
    ),
    "sql": _Service(
        "Azure SQL Database",
        "Databases",
        "Hours",
        0.5044,
        "SQL Database Single General Purpose - Compute Gen5 - vCore",
        350.0,
        "/subscriptions/{sub_id}/resourceGroups/rg-{team}-{env}-{region}"
        "/providers/Microsoft.Sql/servers/sql-{team}-{env}-{tok6}/databases/{team}db",
        "mild",
    ),
    "aks": _Service(
        "Azure Kubernetes Service",
        "Compute",
        "Hours",
        0.384,
        "Kubernetes node pool - D8s v5",
        450.0,
        "/subscriptions/{sub_id}/resourceGroups/rg-{team}-{env}-{region}"
        "/providers/Microsoft.ContainerService/managedClusters/aks-{team}-{env}-{region}",
        "compute",
    ),
    "gce": _Service(
        "Compute Engine",
        "Compute",
        "Hours",
        0.0316,
        "N2 Instance Core running in Americas",
        650.0,
        "//compute.googleapis.com/projects/{sub_id}/zones/{region}-b/instances/{team}-{env}-{tok6}",
        "compute",
    ),
    "bigquery": _Service(
        "BigQuery",
        "Analytics",
        "TiB",
        6.25,
        "Analysis (on-demand)",
        300.0,
        "//bigquery.googleapis.com/projects/{sub_id}/datasets/{team}_{env}_{tok6}",
        "mild",
    ),
    "gcs": _Service(
        "Cloud Storage",
        "Storage",
        "GiB-Month",
        0.020,
        "Standard Storage US Multi-region",
        110.0,
        "//storage.googleapis.com/projects/_/buckets/{sub_id}-{region}-{tok6}",
        "flat",
    ),
    "cloudsql": _Service(
        "Cloud SQL",
        "Databases",
        "Hours",
        0.0413,
        "Cloud SQL for PostgreSQL: Zonal - vCPU",
        260.0,
        "//cloudsql.googleapis.com/projects/{sub_id}/instances/{team}-{env}-{tok6}",
        "mild",
    ),
}

# Services billed from one global location rather than per region.
_GLOBAL_SERVICES = frozenset({"cloudfront"})

_REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "Europe (Ireland)",
    "eu-central-1": "Europe (Frankfurt)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "global": "Global",
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "uksouth": "UK South",
    "us-central1": "Iowa",
    "europe-west1": "Belgium",
    "us-east4": "Northern Virginia",
    "asia-northeast1": "Tokyo",
}

# Tag keys for team, environment and cost center, spelt the way each provider's users spell them.
_TAG_KEYS = {
    "aws": ("user:team", "user:environment", "user:cost-center"),
    "azure": ("Team", "Environment", "CostCenter"),
    "gcp": ("team", "env", "cost_center"),
}

_ENVIRONMENT_SCALE = {"prod": 1.0, "staging": 0.3, "dev": 0.25}
_SECOND_REGION_SCALE = 0.4

_ACCOUNTS: tuple[_Account, ...] = (
    _Account(
        "AWS",
        "123456789012",
        "Acme Corp",
        "USD",
        0.06,
        (
            _Sub(
                "234567890123",
                "payments-prod",
                "payments",
                "prod",
                "CC-100",
                ("us-east-1", "us-west-2", "eu-west-1"),
                ("ec2", "rds", "s3", "lambda", "cloudfront"),
            ),
            _Sub(
                "345678901234",
                "payments-staging",
                "payments",
                "staging",
                "CC-100",
                ("us-east-1",),
                ("ec2", "rds", "s3"),
            ),
            _Sub(
                "456789012345",
                "web-prod",
                "web",
                "prod",
                "CC-400",
                ("eu-west-1", "us-east-1", "ap-southeast-2"),
                ("ec2", "s3", "lambda", "cloudfront"),
            ),
            _Sub("567890123456", "web-dev", "web", "dev", "CC-400", ("eu-west-1",), ("ec2", "s3", "lambda")),
            _Sub(
                "678901234567",
                "platform-shared",
                "platform",
                "prod",
                "CC-300",
                ("us-east-1", "eu-west-1", "eu-central-1"),
                ("ec2", "s3", "rds", "lambda"),
            ),
            _Sub(
                "789012345678",
                "platform-dev",
                "platform",
                "dev",
                "CC-300",
                ("us-west-2", "eu-central-1"),
                ("ec2", "s3", "rds"),
            ),
        ),
    ),
    _Account(
        "AWS",
        "210987654321",
        "Acme Analytics",
        "USD",
        0.0,
        (
            _Sub(
                "310987654321",
                "data-prod",
                "data",
                "prod",
                "CC-200",
                ("us-east-1", "eu-west-1"),
                ("ec2", "s3", "rds", "lambda"),
            ),
            _Sub("410987654321", "data-staging", "data", "staging", "CC-200", ("us-east-1",), ("ec2", "s3")),
            _Sub(
                "510987654321",
                "ml-research",
                "ml",
                "dev",
                "CC-500",
                ("us-west-2", "us-east-1"),
                ("ec2", "s3"),
            ),
            _Sub(
                "610987654321", "ml-prod", "ml", "prod", "CC-500", ("us-east-1",), ("ec2", "s3", "sagemaker")
            ),
        ),
    ),
    _Account(
        "Microsoft",
        "8f3c2a1e-5b7d-4e9a-b2c6-1d0f3e8a7b54",
        "Acme Europe B.V.",
        "EUR",
        0.12,
        (
            _Sub(
                "1c7e5a90-3f2b-4d8e-9a61-7b0c2e4f5d13",
                "web-prod-eu",
                "web",
                "prod",
                "CC-400",
                ("westeurope", "northeurope"),
                ("vm", "storage", "sql", "aks"),
            ),
            _Sub(
                "2d8f6b01-4a3c-4e9f-8b72-8c1d3f5a6e24",
                "web-staging-eu",
                "web",
                "staging",
                "CC-400",
                ("westeurope",),
                ("vm", "storage", "sql"),
            ),
            _Sub(
                "3e906c12-5b4d-4fa0-9c83-9d2e4a6b7f35",
                "payments-eu",
                "payments",
                "prod",
                "CC-100",
                ("northeurope", "westeurope"),
                ("vm", "sql", "storage"),
            ),
            _Sub(
                "4fa17d23-6c5e-4ab1-8d94-ae3f5b7c8046",
                "platform-eu",
                "platform",
                "prod",
                "CC-300",
                ("westeurope", "uksouth"),
                ("aks", "storage", "vm"),
            ),
            _Sub(
                "50b28e34-7d6f-4bc2-9ea5-bf406c8d9157",
                "data-eu-dev",
                "data",
                "dev",
                "CC-200",
                ("northeurope",),
                ("vm", "storage"),
            ),
        ),
    ),
    _Account(
        "Google Cloud",
        "01A2B3-C4D5E6-F7A8B9",
        "Acme Google Cloud",
        "USD",
        0.04,
        (
            _Sub(
                "acme-data-prod",
                "Acme Data Prod",
                "data",
                "prod",
                "CC-200",
                ("us-central1", "europe-west1"),
                ("gce", "bigquery", "gcs", "cloudsql"),
            ),
            _Sub(
                "acme-data-dev",
                "Acme Data Dev",
                "data",
                "dev",
                "CC-200",
                ("us-central1",),
                ("gce", "bigquery", "gcs"),
            ),
            _Sub(
                "acme-ml-prod",
                "Acme ML Prod",
                "ml",
                "prod",
                "CC-500",
                ("us-central1", "us-east4"),
                ("gce", "gcs", "bigquery"),
            ),
            _Sub(
                "acme-platform",
                "Acme Platform",
                "platform",
                "prod",
                "CC-300",
                ("europe-west1", "us-central1"),
                ("gce", "cloudsql", "gcs"),
            ),
            _Sub(
                "acme-payments-prod",
                "Acme Payments Prod",
                "payments",
                "prod",
                "CC-100",
                ("us-east4", "asia-northeast1"),
                ("gce", "cloudsql", "gcs"),
            ),
            _Sub(
                "acme-web-staging",
                "Acme Web Staging",
                "web",
                "staging",
                "CC-400",
                ("europe-west1",),
                ("gce", "cloudsql"),
            ),
        ),
    ),
)

# Usage covered by a commitment (AWS Savings Plan on the first payer, GCP CUDs): EffectiveCost is lower.
_COVERED = {("123456789012", "ec2"), ("123456789012", "lambda"), ("01A2B3-C4D5E6-F7A8B9", "gce")}
_SAVINGS_PLAN_ACCOUNT = "123456789012"
_CUD_ACCOUNT = "01A2B3-C4D5E6-F7A8B9"
_CUD_PROJECT = "acme-platform"
_CUD_REGION = "us-central1"
_AZURE_VAT = Decimal("0.21")
# AWS Business Support: tiered share of the previous month's usage, with a minimum fee.
_SUPPORT_TIERS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(10_000), Decimal("0.10")),
    (Decimal(80_000), Decimal("0.07")),
    (Decimal(250_000), Decimal("0.05")),
)
_SUPPORT_TOP_RATE = Decimal("0.03")
_SUPPORT_MINIMUM = Decimal(100)


@dataclass(frozen=True)
class _AnomalySpec:
    name: str
    kind: str
    sub: str  # SubAccountId of the affected series
    service: str  # key of _SERVICES
    region: str
    days_before_end: int  # the anomaly starts this many days before `end`
    length: int | None  # days affected; None: until `end`
    low: float  # cost multiplier range (spikes) or step factor
    high: float


_ANOMALIES = (
    _AnomalySpec("ec2-spike-data-team", "spike", "310987654321", "ec2", "us-east-1", 60, 3, 4.0, 6.0),
    _AnomalySpec(
        "bigquery-spike-data-prod", "spike", "acme-data-prod", "bigquery", "us-central1", 25, 1, 5.0, 8.0
    ),
    _AnomalySpec(
        "azure-storage-step-web",
        "step",
        "1c7e5a90-3f2b-4d8e-9a61-7b0c2e4f5d13",
        "storage",
        "westeurope",
        40,
        None,
        2.0,
        2.0,
    ),
    _AnomalySpec(
        "sagemaker-new-ml", "new_service", "610987654321", "sagemaker", "us-east-1", 10, None, 1.0, 1.0
    ),
)


# --- public API -------------------------------------------------------------------------------


def generate(seed: int = 42, end: date | None = None, months: int = 13) -> SampleOrg:
    """Generate the sample organisation's line items from the first day of the month `months - 1`
    months before `end`'s month through `end` (default: yesterday in UTC)."""
    end = _check(seed, end, months)
    start = _add_months(end.replace(day=1), -(months - 1))
    warm_start = _add_months(start, -1)  # an unseen month before `start`, for month-start charges
    days = pd.date_range(warm_start, end, freq="D", tz="UTC")
    first = (start - warm_start).days
    series = _build_series()
    rng = np.random.default_rng(seed)

    params = _draw_params(rng, series)
    noise = 1.0 + _NOISE * np.clip(rng.standard_normal((len(series), len(days))), -3.0, 3.0)
    multipliers = [rng.uniform(spec.low, spec.high, size=spec.length or 1) for spec in _ANOMALIES]

    level = params.base[:, None] * _growth(params.growth, len(days)) * noise
    baseline = level * _weekly(params.weekend, days)
    actual = baseline.copy()
    active = np.ones(actual.shape, dtype=bool)
    placed = _plant(series, days, first, level, baseline, actual, active, multipliers)

    billed = _money_grid(actual, active)
    planted = tuple(_planted(p, days, baseline, billed) for p in placed)
    usage = _usage_frame(series, params, days, first, actual, active, billed)
    charges = _month_start_frame(series, params, days, first, billed)
    rows = _assemble(usage, charges)
    return SampleOrg(seed=seed, start=start, end=end, rows=rows, planted=planted)


def write_focus_files(org: SampleOrg, folder: Path) -> list[Path]:
    """Write one FOCUS CSV per provider x billing period (e.g. `aws-2025-11.csv`) into `folder`.

    Money is written as plain decimal strings, timestamps as ISO 8601 UTC with `Z`, missing
    values as empty cells. The same org always writes byte-identical files."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = org.rows
    providers = rows[focus.PROVIDER_NAME].map(focus.normalise_provider)
    periods = rows[focus.BILLING_PERIOD_START].dt.strftime("%Y-%m")
    paths = []
    for provider, period in sorted(set(zip(providers, periods, strict=True))):
        path = folder / f"{provider}-{period}.csv"
        _write_csv(rows[(providers == provider) & (periods == period)], path)
        paths.append(path)
    return sorted(paths)


# --- window and catalogue ---------------------------------------------------------------------


def _check(seed: int, end: date | None, months: int) -> date:
    if seed < 0:
        raise UserError(f"The sample seed must be 0 or more, not {seed}.")
    if not MIN_MONTHS <= months <= MAX_MONTHS:
        raise UserError(
            f"The sample can cover {MIN_MONTHS} to {MAX_MONTHS} months, not {months}: "
            "pick a number in that range."
        )
    if end is None:
        end = datetime.now(UTC).date() - timedelta(days=1)
    elif isinstance(end, datetime):
        end = end.date()
    if end < EARLIEST_END:
        raise UserError(f"The sample must end on {EARLIEST_END.isoformat()} or later, not {end.isoformat()}.")
    return end


def _add_months(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _build_series() -> list[_Series]:
    series: list[_Series] = []
    for account in _ACCOUNTS:
        for sub in account.subs:
            for key in sub.services:
                regions = ("global",) if key in _GLOBAL_SERVICES else sub.regions
                for region in regions:
                    series.append(_Series(len(series), account, sub, key, region))
    return series


def _find_series(series: Sequence[_Series], spec: _AnomalySpec) -> _Series:
    return next(
        s for s in series if (s.sub.id, s.service_key, s.region) == (spec.sub, spec.service, spec.region)
    )


# --- random parameters and the daily shape ----------------------------------------------------


@dataclass(frozen=True)
class _Params:
    base: Floats  # cost on the first day (warm-up month), before weekly shape and noise
    growth: Floats  # monthly growth rate
    weekend: Floats  # weekend cost as a share of a weekday's
    saving: Floats  # EffectiveCost discount from commitments
    untagged: npt.NDArray[np.bool_]
    no_cost_center: npt.NDArray[np.bool_]


def _draw_params(rng: np.random.Generator, series: Sequence[_Series]) -> _Params:
    n = len(series)
    typical = np.array([_typical_daily_cost(s) for s in series])
    base = typical * rng.lognormal(0.0, 0.4, size=n)
    growth = rng.uniform(0.01, 0.03, size=n)
    weekend_low = rng.uniform(0.55, 0.75, size=n)
    weekend_mild = rng.uniform(0.85, 0.97, size=n)
    saving = rng.uniform(0.08, 0.22, size=n)
    no_cost_center = rng.random(size=n) < 0.1
    order = rng.permutation(n)
    weekend = np.array(
        [
            _weekend_factor(s, low, mild)
            for s, low, mild in zip(series, weekend_low, weekend_mild, strict=True)
        ]
    )
    covered = np.array([(s.account.id, s.service_key) in _COVERED for s in series])
    protected = {_find_series(series, spec).index for spec in _ANOMALIES}
    return _Params(
        base=base,
        growth=growth,
        weekend=weekend,
        saving=np.where(covered, saving, 0.0),
        untagged=_pick_untagged(base, order, protected),
        no_cost_center=no_cost_center & ~np.isin(np.arange(n), list(protected)),
    )


def _typical_daily_cost(series: _Series) -> float:
    scale = _ENVIRONMENT_SCALE[series.sub.environment]
    if series.region not in ("global", series.sub.regions[0]):
        scale *= _SECOND_REGION_SCALE
    return series.service.daily_cost * scale


def _weekend_factor(series: _Series, low: float, mild: float) -> float:
    if series.service.weekly == "flat":
        return 1.0
    if series.service.weekly == "compute" or series.sub.environment != "prod":
        return low
    return mild


def _pick_untagged(base: Floats, order: npt.NDArray[np.int64], protected: set[int]) -> npt.NDArray[np.bool_]:
    """Leave about a tenth of the spend untagged: walk the series in random order, skipping any
    that would overshoot, until the target share is reached."""
    aim, limit = (share * float(base.sum()) for share in _UNTAGGED_TARGET)
    untagged = np.zeros(len(base), dtype=bool)
    total = 0.0
    for index in order.tolist():
        if total >= aim:
            break
        if index in protected or total + base[index] > limit:
            continue
        untagged[index] = True
        total += float(base[index])
    return untagged


def _growth(rates: Floats, n_days: int) -> Floats:
    months = np.arange(n_days, dtype=np.float64) / _DAYS_PER_MONTH
    result: Floats = (1.0 + rates[:, None]) ** months[None, :]
    return result


def _weekly(weekend: Floats, days: pd.DatetimeIndex) -> Floats:
    is_weekend = np.asarray(days.dayofweek >= 5)
    result: Floats = np.where(is_weekend[None, :], weekend[:, None], 1.0)
    return result


# --- planted anomalies ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    spec: _AnomalySpec
    series: _Series
    first: int  # column of the first affected day
    last: int  # column of the last affected day


def _plant(
    series: Sequence[_Series],
    days: pd.DatetimeIndex,
    window_first: int,
    level: Floats,
    baseline: Floats,
    actual: Floats,
    active: npt.NDArray[np.bool_],
    multipliers: Sequence[Floats],
) -> list[_Placed]:
    """Change `actual` and `active` in place; return the anomalies that fit in the window."""
    last_col = len(days) - 1
    placed = []
    for spec, factors in zip(_ANOMALIES, multipliers, strict=True):
        target = _find_series(series, spec)
        s = target.index
        first = last_col - spec.days_before_end
        fits = first - window_first >= ANOMALY_MIN_HISTORY_DAYS
        if spec.kind == "new_service":
            active[s, : first if fits else last_col + 1] = False
        if not fits:
            continue
        last = last_col if spec.length is None else first + spec.length - 1
        if spec.kind == "spike":
            # A runaway workload ignores the weekly rhythm: a multiple of the weekday level.
            actual[s, first : last + 1] = level[s, first : last + 1] * factors
        elif spec.kind == "step":
            actual[s, first : last + 1] = baseline[s, first : last + 1] * spec.low
        placed.append(_Placed(spec, target, first, last))
    return placed


def _planted(
    placed: _Placed, days: pd.DatetimeIndex, baseline: Floats, billed: npt.NDArray[Any]
) -> PlantedAnomaly:
    s, cols = placed.series.index, range(placed.first, placed.last + 1)
    extra = sum((billed[s, c] for c in cols), Decimal(0))
    if placed.spec.kind != "new_service":
        extra -= sum((_money(float(baseline[s, c])) for c in cols), Decimal(0))
    target = placed.series
    return PlantedAnomaly(
        name=placed.spec.name,
        kind=placed.spec.kind,
        start=days[placed.first].date(),
        end=days[placed.last].date(),
        scope={
            "provider": target.provider_key,
            "billing_account": target.account.id,
            "sub_account": target.sub.id,
            "service": target.service.name,
            "region": target.region,
            "team": target.sub.team,
            "environment": target.sub.environment,
        },
        extra_cost=extra,
    )


# --- money ------------------------------------------------------------------------------------


def _money(value: float) -> Decimal:
    """A float amount as a Decimal with exactly six decimal places (the same float, the same Decimal)."""
    return Decimal(f"{value:.6f}").quantize(_QUANTUM)


def _money_list(values: Floats) -> list[Decimal]:
    return [_money(v) for v in values.tolist()]


def _money_grid(actual: Floats, active: npt.NDArray[np.bool_]) -> npt.NDArray[Any]:
    """BilledCost per series x day as Decimal (None where the series has no row)."""
    grid = np.full(actual.shape, None, dtype=object)
    grid[active] = _money_list(actual[active])
    return grid


def _decimal_sum(values: Any) -> Decimal:
    return sum((v for v in values if v is not None), Decimal(0))


# --- rows -------------------------------------------------------------------------------------


def _tags(series: _Series, untagged: bool, no_cost_center: bool) -> str:
    if untagged:
        return "{}"
    team, environment, cost_center = _TAG_KEYS[series.provider_key]
    tags = {team: series.sub.team, environment: series.sub.environment}
    if not no_cost_center:
        tags[cost_center] = series.sub.cost_center
    return json.dumps(tags, sort_keys=True, separators=(",", ":"))


def _resource_id(series: _Series) -> str:
    key = "/".join((series.account.id, series.sub.id, series.service_key, series.region))
    token = hashlib.sha256(key.encode()).hexdigest()
    return series.service.resource.format(
        region=series.region,
        sub_id=series.sub.id,
        sub_name=series.sub.name,
        team=series.sub.team,
        env=series.sub.environment,
        tok=token[:17],
        tok6=token[:6],
        TOK=token[:13].upper(),
    )


def _month_starts(days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([pd.Timestamp(d.year, d.month, 1, tz="UTC") for d in days])


def _month_ends(starts: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return starts + pd.offsets.MonthBegin(1)


def _usage_frame(
    series: Sequence[_Series],
    params: _Params,
    days: pd.DatetimeIndex,
    first: int,
    actual: Floats,
    active: npt.NDArray[np.bool_],
    billed: npt.NDArray[Any],
) -> pd.DataFrame:
    """One row per series per active day in the window, ordered by day then series."""
    day_idx, s_idx = np.nonzero(active[:, first:].T)
    col = day_idx + first
    amount = actual[s_idx, col]
    discount = np.array([s.account.discount for s in series])[s_idx]
    unit_price = np.array([s.service.unit_price for s in series])[s_idx]
    list_cost = np.maximum(amount, amount / (1.0 - discount))
    billed_cost = billed[s_idx, col]

    def attr(values: Sequence[Any]) -> npt.NDArray[Any]:
        return np.array(values, dtype=object)[s_idx]

    starts = days[col]
    period_starts = _month_starts(days)[col]
    frame = pd.DataFrame(
        {
            focus.BILLING_ACCOUNT_ID: attr([s.account.id for s in series]),
            focus.BILLING_ACCOUNT_NAME: attr([s.account.name for s in series]),
            focus.BILLING_CURRENCY: attr([s.account.currency for s in series]),
            focus.BILLING_PERIOD_START: period_starts,
            focus.BILLING_PERIOD_END: _month_ends(period_starts),
            focus.CHARGE_PERIOD_START: starts,
            focus.CHARGE_PERIOD_END: starts + pd.Timedelta(days=1),
            focus.CHARGE_CATEGORY: "Usage",
            focus.CHARGE_FREQUENCY: "Usage-Based",
            focus.CHARGE_DESCRIPTION: attr([s.service.description for s in series]),
            focus.PROVIDER_NAME: attr([s.account.provider for s in series]),
            focus.PUBLISHER_NAME: attr([s.account.provider for s in series]),
            focus.INVOICE_ISSUER_NAME: attr([s.account.provider for s in series]),
            focus.SUB_ACCOUNT_ID: attr([s.sub.id for s in series]),
            focus.SUB_ACCOUNT_NAME: attr([s.sub.name for s in series]),
            focus.SERVICE_NAME: attr([s.service.name for s in series]),
            focus.SERVICE_CATEGORY: attr([s.service.category for s in series]),
            focus.REGION_ID: attr([s.region for s in series]),
            focus.REGION_NAME: attr([_REGION_NAMES[s.region] for s in series]),
            focus.RESOURCE_ID: attr([_resource_id(s) for s in series]),
            focus.PRICING_QUANTITY: _money_list(list_cost / unit_price),
            focus.PRICING_UNIT: attr([s.service.unit for s in series]),
            focus.BILLED_COST: billed_cost,
            focus.EFFECTIVE_COST: _money_list(amount * (1.0 - params.saving[s_idx])),
            focus.LIST_COST: _money_list(list_cost),
            focus.CONTRACTED_COST: billed_cost,
            focus.TAGS: attr(
                [
                    _tags(s, bool(u), bool(c))
                    for s, u, c in zip(series, params.untagged, params.no_cost_center, strict=True)
                ]
            ),
        }
    )
    frame["_day"] = col
    frame["_order"] = s_idx
    return frame


def _month_start_frame(
    series: Sequence[_Series],
    params: _Params,
    days: pd.DatetimeIndex,
    first: int,
    billed: npt.NDArray[Any],
) -> pd.DataFrame:
    """Charges dated on day 1 of every month in the window: AWS Support and Azure VAT on the
    previous month's usage, and the monthly commitment fees."""
    sp_hourly = _cents(0.4 * _covered_base(series, params, _SAVINGS_PLAN_ACCOUNT) / 24)
    cud_monthly = _cents(0.3 * 30 * _covered_base(series, params, _CUD_ACCOUNT))
    month_index = np.array([d.year * 12 + d.month for d in days])
    records: list[dict[str, Any]] = []
    for col in range(first, len(days)):
        if days[col].day != 1:
            continue
        previous = month_index == month_index[col] - 1
        usage = [_decimal_sum(billed[s.index, previous]) for s in series]
        charges = [
            *_support_charges(series, usage),
            _savings_plan_charge(sp_hourly, days[col]),
            _cud_charge(cud_monthly),
            *_vat_charges(series, usage),
        ]
        for order, (account, values) in enumerate(charges, start=len(series)):
            records.append(_charge_row(account, days[col], values) | {"_day": col, "_order": order})
    frame = pd.DataFrame.from_records(records, columns=[*focus.COLUMNS, "_day", "_order"])
    return frame.astype({"_day": np.int64, "_order": np.int64})


_Charge = tuple[_Account, dict[str, Any]]


def _account(account_id: str) -> _Account:
    return next(a for a in _ACCOUNTS if a.id == account_id)


def _covered_base(series: Sequence[_Series], params: _Params, account_id: str) -> float:
    return float(
        sum(
            params.base[s.index]
            for s in series
            if s.account.id == account_id and (s.account.id, s.service_key) in _COVERED
        )
    )


def _cents(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _support_fee(usage: Decimal) -> Decimal:
    """AWS Business Support: a tiered share of the month's usage, at least a minimum fee."""
    fee, floor = Decimal(0), Decimal(0)
    for ceiling, rate in _SUPPORT_TIERS:
        fee += max(min(usage, ceiling) - floor, Decimal(0)) * rate
        floor = ceiling
    fee += max(usage - floor, Decimal(0)) * _SUPPORT_TOP_RATE
    return max(fee, _SUPPORT_MINIMUM).quantize(_QUANTUM)


def _support_charges(series: Sequence[_Series], usage: Sequence[Decimal]) -> list[_Charge]:
    charges = []
    for account in (a for a in _ACCOUNTS if a.provider == "AWS"):
        account_usage = sum((usage[s.index] for s in series if s.account is account), Decimal(0))
        values = {
            focus.CHARGE_CATEGORY: "Purchase",
            focus.CHARGE_DESCRIPTION: "AWS Support (Business) - monthly fee on last month's usage",
            focus.SUB_ACCOUNT_ID: account.id,
            focus.SUB_ACCOUNT_NAME: account.name,
            focus.SERVICE_NAME: "AWS Support",
            focus.SERVICE_CATEGORY: "Other",
            focus.PRICING_QUANTITY: Decimal("1.000000"),
            focus.PRICING_UNIT: "Month",
            focus.BILLED_COST: _support_fee(account_usage),
        }
        charges.append((account, values))
    return charges


def _savings_plan_charge(hourly: Decimal, day: pd.Timestamp) -> _Charge:
    account = _account(_SAVINGS_PLAN_ACCOUNT)
    hours = Decimal(24 * day.days_in_month)
    values = {
        focus.CHARGE_CATEGORY: "Purchase",
        focus.CHARGE_DESCRIPTION: f"Compute Savings Plan, 1 year, No Upfront: {hourly} USD per hour",
        focus.SUB_ACCOUNT_ID: account.id,
        focus.SUB_ACCOUNT_NAME: account.name,
        focus.SERVICE_NAME: "Savings Plans for AWS Compute usage",
        focus.SERVICE_CATEGORY: "Compute",
        focus.PRICING_QUANTITY: hours.quantize(_QUANTUM),
        focus.PRICING_UNIT: "Hours",
        focus.BILLED_COST: (hourly * hours).quantize(_QUANTUM),
        focus.EFFECTIVE_COST: Decimal(0).quantize(_QUANTUM),  # amortised into the covered usage
    }
    return account, values


def _cud_charge(monthly: Decimal) -> _Charge:
    account = _account(_CUD_ACCOUNT)
    project = next(sub for sub in account.subs if sub.id == _CUD_PROJECT)
    values = {
        focus.CHARGE_CATEGORY: "Purchase",
        focus.CHARGE_DESCRIPTION: "Commitment v1: N2 Cpu in Americas for 1 Year",
        focus.SUB_ACCOUNT_ID: project.id,
        focus.SUB_ACCOUNT_NAME: project.name,
        focus.SERVICE_NAME: _SERVICES["gce"].name,
        focus.SERVICE_CATEGORY: _SERVICES["gce"].category,
        focus.REGION_ID: _CUD_REGION,
        focus.REGION_NAME: _REGION_NAMES[_CUD_REGION],
        focus.PRICING_QUANTITY: Decimal("1.000000"),
        focus.PRICING_UNIT: "Month",
        focus.BILLED_COST: monthly.quantize(_QUANTUM),
        focus.EFFECTIVE_COST: Decimal(0).quantize(_QUANTUM),  # amortised into the covered usage
    }
    return account, values


def _vat_charges(series: Sequence[_Series], usage: Sequence[Decimal]) -> list[_Charge]:
    """Azure VAT, one row per subscription x service on the previous month's usage."""
    totals: dict[tuple[_Account, _Sub, str], Decimal] = {}
    for s in series:
        if s.provider_key == "azure":
            group = (s.account, s.sub, s.service_key)
            totals[group] = totals.get(group, Decimal(0)) + usage[s.index]
    charges = []
    for (account, sub, service_key), total in totals.items():
        values = {
            focus.CHARGE_CATEGORY: "Tax",
            focus.CHARGE_DESCRIPTION: f"VAT {_AZURE_VAT * 100:.0f}%",
            focus.SUB_ACCOUNT_ID: sub.id,
            focus.SUB_ACCOUNT_NAME: sub.name,
            focus.SERVICE_NAME: _SERVICES[service_key].name,
            focus.SERVICE_CATEGORY: _SERVICES[service_key].category,
            focus.BILLED_COST: (total * _AZURE_VAT).quantize(_QUANTUM),
        }
        charges.append((account, values))
    return charges


def _charge_row(account: _Account, day: pd.Timestamp, values: dict[str, Any]) -> dict[str, Any]:
    """A month-start charge row: dated on day 1, one day long, no resource and no tags."""
    billed = values[focus.BILLED_COST]
    row: dict[str, Any] = {
        focus.BILLING_ACCOUNT_ID: account.id,
        focus.BILLING_ACCOUNT_NAME: account.name,
        focus.BILLING_CURRENCY: account.currency,
        focus.BILLING_PERIOD_START: day,
        focus.BILLING_PERIOD_END: day + pd.offsets.MonthBegin(1),
        focus.CHARGE_PERIOD_START: day,
        focus.CHARGE_PERIOD_END: day + pd.Timedelta(days=1),
        focus.CHARGE_FREQUENCY: "Recurring",
        focus.PROVIDER_NAME: account.provider,
        focus.PUBLISHER_NAME: account.provider,
        focus.INVOICE_ISSUER_NAME: account.provider,
        focus.REGION_ID: None,
        focus.REGION_NAME: None,
        focus.RESOURCE_ID: None,
        focus.PRICING_QUANTITY: None,
        focus.PRICING_UNIT: None,
        focus.EFFECTIVE_COST: billed,
        focus.LIST_COST: billed,
        focus.CONTRACTED_COST: billed,
        focus.TAGS: "{}",
    }
    return row | values


_TIMESTAMP_COLUMNS = (
    focus.BILLING_PERIOD_START,
    focus.BILLING_PERIOD_END,
    focus.CHARGE_PERIOD_START,
    focus.CHARGE_PERIOD_END,
)


def _assemble(usage: pd.DataFrame, charges: pd.DataFrame) -> pd.DataFrame:
    """Usage and month-start charges in one frame: by day, then series, then charges."""
    frames = [
        frame.astype({c: "datetime64[ns, UTC]" for c in _TIMESTAMP_COLUMNS}) for frame in (usage, charges)
    ]
    rows = pd.concat(frames, ignore_index=True)
    order = np.lexsort((rows["_order"].to_numpy(), rows["_day"].to_numpy()))
    rows = rows.iloc[order].reset_index(drop=True)
    return rows[list(focus.COLUMNS)]


# --- CSV --------------------------------------------------------------------------------------


def _write_csv(rows: pd.DataFrame, path: Path) -> None:
    columns = [_format_column(rows[name]) for name in focus.COLUMNS]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(focus.COLUMNS)
        writer.writerows(zip(*columns, strict=True))


def _format_column(values: pd.Series) -> list[str]:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        # Charge days repeat across many rows: format each distinct timestamp once.
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        text = [ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ") for ts in uniques]
        return [text[code] if code >= 0 else "" for code in codes.tolist()]
    return [_format_cell(value) for value in values]


def _format_cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
