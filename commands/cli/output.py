"""Shared output for CLI commands: one JSON document for `--json`, rich text otherwise."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(document: Any) -> str:
    """Money as decimal strings, dates as ISO 8601."""
    return json.dumps(document, default=_default, indent=2, sort_keys=False)


def emit_json(document: Any) -> None:
    print(to_json(document))


def money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(Decimal('0.01')):,} {currency}"
