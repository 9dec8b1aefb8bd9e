"""Modal submissions; `register(app)` wires each."""

from __future__ import annotations

from typing import Any

from commands.views import budget


def register(app: Any) -> None:
    budget.register(app)
