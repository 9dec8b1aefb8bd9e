"""FOCUS line items as Arrow tables: the one typed shape every connector yields.

A connector maps its format's columns to FOCUS names and hands the table to `conform`, which
types and checks it in vectorised Arrow compute (money as exact decimals, times as UTC):

- money: decimal128(38, 9), parsed from text, integers, decimals or floats (by their shortest
  text form, never by binary value); more than 9 decimals are rounded half to even;
- times: timestamps in UTC; text is ISO 8601, and a time without an offset is UTC;
- everything else: text.

Bad input raises `UserError` naming the file, the row and the column. Only the columns the
roll-up uses are kept, so memory follows what is needed, not how wide the export is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finops import focus
from finops.currency import is_currency
from finops.errors import UserError

MONEY_DIGITS = 9
MONEY_TYPE = pa.decimal128(38, MONEY_DIGITS)
TIME_TYPE = pa.timestamp("us", tz="UTC")
MONEY = (focus.BILLED_COST, focus.EFFECTIVE_COST, focus.LIST_COST)
TIMES = (focus.BILLING_PERIOD_START, focus.CHARGE_PERIOD_START, focus.CHARGE_PERIOD_END)
TEXT = (
    focus.PROVIDER_NAME,
    focus.BILLING_ACCOUNT_ID,
    focus.SUB_ACCOUNT_ID,
    focus.SERVICE_NAME,
    focus.SERVICE_CATEGORY,
    focus.REGION_ID,
    focus.RESOURCE_ID,
    focus.CHARGE_CATEGORY,
    focus.BILLING_CURRENCY,
    focus.TAGS,
)
SCHEMA = pa.schema(
    [
        *(pa.field(name, pa.string()) for name in TEXT),
        *(pa.field(name, TIME_TYPE) for name in TIMES),
        *(pa.field(name, MONEY_TYPE) for name in MONEY),
    ]
)
# Columns a source must have (an empty cell in them is an error too, except where noted).
REQUIRED = (
    focus.BILLED_COST,
    focus.BILLING_CURRENCY,
    focus.BILLING_ACCOUNT_ID,
    focus.BILLING_PERIOD_START,
    focus.CHARGE_PERIOD_START,
    focus.PROVIDER_NAME,
)

_PARSE_TYPES = (pa.decimal128(38, 18), pa.decimal256(76, 38))
_QUANTUM = Decimal(1).scaleb(-MONEY_DIGITS)


@dataclass(frozen=True)
class Where:
    """Where a batch came from, for messages: the file and the number of rows before it."""

    location: str
    offset: int = 0

    def cell(self, index: int, column: str) -> str:
        return f"{self.location}, row {self.offset + index + 1}, column {column}"


def conform(table: pa.Table | pa.RecordBatch, where: Where) -> pa.Table:
    """A FOCUS-named batch as `SCHEMA`, checked; raises `UserError` at the first bad cell."""
    rows = table.num_rows
    present = set(table.schema.names)

    def column(name: str) -> pa.Array:
        if name not in present:
            return pa.nulls(rows, pa.string())
        values = table.column(name)
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

    out: dict[str, pa.Array] = {}
    for name in TEXT:
        out[name] = _text(column(name), name, where)
    for name in TIMES:
        out[name] = _times(column(name), name, where)
    for name in MONEY:
        out[name] = money(column(name), name, where)
    if focus.EFFECTIVE_COST not in present or out[focus.EFFECTIVE_COST].null_count == rows:
        out[focus.EFFECTIVE_COST] = out[focus.BILLED_COST]  # an export without amortisation
    required = (focus.BILLING_ACCOUNT_ID, focus.PROVIDER_NAME, focus.BILLING_CURRENCY, *TIMES[:2])
    for name in required:  # ChargePeriodEnd may be missing
        _check_present(out[name], name, where, "the value is missing")
    _check_present(out[focus.BILLED_COST], focus.BILLED_COST, where, "the cost is missing")
    _check_currency(out[focus.BILLING_CURRENCY], where)
    _check_tags(out[focus.TAGS], where)
    return pa.table(out, schema=SCHEMA)


def from_frame(frame: pd.DataFrame, location: str = "<frame>") -> pa.Table:
    """Line items built in Python (the sample organisation, tests) as a conformed table."""
    return conform(pa.Table.from_pandas(frame, preserve_index=False), Where(location))


def _text(values: pa.Array, name: str, where: Where) -> pa.Array:
    kind = values.type
    if name == focus.TAGS and (pa.types.is_map(kind) or pa.types.is_struct(kind)):
        return pa.array([None if v is None else _tags_text(v) for v in values.to_pylist()], pa.string())
    try:
        return pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UserError(f"{where.location}, column {name}: cannot be read as text ({exc})") from exc


def _tags_text(value: Any) -> str:
    pairs = value.items() if isinstance(value, Mapping) else value  # a map arrives as (key, value) pairs
    return json.dumps({str(k): v for k, v in pairs if v is not None}, sort_keys=True)


def _times(values: pa.Array, name: str, where: Where) -> pa.Array:
    kind = values.type
    if pa.types.is_timestamp(kind):
        # A time without a zone is UTC; one with a zone keeps its instant.
        naive = kind.tz is None
        return pc.cast(pc.cast(values, pa.timestamp("us")) if naive else values, TIME_TYPE)
    if pa.types.is_date(kind):
        return pc.cast(pc.cast(values, pa.timestamp("us")), TIME_TYPE)
    text = _text(values, name, where)
    for target in (TIME_TYPE, pa.timestamp("us")):  # with an offset (Z, +02:00), then without
        try:
            return pc.cast(pc.cast(text, target), TIME_TYPE)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    # Mixed forms in one batch: pandas' ISO 8601 parser takes each value as it comes.
    parsed = pd.to_datetime(
        pd.Series(text.to_numpy(zero_copy_only=False)), utc=True, errors="coerce", format="ISO8601"
    )
    bad = (parsed.isna() & pd.Series(text.is_valid().to_numpy(zero_copy_only=False))).to_numpy()
    if bad.any():
        index = int(bad.argmax())
        raise UserError(f"{where.cell(index, name)}: {text[index].as_py()!r} is not an ISO 8601 date-time")
    return pc.cast(pa.array(parsed), TIME_TYPE)


def money(values: pa.Array, name: str, where: Where) -> pa.Array:
    """A column of amounts (text, integers, decimals or floats) as `MONEY_TYPE`, exactly."""
    kind = values.type
    if pa.types.is_null(kind):
        return pa.nulls(len(values), MONEY_TYPE)
    try:
        if pa.types.is_integer(kind):
            return pc.cast(values, MONEY_TYPE)
        if pa.types.is_decimal(kind):
            return _rounded(values)
        if pa.types.is_floating(kind):
            values = _float_text(values)  # shortest round-trip text: 0.1 stays 0.1
        text = pc.utf8_trim_whitespace(_text(values, name, where))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _money_by_row(values, name, where)
    for parse_type in _PARSE_TYPES:  # the narrow type is twice as fast; floats need the wide one
        try:
            return _rounded(pc.cast(text, parse_type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return _money_by_row(values, name, where)


def _float_text(values: pa.Array) -> pa.Array:
    """Floats as their shortest round-trip text, without exponents (`5e-06` -> `0.000005`), which
    the decimal parser does not take; each distinct exponent form is rewritten once."""
    text = pc.cast(values, pa.string())
    exponent = pc.fill_null(pc.match_substring(text, "e"), False)
    if not pc.any(exponent).as_py():
        return text
    forms = pc.unique(pc.filter(text, exponent))
    plain = pa.array([format(Decimal(form), "f") for form in forms.to_pylist()], pa.string())
    return pc.if_else(exponent, pc.take(plain, pc.index_in(text, forms)), text)


def _rounded(values: pa.Array) -> pa.Array:
    if values.type.scale > MONEY_DIGITS:
        values = pc.round(values, ndigits=MONEY_DIGITS, round_mode="half_to_even")
    return pc.cast(values, MONEY_TYPE)


def _money_by_row(values: pa.Array, name: str, where: Where) -> pa.Array:
    """The slow path, for what Arrow will not cast: parse each value, naming the first bad one."""
    amounts: list[Decimal | None] = []
    for index, value in enumerate(values.to_pylist()):
        try:
            amounts.append(None if value is None else _decimal(value))
        except (InvalidOperation, ValueError, OverflowError):
            raise UserError(
                f"{where.cell(index, name)}: {value!r} is not a number; fix the export and run again"
            ) from None
    try:
        return pa.array(amounts, type=MONEY_TYPE)
    except (pa.ArrowInvalid, OverflowError) as exc:
        raise UserError(f"{where.location}, column {name}: an amount is too large ({exc})") from exc


def _decimal(value: Any) -> Decimal:
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    if not amount.is_finite():
        raise InvalidOperation
    return amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


def _first(mask: pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _check_present(values: pa.Array, name: str, where: Where, problem: str) -> None:
    if values.null_count:
        raise UserError(f"{where.cell(_first(pc.is_null(values)), name)}: {problem}")


def _check_currency(codes: pa.Array, where: Where) -> None:
    bad = [code for code in pc.unique(codes).to_pylist() if code is not None and not is_currency(code)]
    if bad:
        index = _first(pc.is_in(codes, pa.array(bad, pa.string())))
        raise UserError(
            f"{where.cell(index, focus.BILLING_CURRENCY)}: {codes[index].as_py()!r} "
            "is not an ISO 4217 currency code (e.g. USD, EUR)"
        )


def _check_tags(tags: pa.Array, where: Where) -> None:
    bad = [text for text in pc.unique(tags).to_pylist() if text is not None and not _is_object(text)]
    if bad:
        index = _first(pc.is_in(tags, pa.array(bad, pa.string())))
        raise UserError(f"{where.cell(index, focus.TAGS)}: tags must be a JSON object")


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


def rename(table: pa.Table | pa.RecordBatch, names: Mapping[str, str]) -> pa.Table | pa.RecordBatch:
    """`table` with its columns renamed by `names` (source name -> FOCUS name); others dropped."""
    keep = [name for name in table.schema.names if name in names]
    return table.select(keep).rename_columns([names[name] for name in keep])


def missing(columns: Sequence[str]) -> list[str]:
    """The required FOCUS columns absent from `columns`."""
    return [name for name in REQUIRED if name not in columns]
