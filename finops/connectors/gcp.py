"""Google Cloud billing export (standard and detailed, with resources): the rows of the BigQuery
export table as JSON lines (a BigQuery extract, or what `bigquery://` fetched), or as CSV with
flattened names (`service.description` or `service_description`; `labels` and `credits` as JSON
text). Plain or gzip; read line by line into batches of at most 50,000 rows, so memory stays
bounded (about 100 MB; some 30,000 rows a second on one core). ResourceId = `resource.global_name`,
else `resource.name` (detailed exports; the standard export has none).

How a row maps to FOCUS:
- BilledCost = EffectiveCost = `cost` + the sum of `credits.amount` (credits are negative): the
  invoice charges cost net of credits. ListCost = `cost_at_list`. Money is read from its text
  (JSON numbers too), never through binary floats.
- BillingPeriodStart = the first day of `invoice.month`, not of the usage: late usage belongs to
  the invoice it is billed on.
- ChargeCategory by `cost_type`: regular -> Usage, tax -> Tax, adjustment and rounding error (and
  any other kind) -> Adjustment. Credits stay inside their usage row, as on the invoice.
- SubAccountId = `project.id`; RegionId = `location.region`, else `location.location`.
- Tags = `project.labels` overlaid by the row's `labels` (a resource's label wins over its
  project's), so a team label on a project names the team of all its costs. `system_labels` are
  left out: they describe machines, not owners, and would only split the roll-up.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from typing import IO, Any, cast

import pyarrow as pa

from finops import focus, lineitems
from finops.connectors import DEFAULT_BATCH_ROWS, register
from finops.errors import UserError
from finops.lineitems import Where
from finops.sources import SourceFile

NAME = "gcp-export"
PROVIDER = "Google Cloud"
# Fields every row has (a CSV may name `invoice.month` `invoice_month`).
REQUIRED = ("billing_account_id", "cost", "currency", "invoice.month", "usage_start_time")
CHARGE_CATEGORIES = {"regular": "Usage", "tax": "Tax", "adjustment": "Adjustment"}
OTHER_CHARGES = "Adjustment"  # rounding error, and kinds Google may add
# service.description -> FOCUS ServiceCategory; anything else is "Other".
SERVICE_CATEGORIES = {
    "Compute Engine": "Compute",
    "Kubernetes Engine": "Compute",
    "Cloud Run": "Compute",
    "Cloud Run Functions": "Compute",
    "Cloud Functions": "Compute",
    "App Engine": "Compute",
    "Cloud Storage": "Storage",
    "Filestore": "Storage",
    "Cloud SQL": "Databases",
    "Cloud Spanner": "Databases",
    "Cloud Bigtable": "Databases",
    "Cloud Firestore": "Databases",
    "Cloud Memorystore for Redis": "Databases",
    "AlloyDB for PostgreSQL": "Databases",
    "BigQuery": "Databases",  # FOCUS 1.1 files data warehouses under Databases
    "Dataflow": "Analytics",
    "Cloud Dataproc": "Analytics",
    "Looker Studio": "Analytics",
    "Cloud Pub/Sub": "Integration",
    "Networking": "Networking",
    "Cloud CDN": "Networking",
    "Cloud DNS": "Networking",
    "Cloud Load Balancing": "Networking",
    "Cloud NAT": "Networking",
    "Cloud VPN": "Networking",
    "Cloud Interconnect": "Networking",
    "Vertex AI": "AI and Machine Learning",
    "Gemini API": "AI and Machine Learning",
    "Cloud Vision API": "AI and Machine Learning",
    "Cloud Logging": "Management and Governance",
    "Cloud Monitoring": "Management and Governance",
    "Secret Manager": "Security",
    "Cloud Key Management Service (KMS)": "Security",
    "Security Command Center": "Security",
    "Artifact Registry": "Developer Tools",
    "Cloud Build": "Developer Tools",
}
_MONEY = (focus.BILLED_COST, focus.LIST_COST)
_QUANTUM = Decimal(1).scaleb(-lineitems.MONEY_DIGITS)
_PEEK = 1 << 16
MAX_BATCH_ROWS = 50_000  # about 100 MB of parsed rows
_TELLING = {"invoice", "invoice_month", "service", "service_description", "usage_start_time"}

Record = dict[str, Any]


def flat(name: str) -> str:
    """A column's flattened name: `service.description` and `service_description` are one."""
    return name.strip().lstrip("\ufeff").replace(".", "_")


