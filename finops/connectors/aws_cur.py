"""AWS Cost and Usage Reports: legacy CUR (CSV, `lineItem/UnblendedCost`; or its Athena Parquet,
`line_item_unblended_cost`) and CUR 2.0 from Data Exports (Parquet or CSV, with `resource_tags`
and `product` as maps).

- BilledCost is `UnblendedCost` on every line: the invoice is the sum of the unblended cost of
  all line items (usage, fees, tax, credits, refunds, discounts and the Savings Plan negation).
- EffectiveCost is AWS's amortised cost: Savings Plan and reserved usage at their effective cost,
  the unused part of a commitment's recurring fee, upfront fees and negations at zero.
- ListCost is the public on-demand cost; ChargeCategory comes from the line item type (`TYPES`).
- Tags are the user and AWS tags (`resourceTags/user:team` or `resource_tags` key `user_team`,
  both read as `user:team`).

The delivery manifest decides which files are read (`current_delivery`, a selector): AWS writes
each delivery of a billing period (an `assemblyId`, or a Data Exports execution) to a new folder
and leaves the older ones, so only the files the newest manifest of each period names are read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from finops import focus, lineitems
from finops.connectors import reading, register, register_selector
from finops.errors import UserError
from finops.lineitems import Where
from finops.sources import SourceFile

NAME = "aws-cur"
PROVIDER = "AWS"

# What we read -> (legacy CUR name, CUR 2.0 / Athena name).
COLUMNS = {
    "payer": ("bill/PayerAccountId", "bill_payer_account_id"),
    "account": ("lineItem/UsageAccountId", "line_item_usage_account_id"),
    "period": ("bill/BillingPeriodStartDate", "bill_billing_period_start_date"),
    "start": ("lineItem/UsageStartDate", "line_item_usage_start_date"),
    "end": ("lineItem/UsageEndDate", "line_item_usage_end_date"),
    "type": ("lineItem/LineItemType", "line_item_line_item_type"),
    "currency": ("lineItem/CurrencyCode", "line_item_currency_code"),
    "cost": ("lineItem/UnblendedCost", "line_item_unblended_cost"),
    "code": ("lineItem/ProductCode", "line_item_product_code"),
    "resource": ("lineItem/ResourceId", "line_item_resource_id"),
    "product_name": ("product/ProductName", "product_product_name"),
    "region": ("product/region", "product_region_code"),
    "region_code": ("product/regionCode", "product_region"),
    "list": ("pricing/publicOnDemandCost", "pricing_public_on_demand_cost"),
    "ri_effective": ("reservation/EffectiveCost", "reservation_effective_cost"),
    "ri_unused_upfront": (
        "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
        "reservation_unused_amortized_upfront_fee_for_billing_period",
    ),
    "ri_unused_recurring": ("reservation/UnusedRecurringFee", "reservation_unused_recurring_fee"),
    "ri_arn": ("reservation/ReservationARN", "reservation_reservation_a_r_n"),
    "sp_effective": ("savingsPlan/SavingsPlanEffectiveCost", "savings_plan_savings_plan_effective_cost"),
    "sp_commitment": ("savingsPlan/TotalCommitmentToDate", "savings_plan_total_commitment_to_date"),
    "sp_used": ("savingsPlan/UsedCommitment", "savings_plan_used_commitment"),
}
REQUIRED = ("payer", "period", "start", "type", "currency", "cost")
MONEY = (
    "cost",
    "list",
    "ri_effective",
    "ri_unused_upfront",
    "ri_unused_recurring",
    "sp_effective",
    "sp_commitment",
    "sp_used",
)
TAG_PREFIXES = ("resourceTags/", "resource_tags_")  # legacy CSV; legacy Parquet (Athena)
MAPS = {"resource_tags": "tags", "product": "product"}  # CUR 2.0

# lineItem/LineItemType -> FOCUS ChargeCategory; an unknown (new) type is an Adjustment.
TYPES = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "Fee": "Purchase",
    "RIFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Credit",
    "BundledDiscount": "Credit",
    "EdpDiscount": "Credit",
    "PrivateRateDiscount": "Credit",
    "SppDiscount": "Credit",
    "DistributorDiscount": "Credit",
}
# lineItem/ProductCode -> FOCUS ServiceCategory, for the common services.
CATEGORIES = {
    "AmazonEC2": "Compute",
    "AWSLambda": "Compute",
    "AmazonECS": "Compute",
    "AmazonEKS": "Compute",
    "AWSFargate": "Compute",
    "AmazonLightsail": "Compute",
    "AmazonS3": "Storage",
    "AmazonEFS": "Storage",
    "AmazonFSx": "Storage",
    "AWSBackup": "Storage",
    "AmazonGlacier": "Storage",
    "AmazonRDS": "Databases",
    "AmazonDynamoDB": "Databases",
    "AmazonElastiCache": "Databases",
    "AmazonRedshift": "Databases",
    "AmazonDocDB": "Databases",
    "AmazonNeptune": "Databases",
    "AmazonVPC": "Networking",
    "AmazonCloudFront": "Networking",
    "AmazonRoute53": "Networking",
    "AWSELB": "Networking",
    "AWSDataTransfer": "Networking",
    "AmazonApiGateway": "Networking",
    "AmazonAthena": "Analytics",
    "AmazonKinesis": "Analytics",
    "AmazonES": "Analytics",
    "AWSGlue": "Analytics",
    "ElasticMapReduce": "Analytics",
    "AmazonSageMaker": "AI and Machine Learning",
    "AmazonBedrock": "AI and Machine Learning",
    "AmazonCloudWatch": "Management and Governance",
    "AWSConfig": "Management and Governance",
    "AWSCloudTrail": "Management and Governance",
    "AWSSecretsManager": "Security",
    "awskms": "Security",
    "AWSShield": "Security",
    "AmazonGuardDuty": "Security",
    "AmazonSNS": "Integration",
    "AmazonSQS": "Integration",
    "AWSSupportBusiness": "Other",
    "AWSSupportEnterprise": "Other",
}
_MONEY_CALC = pa.decimal128(28, lineitems.MONEY_DIGITS)  # room for sums within decimal128(38)
_SEP, _END = "\x1f", "\x1e"


@dataclass(frozen=True)
class Layout:
    """Where each thing is in one file's header."""

    columns: dict[str, str]  # what we read -> column name
    tags: dict[str, str]  # column name -> tag key (legacy)
    maps: dict[str, str]  # column name -> "tags" | "product" (CUR 2.0)

    @property
    def wanted(self) -> list[str]:
        return [*self.columns.values(), *self.tags, *self.maps]


