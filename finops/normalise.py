"""FOCUS line items -> one row per charge day x dimension set, ready for `cost_daily`.

Team, environment and cost center come from tags, matched by configurable key aliases
(the first alias present wins). Money stays `Decimal` throughout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from finops import focus

DEFAULT_TAG_ALIASES: Mapping[str, Sequence[str]] = {
    "team": ("team", "Team", "TEAM", "user:team", "user:Team", "owner-team"),
    "environment": (
        "environment",
        "Environment",
        "env",
        "Env",
        "user:environment",
        "user:Environment",
        "user:env",
    ),
    "cost_center": (
        "cost_center",
        "cost-center",
        "CostCenter",
        "costcenter",
        "user:cost-center",
        "user:cost_center",
        "user:CostCenter",
    ),
}

# cost_daily column <- FOCUS column
DIMENSION_COLUMNS = {
    "provider": focus.PROVIDER_NAME,
    "billing_account": focus.BILLING_ACCOUNT_ID,
    "sub_account": focus.SUB_ACCOUNT_ID,
    "service": focus.SERVICE_NAME,
    "service_category": focus.SERVICE_CATEGORY,
    "region": focus.REGION_ID,
    "charge_category": focus.CHARGE_CATEGORY,
}
TAG_DIMENSIONS = ("team", "environment", "cost_center")
KEY_COLUMNS = (
    "usage_date",
    "billing_period_start",
    *DIMENSION_COLUMNS,
    *TAG_DIMENSIONS,
    "currency",
    "tags_json",
)
MONEY_OUT = {
    "billed_cost": focus.BILLED_COST,
    "effective_cost": focus.EFFECTIVE_COST,
    "list_cost": focus.LIST_COST,
}


@dataclass(frozen=True)
class RawTotal:
    """What the source itself said for one scope, before any roll-up (for reconciliation)."""

    provider: str
    billing_account: str
    billing_period_start: date
    currency: str
    rows: int
    billed_cost: Decimal
    effective_cost: Decimal
    list_cost: Decimal


def parse_tags(value: Any) -> dict[str, str]:
    if value is None or value == "" or (isinstance(value, float) and pd.isna(value)):
        return {}
    tags = value if isinstance(value, Mapping) else json.loads(value)
    return {str(k): "" if v is None else str(v) for k, v in tags.items()}


def tag_dimensions(tags: Mapping[str, str], aliases: Mapping[str, Sequence[str]]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for dimension in TAG_DIMENSIONS:
        found[dimension] = next(
            (tags[key] for key in aliases.get(dimension, ()) if tags.get(key)),
            None,
        )
    return found


def _tag_columns(tags: Mapping[str, str], aliases: Mapping[str, Sequence[str]]) -> tuple[str | None, ...]:
    found = tag_dimensions(tags, aliases)
    return (json.dumps(tags, sort_keys=True, separators=(",", ":")), *(found[d] for d in TAG_DIMENSIONS))


def _utc_dates(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, utc=True).dt.date


# Roll-ups sum money as integer nano-units (exact for up to 9 decimals, vectorised);
# one group's daily total must stay under 9.2 billion in its currency.
_NANO_DIGITS = 9
_NANO_QUANTUM = Decimal(1).scaleb(-_NANO_DIGITS)


_NANO_TYPE = pa.decimal128(38, _NANO_DIGITS)


def _to_nanos(values: pd.Series) -> np.ndarray:
    """Money as int64 nano-units; missing is 0. Vectorised through Arrow's decimal128, whose
    storage is the unscaled integer; values with more than 9 decimals are rounded half even."""
    try:
        decimals = pa.array(values.to_numpy(dtype=object), type=_NANO_TYPE, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        decimals = pa.array(
            [None if v is None else Decimal(v).quantize(_NANO_QUANTUM) for v in _present(values)],
            type=_NANO_TYPE,
        )
    words = np.frombuffer(decimals.buffers()[1], dtype=np.int64).reshape(-1, 2)
    low, high = words[decimals.offset : decimals.offset + len(decimals)].T
    if np.any(high != (low >> 63)):
        raise ValueError("an amount does not fit in 64-bit nano-units (over 9.2 billion)")
    valid = decimals.is_valid().to_numpy(zero_copy_only=False)
    return np.where(valid, low, 0)


def _present(values: pd.Series) -> list[Any]:
    return [None if v is None or (isinstance(v, float) and pd.isna(v)) else v for v in values]


def _nanos_to_decimal(value: Any) -> Decimal:
    return Decimal(int(value)).scaleb(-_NANO_DIGITS).normalize()


def _from_nanos(values: pd.Series) -> pd.Series:
    return values.map(_nanos_to_decimal).astype(object)


def partial(items: pd.DataFrame, aliases: Mapping[str, Sequence[str]] = DEFAULT_TAG_ALIASES) -> pd.DataFrame:
    """Roll one batch of FOCUS line items up to day x dimension set (x tag set), money in nano-units.

    Partials of many batches are summed by `combine`; `finish` makes the rows `cost_daily` takes.
    """
    frame = pd.DataFrame(
        {
            "usage_date": _utc_dates(items[focus.CHARGE_PERIOD_START]),
            "billing_period_start": _utc_dates(items[focus.BILLING_PERIOD_START]),
            **{dim: items[col] for dim, col in DIMENSION_COLUMNS.items()},
            "currency": items[focus.BILLING_CURRENCY],
            **{out: _to_nanos(items[col]) for out, col in MONEY_OUT.items()},
        }
    )
    providers = frame["provider"].dropna().unique()
    frame["provider"] = frame["provider"].map({name: focus.normalise_provider(name) for name in providers})
    # Tags repeat across line items: parse and look up each distinct tag string once.
    codes, distinct = pd.factorize(items[focus.TAGS], use_na_sentinel=True)
    per_tag_set = [_tag_columns(parse_tags(raw), aliases) for raw in distinct] + [_tag_columns({}, aliases)]
    looked_up = pd.DataFrame(per_tag_set, columns=["tags_json", *TAG_DIMENSIONS]).iloc[codes]
    for column in looked_up.columns:
        frame[column] = looked_up[column].to_numpy()
    return _sum(frame)


def _sum(frame: pd.DataFrame) -> pd.DataFrame:
    keys = list(KEY_COLUMNS)
    frame[keys] = frame[keys].astype(object).where(frame[keys].notna(), None)
    return frame.groupby(keys, dropna=False, sort=True)[list(MONEY_OUT)].sum().reset_index()


def combine(partials: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Sum partial roll-ups of several batches into one."""
    if len(partials) == 1:
        return partials[0]
    return _sum(pd.concat(partials, ignore_index=True))


