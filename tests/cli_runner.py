"""What the `cli` fixture (tests/commands/conftest.py) returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Run:
    code: int
    out: str
    err: str


RunCli = Callable[..., Run]