def layout(columns: Sequence[str]) -> Layout:
    present = set(columns)
    found = {}
    for what, names in COLUMNS.items():
        name = next((n for n in names if n in present), None)
        if name:
            found[what] = name
    tags = {
        column: _tag_key(column[len(prefix) :])
        for column in columns
        for prefix in TAG_PREFIXES
        if column.startswith(prefix)
    }
    return Layout(found, tags, {column: MAPS[column] for column in columns if column in MAPS})


def _tag_key(key: str) -> str:
    """`user_team` (CUR 2.0, Athena) -> `user:team`; `user:team` (legacy CSV) stays."""
    for kind in ("user", "aws"):
        if key.startswith(f"{kind}_"):
            return f"{kind}:{key[len(kind) + 1 :]}"
    return key


class AwsCurConnector:
    name = NAME

    def sniff(self, columns: Sequence[str]) -> bool:
        present = set(columns)
        return any({COLUMNS["cost"][form], COLUMNS["payer"][form]} <= present for form in (0, 1))

    def batches(self, file: SourceFile, batch_rows: int = 200_000) -> Iterator[pa.Table]:
        offset = 0
        found: list[Layout] = []
        for batch in reading.batches(file, partial(_choose, file, found), batch_rows):
            where = Where(file.location, offset)
            table = lineitems.conform(_focus(batch, found[0], where), where)
            offset += table.num_rows
            yield table


def _choose(file: SourceFile, found: list[Layout], columns: Sequence[str]) -> list[str]:
    shape = layout(columns)
    missing = [COLUMNS[what][0] for what in REQUIRED if what not in shape.columns]
    if missing:
        raise UserError(
            f"{file.location} lacks the CUR column(s) {', '.join(missing)}; "
            "is it a Cost and Usage Report? Name its format with --format"
        )
    found.append(shape)
    return shape.wanted


def _column(batch: pa.RecordBatch, shape: Layout, what: str) -> pa.Array | None:
    name = shape.columns.get(what)
    return None if name is None else batch.column(name)


