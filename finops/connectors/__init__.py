"""Connectors: one module each, in a registry keyed by format name.

A connector turns one source file into batches of FOCUS-named line items, conformed Arrow tables
(`finops.lineitems.conform`: typed, checked, money as exact decimals); `jobs.ingest` does the
rest (roll-up, totals, loading), so a new format is one small module that calls `register`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import pyarrow as pa

from finops.errors import UserError
from finops.sources import SourceFile

DEFAULT_BATCH_ROWS = 200_000


class Connector(Protocol):
    name: str

    def sniff(self, columns: Sequence[str]) -> bool:
        """Whether a file with this header is this connector's format."""

    def batches(self, file: SourceFile, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.Table]:
        """Conformed line items, about `batch_rows` at a time; bad input raises `UserError`."""


REGISTRY: dict[str, Connector] = {}


def register(connector: Connector) -> Connector:
    REGISTRY[connector.name] = connector
    return connector


def names() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> Connector:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown format {name!r}; use one of: auto, {', '.join(names())}") from None


def detect(file: SourceFile, columns: Sequence[str]) -> Connector:
    for connector in REGISTRY.values():
        if connector.sniff(columns):
            return connector
    raise UserError(
        f"{file.location} is not a format finops-bot reads (looked for: {', '.join(names())}); "
        "check the file, or name the format with --format"
    )


def columns_of(file: SourceFile) -> list[str]:
    """The header of a file, whatever its format (for `detect`)."""
    from finops.connectors.focus import columns_of as header

    return header(file)


def _builtin() -> None:
    from finops.connectors.focus import FocusConnector

    register(FocusConnector())


_builtin()