def finish(rolled: pd.DataFrame) -> pd.DataFrame:
    """A partial roll-up as `cost_daily` rows: money back to `Decimal`, tags as a dict."""
    daily = rolled.copy()
    for out in MONEY_OUT:
        daily[out] = _from_nanos(daily[out])
    daily["tags"] = daily.pop("tags_json").map(json.loads)
    return daily.astype(object).where(daily.notna(), None)


def rollup(items: pd.DataFrame, aliases: Mapping[str, Sequence[str]] = DEFAULT_TAG_ALIASES) -> pd.DataFrame:
    """Roll FOCUS line items up to one row per day x dimension set (x tag set)."""
    return finish(partial(items, aliases))


def raw_totals(items: pd.DataFrame) -> list[RawTotal]:
    """Totals per provider x billing account x billing period x currency, straight from the rows."""
    providers = items[focus.PROVIDER_NAME].dropna().unique()
    frame = pd.DataFrame(
        {
            "provider": items[focus.PROVIDER_NAME].map({p: focus.normalise_provider(p) for p in providers}),
            "billing_account": items[focus.BILLING_ACCOUNT_ID],
            "billing_period_start": _utc_dates(items[focus.BILLING_PERIOD_START]),
            "currency": items[focus.BILLING_CURRENCY],
            "rows": 1,
            **{out: _to_nanos(items[col]) for out, col in MONEY_OUT.items()},
        }
    )
    keys = ["provider", "billing_account", "billing_period_start", "currency"]
    sums = frame.groupby(keys, sort=True)[["rows", *MONEY_OUT]].sum().reset_index()
    return [
        RawTotal(
            provider=str(row["provider"]),
            billing_account=str(row["billing_account"]),
            billing_period_start=row["billing_period_start"],
            currency=str(row["currency"]),
            rows=int(row["rows"]),
            billed_cost=_nanos_to_decimal(row["billed_cost"]),
            effective_cost=_nanos_to_decimal(row["effective_cost"]),
            list_cost=_nanos_to_decimal(row["list_cost"]),
        )
        for row in sums.to_dict("records")
    ]


def fingerprint(items: pd.DataFrame) -> str:
    """A content hash of line items: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, items.columns)).encode())
    digest.update(pd.util.hash_pandas_object(items.astype(str), index=False).to_numpy().tobytes())
    return digest.hexdigest()


def merge_totals(totals: Sequence[RawTotal]) -> list[RawTotal]:
    """Add up the raw totals of several batches, one per scope."""
    merged: dict[tuple[str, str, date, str], RawTotal] = {}
    for total in totals:
        key = (total.provider, total.billing_account, total.billing_period_start, total.currency)
        seen = merged.get(key)
        merged[key] = (
            total
            if seen is None
            else RawTotal(
                *key,
                rows=seen.rows + total.rows,
                billed_cost=seen.billed_cost + total.billed_cost,
                effective_cost=seen.effective_cost + total.effective_cost,
                list_cost=seen.list_cost + total.list_cost,
            )
        )
    return [merged[key] for key in sorted(merged)]