def _focus(batch: pa.RecordBatch, shape: Layout, where: Where) -> pa.Table:
    """One batch of CUR rows as FOCUS-named columns (typed by `lineitems.conform`)."""
    rows = batch.num_rows
    money = {
        what: lineitems.money(values, COLUMNS[what][0], where)
        for what in MONEY
        if (values := _column(batch, shape, what)) is not None
    }
    kinds = _column(batch, shape, "type")
    assert kinds is not None  # required
    kinds = pc.cast(kinds, pa.string())
    product = _map_column(batch, shape, "product")
    service = _first_of(
        _column(batch, shape, "product_name"),
        None if product is None else pc.map_lookup(product, "product_name", "first"),
        _column(batch, shape, "code"),
    )
    out = {
        focus.PROVIDER_NAME: pa.array([PROVIDER] * rows, pa.string()) if rows else pa.array([], pa.string()),
        focus.BILLING_ACCOUNT_ID: _column(batch, shape, "payer"),
        focus.SUB_ACCOUNT_ID: _column(batch, shape, "account"),
        focus.BILLING_PERIOD_START: _column(batch, shape, "period"),
        focus.CHARGE_PERIOD_START: _column(batch, shape, "start"),
        focus.CHARGE_PERIOD_END: _column(batch, shape, "end"),
        focus.BILLING_CURRENCY: _column(batch, shape, "currency"),
        focus.CHARGE_CATEGORY: _lookup(kinds, TYPES, "Adjustment"),
        focus.SERVICE_NAME: service,
        focus.SERVICE_CATEGORY: _lookup(_column(batch, shape, "code"), CATEGORIES, "Other"),
        focus.REGION_ID: _first_of(_column(batch, shape, "region"), _column(batch, shape, "region_code")),
        focus.RESOURCE_ID: _column(batch, shape, "resource"),
        focus.BILLED_COST: money["cost"],
        focus.EFFECTIVE_COST: _amortised(kinds, money, _column(batch, shape, "ri_arn")),
        focus.LIST_COST: money.get("list"),
        focus.TAGS: _tags(batch, shape),
    }
    return pa.table({name: values for name, values in out.items() if values is not None})


def _first_of(*columns: pa.Array | None) -> pa.Array | None:
    """The first non-empty value of each row across `columns`."""
    present = [pc.if_else(pc.equal(c, ""), None, c) for c in columns if c is not None]
    present = [pc.cast(c, pa.string()) for c in present]
    return pc.coalesce(*present) if present else None


def _lookup(values: pa.Array | None, table: dict[str, str], default: str) -> pa.Array | None:
    if values is None:
        return None
    encoded = pc.dictionary_encode(pc.cast(values, pa.string()))
    names = [table.get(value, default) if value else None for value in encoded.dictionary.to_pylist()]
    return pc.take(pa.array(names, pa.string()), encoded.indices)


def _amortised(kinds: pa.Array, money: dict[str, pa.Array], ri_arn: pa.Array | None) -> pa.Array:
    """AWS's amortised cost of each line (see the module docstring)."""

    def amount(what: str) -> pa.Array:
        values = money.get(what)
        return pc.cast(
            values if values is not None else pa.nulls(len(kinds), lineitems.MONEY_TYPE), _MONEY_CALC
        )

    cost = amount("cost")
    zero = pa.scalar(Decimal(0), _MONEY_CALC)

    def kind(name: str) -> pa.Array:
        return pc.fill_null(pc.equal(kinds, name), False)

    upfront_fee = (
        pc.and_(kind("Fee"), pc.fill_null(pc.not_equal(ri_arn, ""), False))
        if ri_arn is not None
        else kind("")
    )
    rules = [
        (kind("SavingsPlanCoveredUsage"), pc.coalesce(amount("sp_effective"), cost)),
        (
            kind("SavingsPlanRecurringFee"),
            pc.coalesce(pc.subtract(amount("sp_commitment"), amount("sp_used")), cost),
        ),
        (pc.or_(kind("SavingsPlanNegation"), kind("SavingsPlanUpfrontFee")), zero),
        (kind("DiscountedUsage"), pc.coalesce(amount("ri_effective"), cost)),
        (
            kind("RIFee"),
            pc.coalesce(
                pc.add(
                    pc.fill_null(amount("ri_unused_upfront"), zero),
                    pc.fill_null(amount("ri_unused_recurring"), zero),
                ),
                cost,
            ),
        ),
        (upfront_fee, zero),
    ]
    conditions = pc.make_struct(
        *(condition for condition, _ in rules), field_names=[str(i) for i in range(len(rules))]
    )
    values = [pc.cast(value, _MONEY_CALC) if isinstance(value, pa.Array) else value for _, value in rules]
    return pc.cast(pc.case_when(conditions, *values, cost), lineitems.MONEY_TYPE)


def _map_column(batch: pa.RecordBatch, shape: Layout, kind: str) -> pa.Array | None:
    name = next((column for column, what in shape.maps.items() if what == kind), None)
    return None if name is None else batch.column(name)


