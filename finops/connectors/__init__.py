"""Connectors: one module each, in a registry keyed by format name.

A connector turns one source file into batches of FOCUS-named line items, conformed Arrow tables
(`finops.lineitems.conform`: typed, checked, money as exact decimals); `jobs.ingest` does the
rest (roll-up, totals, loading), so a new format is one small module that calls `register`.

A connector may also register
- a selector (`register_selector`): given every file of a source, it keeps the ones to read, e.g.
  only the current delivery that a provider's manifest names;
- an API scheme (`finops.sources.register_scheme`): `aws-ce://...` is fetched and kept as a file
  that the connector then reads like an export.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable, Iterator, Sequence
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
Selector = Callable[[list[SourceFile]], list[SourceFile]]
SELECTORS: list[Selector] = []


def register(connector: Connector) -> Connector:
    REGISTRY[connector.name] = connector
    return connector


def register_selector(selector: Selector) -> Selector:
    SELECTORS.append(selector)
    return selector


def select(files: list[SourceFile]) -> list[SourceFile]:
    """The files of a source that are to be read (every selector has its say)."""
    for selector in SELECTORS:
        files = selector(files)
    return files


def names() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> Connector:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown format {name!r}; use one of: auto, {', '.join(names())}") from None


def detect(file: SourceFile, columns: Sequence[str]) -> Connector:
    if file.format:
        return get(file.format)
    for connector in REGISTRY.values():
        if connector.sniff(columns):
            return connector
    raise UserError(
        f"{file.location} is not a format finops-bot reads (looked for: {', '.join(names())}); "
        "check the file, or name the format with --format"
    )


def columns_of(file: SourceFile) -> list[str]:
    """The header of a file, whatever its format (for `detect`): CSV, Parquet, or the keys of the
    first record of JSON lines."""
    if file.format:
        return []  # an API answer: its connector is known
    if is_json(file):
        return json_keys(file)
    from finops.connectors import reading

    return reading.header(file)


def is_json(file: SourceFile) -> bool:
    return file.location.lower().removesuffix(".gz").endswith((".json", ".jsonl"))


def json_keys(file: SourceFile) -> list[str]:
    with file.open() as stream:
        first = stream.readline(1 << 20).strip()
    try:
        record = json.loads(first) if first else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"{file.location}, line 1: not JSON lines ({exc.msg})") from None
    if not isinstance(record, dict):
        raise UserError(f"{file.location}, line 1: a JSON lines export has one object per line")
    return list(record)


def _builtin() -> None:
    """Import every connector module of this package; each registers itself."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_builtin()
