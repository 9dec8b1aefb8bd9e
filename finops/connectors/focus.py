"""FOCUS exports (1.0 to 1.3): CSV (plain or gzip) and Parquet.

Column names differ between versions and exporters; they are mapped to the names in
`finops.focus` (e.g. 1.3's ServiceProviderName -> ProviderName). The literal `NULL` some
exporters write is read as missing. Only the columns finops-bot uses are read; the rest of a
wide export is skipped by the CSV and Parquet readers. `finops.lineitems` types and checks them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from finops import focus, lineitems
from finops.connectors import register
from finops.errors import UserError
from finops.lineitems import Where
from finops.sources import SourceFile

NAME = "focus"
NULLS = ["", "NULL", "null", "Null", "None"]
ALIASES = {
    "ServiceProviderName": focus.PROVIDER_NAME,  # FOCUS 1.3
    "ChargeType": focus.CHARGE_CATEGORY,  # pre-1.0 exports
}
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
        return not lineitems.missing(list(canonical(columns).values()))

    def batches(self, file: SourceFile, batch_rows: int = 200_000) -> Iterator[pa.Table]:
        offset = 0
        for batch in self._batches(file, batch_rows):
            focus_named = lineitems.rename(batch, canonical(batch.schema.names))
            table = lineitems.conform(focus_named, Where(file.location, offset))
            offset += table.num_rows
            yield table

    def _batches(self, file: SourceFile, batch_rows: int) -> Iterator[pa.RecordBatch]:
        if file.is_parquet:
            with file.seekable() as handle:
                try:
                    parquet = pq.ParquetFile(handle)
                    wanted = _check_columns(file, parquet.schema_arrow.names)
                    yield from parquet.iter_batches(batch_size=batch_rows, columns=wanted)
                except (pa.ArrowInvalid, OSError) as exc:
                    raise UserError(f"{file.location} is not a readable Parquet file ({exc})") from exc
            return
        with file.open() as raw:
            stream = io.BufferedReader(cast(Any, raw), _HEADER_PEEK)
            header = csv_header(stream)
            wanted = _check_columns(file, header)
            try:
                reader = pacsv.open_csv(
                    stream,
                    read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK),
                    convert_options=pacsv.ConvertOptions(
                        include_columns=wanted,
                        column_types=dict.fromkeys(wanted, pa.string()),
                        null_values=NULLS,
                        strings_can_be_null=True,
                    ),
                )
                yield from reader
            except pa.ArrowInvalid as exc:
                raise UserError(f"{file.location} is not a readable CSV file ({exc})") from exc


def _check_columns(file: SourceFile, columns: Sequence[str]) -> list[str]:
    """The source columns to read; raises when a required FOCUS column is absent."""
    names = canonical(columns)
    missing = lineitems.missing(list(names.values()))
    if missing:
        raise UserError(
            f"{file.location} lacks the FOCUS column(s) {', '.join(missing)}; "
            "export with FOCUS 1.0 or later, or name its format with --format"
        )
    return [column for column, name in names.items() if name in lineitems.SCHEMA.names]


register(FocusConnector())