def _tags(batch: pa.RecordBatch, shape: Layout) -> pa.Array | None:
    """Each row's tags as a JSON object: built once per distinct tag set, not per row."""
    if shape.tags:
        keys = list(shape.tags.values())
        cells = [pc.fill_null(pc.cast(batch.column(column), pa.string()), "") for column in shape.tags]
        joined = pc.binary_join_element_wise(*cells, _SEP)
        return _encode(joined, lambda text: dict(zip(keys, text.split(_SEP), strict=True)))
    mapped = _map_column(batch, shape, "tags")
    if mapped is None:
        return None
    entries = pc.binary_join_element_wise(mapped.keys, pc.fill_null(mapped.items, ""), _SEP)
    per_row = pc.binary_join(pa.ListArray.from_arrays(mapped.offsets, entries, mask=mapped.is_null()), _END)
    return _encode(per_row, lambda text: dict(entry.split(_SEP, 1) for entry in text.split(_END) if entry))


def _encode(keys: pa.Array, parse: Any) -> pa.Array:
    encoded = pc.dictionary_encode(keys)
    texts = []
    for text in encoded.dictionary.to_pylist():
        tags = {_tag_key(key): value for key, value in parse(text).items() if value}
        texts.append(json.dumps(tags, sort_keys=True) if tags else None)
    return pc.take(pa.array(texts, pa.string()), encoded.indices)


# --- which files a delivery consists of -------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    file: SourceFile
    report: str
    period: str
    keys: tuple[str, ...]  # the data files, as S3 keys (or s3:// URIs)

    @property
    def depth(self) -> int:
        return len(PurePosixPath(_path(self.file)).parts)


def _path(file: SourceFile) -> str:
    return file.location.removeprefix("s3://").replace("\\", "/")


def is_manifest(file: SourceFile) -> bool:
    return file.location.endswith("Manifest.json")


def read_manifest(file: SourceFile) -> Manifest:
    try:
        with file.open() as stream:
            data = json.loads(stream.read())
        period = data["billingPeriod"]["start"]
        keys = data.get("reportKeys", data.get("dataFiles"))
        if not isinstance(keys, list):
            raise KeyError("reportKeys")
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{file.location} is not a readable CUR manifest ({exc!r} missing or malformed); "
            "check the delivery, or remove the file"
        ) from None
    report = str(data.get("reportName") or data.get("exportName") or PurePosixPath(_path(file)).name)
    return Manifest(file, report, str(period).replace("-", "")[:8], tuple(map(str, keys)))


def current_delivery(files: list[SourceFile]) -> list[SourceFile]:
    """Drop CUR manifests and the data files of superseded deliveries (the selector).

    Per report and billing period the current manifest is the period folder's own (the
    shallowest), else the newest; the data files it names are read, and the other data files
    under the same report folder are not. Files outside any report are left alone.
    """
    manifests = [read_manifest(f) for f in files if is_manifest(f)]
    if not manifests:
        return files
    by_path = {_path(f): f for f in files if not is_manifest(f)}
    current: dict[tuple[str, str], Manifest] = {}
    for manifest in sorted(manifests, key=_recency):
        current[(manifest.report, manifest.period)] = manifest  # the last (shallowest, newest) wins
    keep: dict[str, SourceFile] = {}
    roots: set[str] = set()
    for manifest in manifests:
        named = [_match(key, by_path) for key in manifest.keys]
        roots.add(_common_folder([_path(manifest.file), *(p for p in named if p)]))
        if current[(manifest.report, manifest.period)] is manifest:
            for key, path in zip(manifest.keys, named, strict=True):
                if path is None:
                    raise UserError(
                        f"{manifest.file.location} names {key}, which is not there "
                        "(a delivery still being written? run again in a few minutes)"
                    )
                keep[path] = by_path[path]
    outside = [f for path, f in by_path.items() if not any(path.startswith(root) for root in roots)]
    return sorted([*keep.values(), *outside], key=lambda f: f.location)


def _recency(manifest: Manifest) -> tuple[int, float, str]:
    modified = manifest.file.modified
    return (-manifest.depth, modified.timestamp() if modified else 0.0, manifest.file.location)


def _match(key: str, by_path: dict[str, SourceFile]) -> str | None:
    """The listed file a manifest key names: the same S3 key, or a local copy ending in it."""
    parts = PurePosixPath(key.removeprefix("s3://")).parts
    bucket_key = "/".join(parts)
    if bucket_key in by_path:
        return bucket_key
    for start in range(len(parts) - 1):  # at least the folder and the name
        tail = "/" + "/".join(parts[start:])
        found = [path for path in by_path if path.endswith(tail)]
        if len(found) == 1:
            return found[0]
    return None


def _common_folder(paths: list[str]) -> str:
    folders = [PurePosixPath(path).parent.parts for path in paths]
    common = []
    for level in zip(*folders, strict=False):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return "/".join(common).replace("//", "/") + "/"


register(AwsCurConnector())
register_selector(current_delivery)
