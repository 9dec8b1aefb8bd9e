"""FOCUS exports (1.0 to 1.3): CSV (plain or gzip) and Parquet.

Column names differ between versions and exporters; they are mapped to the names in
`finops.focus` (e.g. 1.3's ServiceProviderName -> ProviderName). The literal `NULL` some
exporters write is read as missing. Only the columns finops-bot uses are read; the rest of a
wide export is skipped by the CSV and Parquet readers. `finops.lineitems` types and checks them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial

import pyarrow as pa

from finops import focus, lineitems
from finops.connectors import reading, register
from finops.errors import UserError
from finops.lineitems import Where
from finops.sources import SourceFile

NAME = "focus"
ALIASES = {
    "ServiceProviderName": focus.PROVIDER_NAME,  # FOCUS 1.3
    "ChargeType": focus.CHARGE_CATEGORY,  # pre-1.0 exports
}


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


class FocusConnector:
    name = NAME

    def sniff(self, columns: Sequence[str]) -> bool:
        return not lineitems.missing(list(canonical(columns).values()))

    def batches(self, file: SourceFile, batch_rows: int = 200_000) -> Iterator[pa.Table]:
        offset = 0
        for batch in reading.batches(file, partial(_check_columns, file), batch_rows):
            focus_named = lineitems.rename(batch, canonical(batch.schema.names))
            table = lineitems.conform(focus_named, Where(file.location, offset))
            offset += table.num_rows
            yield table


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