class GcpExportConnector:
    name = NAME

    def sniff(self, columns: Sequence[str]) -> bool:
        names = {flat(column) for column in columns}
        return {"billing_account_id", "cost"} <= names and bool(names & _TELLING)

    def batches(self, file: SourceFile, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.Table]:
        batch_rows = min(batch_rows, MAX_BATCH_ROWS)  # rows are Python objects until conformed
        offset = 0
        columns = _empty()
        for place, record in _records(file):
            _append(columns, record, place)
            if len(columns[focus.BILLED_COST]) >= batch_rows:
                yield _conform(columns, file, offset)
                offset += batch_rows
                columns = _empty()
        if columns[focus.BILLED_COST]:
            yield _conform(columns, file, offset)


def _empty() -> dict[str, list[Any]]:
    return {name: [] for name in (*lineitems.TEXT, *lineitems.TIMES, *_MONEY)}


def _conform(columns: dict[str, list[Any]], file: SourceFile, offset: int) -> pa.Table:
    arrays = {
        **{name: pa.array(columns[name], pa.string()) for name in lineitems.TEXT},
        **{name: pa.array(columns[name], lineitems.TIME_TYPE) for name in lineitems.TIMES},
        **{name: pa.array(columns[name], lineitems.MONEY_TYPE) for name in _MONEY},
    }
    arrays[focus.EFFECTIVE_COST] = arrays[focus.BILLED_COST]
    return lineitems.conform(pa.table(arrays), Where(file.location, offset))


# Reading: (where, record) pairs, a record keyed by top-level or flattened names.


def _records(file: SourceFile) -> Iterator[tuple[str, Record]]:
    with file.open() as raw:
        stream = io.BufferedReader(cast(Any, raw), _PEEK)
        head = stream.peek(_PEEK)[:_PEEK].lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"{"):
            yield from _json_lines(file, stream)
        else:
            yield from _csv_rows(file, stream)


def _json_lines(file: SourceFile, stream: IO[bytes]) -> Iterator[tuple[str, Record]]:
    for number, line in enumerate(stream, 1):
        place = f"{file.location}, line {number}"
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_float=Decimal)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise UserError(f"{place}: not a JSON object ({reason}); fix or re-export the file") from None
        if not isinstance(record, dict):
            raise UserError(f"{place}: a JSON lines export has one object per line")
        yield place, record


