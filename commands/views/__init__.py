"""Modal submissions; `register(app)` wires each."""

from __future__ import annotations

from typing import Any

from commands.views import anomaly, approval, budget, budget_alert


def register(app: Any) -> None:
    for module in (budget, budget_alert, anomaly, approval):
        module.register(app)
