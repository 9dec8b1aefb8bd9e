"""Reading the rows of a billing file a batch at a time: CSV (plain or gzip) and Parquet.

Only the columns a connector asks for are read, so a wide export costs what is used; CSV cells
are read as text (the connector's mapping and `finops.lineitems` type them), Parquet columns as
stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from finops.errors import UserError
from finops.sources import SourceFile

NULLS = ["", "NULL", "null", "Null", "None"]
_CSV_BLOCK = 8 << 20
_HEADER_PEEK = 1 << 16

Choose = Callable[[Sequence[str]], list[str]]  # the header -> the columns to read (raises if unfit)


def csv_header(stream: IO[bytes]) -> list[str]:
    head = stream.peek(_HEADER_PEEK)[:_HEADER_PEEK] if hasattr(stream, "peek") else b""
    line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    return next(csv.reader([line]), [])


def header(file: SourceFile) -> list[str]:
    """The column names of a CSV or Parquet file."""
    if file.is_parquet:
        with file.seekable() as handle:
            try:
                return list(pq.ParquetFile(handle).schema_arrow.names)
            except (pa.ArrowInvalid, OSError) as exc:
                raise UserError(f"{file.location} is not a readable Parquet file ({exc})") from exc
    with file.open() as raw:
        return csv_header(io.BufferedReader(cast(Any, raw), _HEADER_PEEK))


def batches(file: SourceFile, choose: Choose, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The chosen columns of `file`, about `batch_rows` rows at a time (CSV: a block at a time)."""
    if file.is_parquet:
        with file.seekable() as handle:
            try:
                parquet = pq.ParquetFile(handle)
                wanted = choose(parquet.schema_arrow.names)
                yield from parquet.iter_batches(batch_size=batch_rows, columns=wanted)
            except (pa.ArrowInvalid, OSError) as exc:
                raise UserError(f"{file.location} is not a readable Parquet file ({exc})") from exc
        return
    with file.open() as raw:
        stream = io.BufferedReader(cast(Any, raw), _HEADER_PEEK)
        wanted = choose(csv_header(stream))
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
