"""What the `cli` fixture (tests/commands/conftest.py) returns."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Run:
    code: int
    out: str
    err: str


RunCli = Callable[..., Run]


def reconcile(cli: RunCli) -> list[dict[str, str]]:
    """`finops-bot reconcile --json`, which must succeed: one dict per group."""
    result = cli("reconcile", "--json")
    assert result.code == 0, result.out + result.err
    groups: list[dict[str, str]] = json.loads(result.out)
    return groups