def _csv_rows(file: SourceFile, stream: IO[bytes]) -> Iterator[tuple[str, Record]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        header = [flat(name) for name in next(reader, [])]
        missing = [name for name in REQUIRED if flat(name) not in header]
        if missing:
            raise UserError(
                f"{file.location} lacks the Google Cloud billing export column(s) {', '.join(missing)}; "
                "export the billing table's columns under their own names (invoice.month or invoice_month)"
            )
        for number, values in enumerate(reader, 1):
            place = f"{file.location}, row {number}"
            if not values:
                continue  # a blank line
            if len(values) != len(header):
                raise UserError(f"{place}: {len(values)} fields where the header has {len(header)}")
            yield place, {name: value or None for name, value in zip(header, values, strict=True)}
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{file.location} is not a readable CSV file ({exc})") from None


def _field(record: Record, path: str) -> Any:
    """The value at `path` ("service.description"): nested, or under its flattened name."""
    key, head, rest = _path(path)
    if rest:
        inner = record.get(head)
        if isinstance(inner, dict):
            return inner.get(rest)
    return record.get(key)


@lru_cache(maxsize=64)
def _path(path: str) -> tuple[str, str, str]:
    head, _, rest = path.partition(".")
    return flat(path), head, rest


# One record -> one FOCUS line item.


def _append(columns: dict[str, list[Any]], record: Record, place: str) -> None:
    def required(path: str) -> Any:
        value = _field(record, path)
        if value is None or value == "":
            raise UserError(f"{place}: {path} is missing; every row of a billing export has it")
        return value

    service = _text(_field(record, "service.description"))
    cost = _amount(required("cost"), place, "cost")
    billed = cost + _credits(_field(record, "credits"), place)
    list_cost = _field(record, "cost_at_list")
    cost_type = str(_field(record, "cost_type") or "regular").strip().lower()
    tags = {
        **_labels(_field(record, "project.labels"), place, "project.labels"),
        **_labels(_field(record, "labels"), place, "labels"),
    }
    values = (
        (focus.PROVIDER_NAME, PROVIDER),
        (focus.BILLING_ACCOUNT_ID, _text(required("billing_account_id"))),
        (focus.SUB_ACCOUNT_ID, _text(_field(record, "project.id"))),
        (focus.SERVICE_NAME, service),
        (focus.SERVICE_CATEGORY, SERVICE_CATEGORIES.get(service or "", "Other")),
        (focus.REGION_ID, _text(_field(record, "location.region") or _field(record, "location.location"))),
        (focus.RESOURCE_ID, _text(_field(record, "resource.global_name") or _field(record, "resource.name"))),
        (focus.CHARGE_CATEGORY, CHARGE_CATEGORIES.get(cost_type, OTHER_CHARGES)),
        (focus.BILLING_CURRENCY, _text(required("currency"))),
        (focus.TAGS, json.dumps(tags, sort_keys=True) if tags else None),
        (focus.BILLING_PERIOD_START, _invoice_month(str(required("invoice.month")), place)),
        (focus.CHARGE_PERIOD_START, _time(required("usage_start_time"), place, "usage_start_time")),
        (focus.CHARGE_PERIOD_END, _time(_field(record, "usage_end_time"), place, "usage_end_time")),
        (focus.BILLED_COST, _money(billed, place, "cost")),
        (focus.LIST_COST, None if list_cost is None else _amount(list_cost, place, "cost_at_list")),
    )
    for name, value in values:
        columns[name].append(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


def _amount(value: Any, place: str, name: str) -> Decimal:
    try:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise InvalidOperation
        amount = Decimal(value.strip() if isinstance(value, str) else value)
        return _money(amount, place, name)
    except (InvalidOperation, ValueError):
        raise UserError(f"{place}, {name}: {value!r} is not a number; fix the export and run again") from None


def _money(amount: Decimal, place: str, name: str) -> Decimal:
    try:
        if not amount.is_finite():
            raise InvalidOperation
        return amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise UserError(f"{place}, {name}: {amount} is not an amount of money") from None


def _credits(value: Any, place: str) -> Decimal:
    items = _json_value(value, place, "credits")
    if items is None:
        return Decimal(0)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise UserError(f"{place}, credits: must be a list of {{name, amount, ...}} objects")
    return sum((_amount(item.get("amount"), place, "credits.amount") for item in items), Decimal(0))


def _labels(value: Any, place: str, name: str) -> dict[str, str]:
    labels = _json_value(value, place, name)
    if labels is None:
        return {}
    if isinstance(labels, dict):
        return {str(k): str(v) for k, v in labels.items() if v is not None}
    if isinstance(labels, list) and all(isinstance(item, dict) and "key" in item for item in labels):
        return {str(item["key"]): str(item.get("value") or "") for item in labels}
    raise UserError(f"{place}, {name}: must be a list of {{key, value}} objects")


def _json_value(value: Any, place: str, name: str) -> Any:
    """A nested value, or the JSON text a CSV export holds it as."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return json.loads(value, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise UserError(f"{place}, {name}: not valid JSON ({exc.msg})") from None


@lru_cache(maxsize=64)
def _month_start(month: str) -> datetime | None:
    if len(month) != 6 or not month.isdigit() or not 1 <= int(month[4:]) <= 12:
        return None
    return datetime(int(month[:4]), int(month[4:]), 1, tzinfo=UTC)


def _invoice_month(month: str, place: str) -> datetime:
    start = _month_start(month.strip())
    if start is None:
        raise UserError(f"{place}, invoice.month: {month!r} is not a month like 202610")
    return start


@lru_cache(maxsize=4096)
def _parse_time(text: str) -> datetime | None:
    """BigQuery writes `2026-10-01 07:00:00 UTC`; ISO 8601 forms are read too. No zone is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().removesuffix(" UTC"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time(value: Any, place: str, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    moment = _parse_time(str(value))
    if moment is None:
        raise UserError(f"{place}, {name}: {value!r} is not a date-time")
    return moment


register(GcpExportConnector())
