"""FOCUS exports (1.0 to 1.3): CSV (plain or gzip) and Parquet.

Column names differ between versions and exporters; they are mapped to the names in
`finops.focus` (e.g. 1.3's ServiceProviderName -> ProviderName). The literal `NULL` some
exporters write is read as missing.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import IO, Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from finops import focus
from finops.currency import is_currency
from finops.errors import UserError
from finops.sources import SourceFile

NAME = "focus"
NULLS = ["", "NULL", "null", "Null", "None"]
ALIASES = {
    "ServiceProviderName": focus.PROVIDER_NAME,  # FOCUS 1.3
    "ChargeType": focus.CHARGE_CATEGORY,  # pre-1.0 exports
}
REQUIRED = (
    focus.BILLED_COST,
    focus.BILLING_CURRENCY,
    focus.BILLING_ACCOUNT_ID,
    focus.BILLING_PERIOD_START,
    focus.CHARGE_PERIOD_START,
    focus.PROVIDER_NAME,
)
_CSV_BLOCK = 8 << 20
_HEADER_PEEK = 1 << 16


def canonical(columns: Sequence[str]) -> dict[str, str]:
    """Source column -> FOCUS name, for the columns we use; a FOCUS name beats its alias."""
    present = set(columns)
    mapping = {}
    for column in columns:
        name = column.strip().lstrip("\ufeff")
        target = ALIASES.get(name, name)
        if target in focus.COLUMNS and (target == name or target not in present):
            mapping[column] = target
    return mapping


def csv_header(stream: IO[bytes]) -> list[str]:
    head = stream.peek(_HEADER_PEEK)[:_HEADER_PEEK] if hasattr(stream, "peek") else b""
    line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    return next(csv.reader([line]), [])


def columns_of(file: SourceFile) -> list[str]:
    if file.is_parquet:
        with file.seekable() as handle:
            try:
                return list(pq.ParquetFile(handle).schema_arrow.names)
            except (pa.ArrowInvalid, OSError) as exc:
                raise UserError(f"{file.location} is not a readable Parquet file ({exc})") from exc
    with file.open() as raw:
        return csv_header(io.BufferedReader(cast(Any, raw), _HEADER_PEEK))


class FocusConnector:
    name = NAME

    def sniff(self, columns: Sequence[str]) -> bool:
        return set(REQUIRED) <= set(canonical(columns).values())

    def batches(self, file: SourceFile, batch_rows: int = 200_000) -> Iterator[pd.DataFrame]:
        offset = 0
        for table in self._tables(file, batch_rows):
            table, exact = _decimal_money(table)
            frame = _normalise(table.to_pandas(), file, offset, exact)
            offset += len(frame)
            yield frame

    def _tables(self, file: SourceFile, batch_rows: int) -> Iterator[pa.RecordBatch]:
        if file.is_parquet:
            with file.seekable() as handle:
                try:
                    parquet = pq.ParquetFile(handle)
                    _check_columns(file, parquet.schema_arrow.names)
                    yield from parquet.iter_batches(batch_size=batch_rows)
                except (pa.ArrowInvalid, OSError) as exc:
                    raise UserError(f"{file.location} is not a readable Parquet file ({exc})") from exc
            return
        with file.open() as raw:
            stream = io.BufferedReader(cast(Any, raw), _HEADER_PEEK)
            header = csv_header(stream)
            _check_columns(file, header)
            try:
                reader = pacsv.open_csv(
                    stream,
                    read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK),
                    convert_options=pacsv.ConvertOptions(
                        column_types=dict.fromkeys(header, pa.string()),
                        null_values=NULLS,
                        strings_can_be_null=True,
                    ),
                )
                yield from reader
            except pa.ArrowInvalid as exc:
                raise UserError(f"{file.location} is not a readable CSV file ({exc})") from exc


def _check_columns(file: SourceFile, columns: Sequence[str]) -> None:
    missing = [c for c in REQUIRED if c not in canonical(columns).values()]
    if missing:
        raise UserError(
            f"{file.location} lacks the FOCUS column(s) {', '.join(missing)}; "
            "export with FOCUS 1.0 or later, or name its format with --format"
        )


_PARSED_MONEY = pa.decimal128(38, 18)


def _decimal_money(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, set[str]]:
    """Parse money text to decimals in Arrow (vectorised and exact); returns the columns done.

    A column that does not parse stays text: the row-by-row check then names the bad row.
    """
    names = canonical(batch.schema.names)
    exact = set()
    for index, name in enumerate(batch.schema.names):
        target = names.get(name)
        if target not in focus.MONEY_COLUMNS:
            continue
        column = batch.column(index)
        if pa.types.is_decimal(column.type):
            exact.add(name)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            try:
                parsed = pc.cast(pc.utf8_trim_whitespace(column), _PARSED_MONEY)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            batch = batch.set_column(index, name, parsed)
            exact.add(name)
    return batch, {names[name] for name in exact}


def _normalise(raw: pd.DataFrame, file: SourceFile, offset: int, exact: Collection[str] = ()) -> pd.DataFrame:
    frame = raw.rename(columns=canonical(list(raw.columns)))
    frame = frame.loc[:, [c for c in focus.COLUMNS if c in frame.columns]]
    frame = frame.astype(object).where(frame.notna(), None)
    for column in focus.COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    if frame[focus.EFFECTIVE_COST].isna().all():
        frame[focus.EFFECTIVE_COST] = frame[focus.BILLED_COST]
    for column in focus.MONEY_COLUMNS:
        required = column == focus.BILLED_COST
        if column in exact or (not required and frame[column].isna().all()):
            if required:
                _check_present(frame, (column,), file, offset, "the cost is missing")
            continue
        frame[column] = _money(frame[column], column, file, offset, required=required)
    for column in (focus.BILLING_PERIOD_START, focus.CHARGE_PERIOD_START):
        frame[column] = _timestamps(frame[column], column, file, offset)
    _check_currency(frame, file, offset)
    _check_tags(frame, file, offset)
    _check_present(frame, (focus.BILLING_ACCOUNT_ID, focus.PROVIDER_NAME), file, offset)
    return frame.loc[:, list(focus.COLUMNS)]


def _where(file: SourceFile, offset: int, index: int, column: str) -> str:
    return f"{file.location}, row {offset + index + 1}, column {column}"


def _to_decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return None if pd.isna(value) else Decimal(repr(value))
    amount = Decimal(str(value).strip())
    if not amount.is_finite():
        raise InvalidOperation
    return amount


def _money(values: pd.Series, column: str, file: SourceFile, offset: int, required: bool) -> pd.Series:
    out = []
    for index, value in enumerate(values):
        try:
            amount = _to_decimal(value)
        except (InvalidOperation, ValueError):
            raise UserError(
                f"{_where(file, offset, index, column)}: {value!r} is not a number; "
                "fix the export and run again"
            ) from None
        if amount is None and required:
            raise UserError(f"{_where(file, offset, index, column)}: the cost is missing")
        out.append(amount)
    return pd.Series(out, index=values.index, dtype=object)


def _timestamps(values: pd.Series, column: str, file: SourceFile, offset: int) -> pd.Series:
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy().nonzero()[0]
    if len(bad):
        index = int(bad[0])
        raise UserError(
            f"{_where(file, offset, index, column)}: {values.iloc[index]!r} is not an ISO 8601 date-time"
        )
    return parsed


def _check_currency(frame: pd.DataFrame, file: SourceFile, offset: int) -> None:
    codes = frame[focus.BILLING_CURRENCY]
    valid = [code for code in codes.dropna().unique() if is_currency(str(code))]
    bad = (~codes.isin(valid)).to_numpy().nonzero()[0]
    if len(bad):
        index = int(bad[0])
        raise UserError(
            f"{_where(file, offset, index, focus.BILLING_CURRENCY)}: {codes.iloc[index]!r} "
            "is not an ISO 4217 currency code (e.g. USD, EUR)"
        )


def _check_tags(frame: pd.DataFrame, file: SourceFile, offset: int) -> None:
    for value in frame[focus.TAGS].dropna().unique():
        try:
            tags = json.loads(value) if isinstance(value, str) else value
            ok = isinstance(tags, dict)
        except json.JSONDecodeError:
            ok = False
        if not ok:
            index = int((frame[focus.TAGS] == value).to_numpy().argmax())
            raise UserError(f"{_where(file, offset, index, focus.TAGS)}: tags must be a JSON object")


def _check_present(
    frame: pd.DataFrame,
    columns: Sequence[str],
    file: SourceFile,
    offset: int,
    problem: str = "the value is missing",
) -> None:
    for column in columns:
        missing = frame[column].isna().to_numpy().nonzero()[0]
        if len(missing):
            raise UserError(f"{_where(file, offset, int(missing[0]), column)}: {problem}")
