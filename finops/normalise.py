"""FOCUS line items -> one row per charge day x dimension set, ready for `cost_daily`.

Works on conformed Arrow tables (`finops.lineitems`) with Arrow's hash group-by, so a batch of
line items never becomes Python objects; only the (small) roll-up does. Money is summed as
exact decimal128 and comes out as `Decimal`. Team, environment and cost center come from tags,
matched by configurable key aliases (the first alias present wins). Line items with a ResourceId
are also rolled up per billing period and resource (`cost_resources`: what tag governance names
as the top untagged resources).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
ROLLUP_COLUMNS = (*KEY_COLUMNS, "billed_cost", "effective_cost", "list_cost")
# Hourly roll-up (line items charged by the hour only): fewer dimensions, BilledCost only.
HOURLY_KEYS = (
    "usage_hour",
    "billing_period_start",
    "provider",
    "billing_account",
    "service",
    "team",
    "currency",
)
# Per-resource roll-up (line items with a ResourceId only): billing period x these keys, by tag set.
RESOURCE_KEYS = (
    "billing_period_start",
    "provider",
    "billing_account",
    "sub_account",
    "service",
    "region",
    "resource_id",
    "team",
    "currency",
    "tags_json",
)
RESOURCE_MONEY = ("billed_cost", "effective_cost")
_HOUR = timedelta(hours=1)
REQUIRED_MONEY = ("billed_cost", "effective_cost")  # NOT NULL in cost_daily; list_cost may be NULL
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
    list_cost: Decimal | None  # None: the source had no list prices


def parse_tags(value: Any) -> dict[str, str]:
    if value is None or value == "":
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


def _tag_sets(
    tags: pa.ChunkedArray | pa.Array, aliases: Mapping[str, Sequence[str]]
) -> tuple[pa.Array, pa.Table]:
    """Each row's tag set number, and per tag set its canonical JSON and tag dimensions.

    Tag strings repeat across line items: each distinct one is parsed and looked up once.
    A missing tag string is the last tag set, `{}`.
    """
    encoded = pc.dictionary_encode(tags).combine_chunks()
    parsed = [parse_tags(raw) for raw in encoded.dictionary.to_pylist()] + [{}]
    found = [tag_dimensions(one, aliases) for one in parsed]
    sets = pa.table(
        {
            "tags_json": pa.array(
                [json.dumps(one, sort_keys=True, separators=(",", ":")) for one in parsed], pa.string()
            ),
            **{dim: pa.array([f[dim] for f in found], pa.string()) for dim in TAG_DIMENSIONS},
        }
    )
    return pc.fill_null(encoded.indices, len(parsed) - 1), sets


def _providers(names: pa.ChunkedArray | pa.Array) -> pa.Array:
    encoded = pc.dictionary_encode(names).combine_chunks()
    short = [focus.normalise_provider(name) for name in encoded.dictionary.to_pylist()]
    return pc.take(pa.array(short, pa.string()), encoded.indices)


def _day(times: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return pc.cast(times, pa.date32())  # the UTC calendar day (times are UTC)


def _sum(
    table: pa.Table, keys: Sequence[str], counted: bool = False, money: Sequence[str] = tuple(MONEY_OUT)
) -> pa.Table:
    aggregates: list[tuple[Any, str]] = [(column, "sum") for column in money]
    if counted:
        aggregates.append(("rows", "sum"))
    summed = table.group_by(list(keys), use_threads=False).aggregate(aggregates)
    return summed.rename_columns([name.removesuffix("_sum") for name in summed.column_names])


class Partials(NamedTuple):
    daily: pa.Table
    hourly: pa.Table | None  # None: no line item charged by the hour
    resources: pa.Table | None  # None: no line item with a ResourceId


def partials(items: pa.Table, aliases: Mapping[str, Sequence[str]] = DEFAULT_TAG_ALIASES) -> Partials:
    """Roll one conformed batch (`finops.lineitems`) up to day x dimension set (x tag set); for
    its line items charged by the hour, to hour x `HOURLY_KEYS`; and for those with a ResourceId,
    to billing period x `RESOURCE_KEYS`.

    Partials of many batches are summed by `combine`, `combine_hourly` and `combine_resources`;
    `finish`, `finish_hourly` and `finish_resources` make the rows `cost_daily`, `cost_hourly` and
    `cost_resources` take. Tags and provider names are looked up once for all three.
    """
    tag_set, sets = _tag_sets(items[focus.TAGS], aliases)
    providers = _providers(items[focus.PROVIDER_NAME])
    return Partials(
        _daily(items, tag_set, sets, providers),
        _hourly(items, tag_set, sets, providers),
        _resources(items, tag_set, sets, providers),
    )


def partial(items: pa.Table, aliases: Mapping[str, Sequence[str]] = DEFAULT_TAG_ALIASES) -> pa.Table:
    """The daily partial roll-up of one batch (see `partials`)."""
    return partials(items, aliases)[0]


def _daily(items: pa.Table, tag_set: pa.Array, sets: pa.Table, providers: pa.Array) -> pa.Table:
    keyed = pa.table(
        {
            "usage_date": _day(items[focus.CHARGE_PERIOD_START]),
            "billing_period_start": _day(items[focus.BILLING_PERIOD_START]),
            "provider": providers,
            **{dim: items[col] for dim, col in DIMENSION_COLUMNS.items() if dim != "provider"},
            "currency": items[focus.BILLING_CURRENCY],
            "tag_set": tag_set,
            **{out: items[col] for out, col in MONEY_OUT.items()},
        }
    )
    keys = [k for k in KEY_COLUMNS if k not in sets.column_names]
    summed = _sum(keyed, [*keys, "tag_set"])
    looked_up = sets.take(summed["tag_set"])
    for name in sets.column_names:
        summed = summed.append_column(name, looked_up[name])
    return summed.select(list(ROLLUP_COLUMNS))


def _hourly(items: pa.Table, tag_set: pa.Array, sets: pa.Table, providers: pa.Array) -> pa.Table | None:
    duration = pc.subtract(items[focus.CHARGE_PERIOD_END], items[focus.CHARGE_PERIOD_START])
    by_the_hour = pc.fill_null(pc.equal(duration, pa.scalar(_HOUR, duration.type)), False)
    if not pc.any(by_the_hour).as_py():
        return None
    rows = items.filter(by_the_hour)
    keyed = pa.table(
        {
            "usage_hour": pc.floor_temporal(rows[focus.CHARGE_PERIOD_START], unit="hour"),
            "billing_period_start": _day(rows[focus.BILLING_PERIOD_START]),
            "provider": pc.filter(providers, by_the_hour),
            "billing_account": rows[focus.BILLING_ACCOUNT_ID],
            "service": rows[focus.SERVICE_NAME],
            "team": sets["team"].take(pc.filter(tag_set, by_the_hour)),
            "currency": rows[focus.BILLING_CURRENCY],
            "billed_cost": rows[focus.BILLED_COST],
        }
    )
    return combine_hourly([keyed])


def _resources(items: pa.Table, tag_set: pa.Array, sets: pa.Table, providers: pa.Array) -> pa.Table | None:
    with_id = pc.fill_null(pc.not_equal(items[focus.RESOURCE_ID], ""), False)
    if not pc.any(with_id).as_py():
        return None
    keyed = pa.table(
        {
            "billing_period_start": _day(items[focus.BILLING_PERIOD_START]),
            "provider": providers,
            "billing_account": items[focus.BILLING_ACCOUNT_ID],
            "sub_account": items[focus.SUB_ACCOUNT_ID],
            "service": items[focus.SERVICE_NAME],
            "region": items[focus.REGION_ID],
            "resource_id": items[focus.RESOURCE_ID],
            "currency": items[focus.BILLING_CURRENCY],
            "tag_set": tag_set,
            **{out: items[MONEY_OUT[out]] for out in RESOURCE_MONEY},
        }
    ).filter(with_id)
    keys = [k for k in RESOURCE_KEYS if k not in sets.column_names]
    summed = _sum(keyed, [*keys, "tag_set"], money=RESOURCE_MONEY)
    looked_up = sets.take(summed["tag_set"])
    for name in ("team", "tags_json"):
        summed = summed.append_column(name, looked_up[name])
    return summed.select([*RESOURCE_KEYS, *RESOURCE_MONEY])


def _combine(partials: Sequence[pa.Table], keys: Sequence[str], money: Sequence[str]) -> pa.Table:
    return _sum(pa.concat_tables(partials), keys, money=money).select([*keys, *money])


def combine(partials: Sequence[pa.Table]) -> pa.Table:
    """Sum partial roll-ups of several batches into one."""
    return partials[0] if len(partials) == 1 else _combine(partials, KEY_COLUMNS, tuple(MONEY_OUT))


def combine_hourly(partials: Sequence[pa.Table]) -> pa.Table:
    """Sum hourly line items or hourly partial roll-ups into one roll-up."""
    return _combine(partials, HOURLY_KEYS, ("billed_cost",))


def combine_resources(partials: Sequence[pa.Table]) -> pa.Table:
    """Sum per-resource partial roll-ups of several batches into one."""
    return partials[0] if len(partials) == 1 else _combine(partials, RESOURCE_KEYS, RESOURCE_MONEY)


def finish_hourly(rolled: pa.Table) -> pd.DataFrame:
    """An hourly roll-up as `cost_hourly` rows: UTC datetimes, money as `Decimal`."""
    ordered = rolled.sort_by([(key, "ascending") for key in HOURLY_KEYS])
    hourly = ordered.to_pandas(date_as_object=True, timestamp_as_object=True)
    hourly["billed_cost"] = hourly["billed_cost"].map(_normal, na_action="ignore")
    return hourly.astype(object).where(hourly.notna(), None)


def finish(rolled: pa.Table) -> pd.DataFrame:
    """A roll-up as `cost_daily` rows in a stable order: money as `Decimal`, tags as a dict."""
    return _finished(rolled, KEY_COLUMNS, tuple(MONEY_OUT))


def finish_resources(rolled: pa.Table) -> pd.DataFrame:
    """A per-resource roll-up as `cost_resources` rows: money as `Decimal`, tags as a dict."""
    return _finished(rolled, RESOURCE_KEYS, RESOURCE_MONEY)


def _finished(rolled: pa.Table, keys: Sequence[str], money: Sequence[str]) -> pd.DataFrame:
    ordered = rolled.sort_by([(key, "ascending") for key in keys])
    for out in REQUIRED_MONEY:  # a NULL EffectiveCost is missing, not a number: it adds nothing
        zero = pa.scalar(Decimal(0), ordered.schema.field(out).type)
        ordered = ordered.set_column(
            ordered.schema.get_field_index(out), out, pc.fill_null(ordered[out], zero)
        )
    rows = ordered.to_pandas(date_as_object=True)
    for out in money:
        rows[out] = rows[out].map(_normal, na_action="ignore")
    rows["tags"] = rows.pop("tags_json").map(json.loads)
    return rows.astype(object).where(rows.notna(), None)


def _normal(value: Decimal) -> Decimal:
    return value.normalize() if value else Decimal(0)


def rollup(items: pa.Table, aliases: Mapping[str, Sequence[str]] = DEFAULT_TAG_ALIASES) -> pd.DataFrame:
    """Roll conformed line items up to one row per day x dimension set (x tag set)."""
    return finish(partial(items, aliases))


def resources(items: pa.Table, aliases: Mapping[str, Sequence[str]] = DEFAULT_TAG_ALIASES) -> pd.DataFrame:
    """Roll conformed line items with a ResourceId up to one row per billing period x resource
    (x the rest of `RESOURCE_KEYS`); empty when none has one."""
    rolled = partials(items, aliases).resources
    return pd.DataFrame() if rolled is None else finish_resources(rolled)


def raw_totals(items: pa.Table) -> list[RawTotal]:
    """Totals per provider x billing account x billing period x currency, straight from the rows."""
    keyed = pa.table(
        {
            "provider": _providers(items[focus.PROVIDER_NAME]),
            "billing_account": items[focus.BILLING_ACCOUNT_ID],
            "billing_period_start": _day(items[focus.BILLING_PERIOD_START]),
            "currency": items[focus.BILLING_CURRENCY],
            "rows": np.ones(items.num_rows, dtype=np.int64),
            **{out: items[col] for out, col in MONEY_OUT.items()},
        }
    )
    keys = ["provider", "billing_account", "billing_period_start", "currency"]
    sums = _sum(keyed, keys, counted=True).sort_by([(key, "ascending") for key in keys])
    return [
        RawTotal(
            provider=row["provider"],
            billing_account=row["billing_account"],
            billing_period_start=row["billing_period_start"],
            currency=row["currency"],
            rows=int(row["rows"]),
            billed_cost=_normal(row["billed_cost"] or Decimal(0)),
            effective_cost=_normal(row["effective_cost"] or Decimal(0)),
            list_cost=None if row["list_cost"] is None else _normal(row["list_cost"]),
        )
        for row in sums.to_pylist()
    ]


def fingerprint(items: pa.Table) -> str:
    """A content hash of line items: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    sink = pa.BufferOutputStream()
    with pa.RecordBatchStreamWriter(sink, items.schema) as writer:
        writer.write_table(items.combine_chunks())
    digest.update(sink.getvalue())
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
                list_cost=_add(seen.list_cost, total.list_cost),
            )
        )
    return [merged[key] for key in sorted(merged)]


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return b if a is None else a if b is None else a + b
