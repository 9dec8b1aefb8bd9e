"""Slash commands. Each acks at once with nothing; its handler answers lazily, after the ack."""

from __future__ import annotations

from typing import Any

from commands import ids
from commands.replies import acknowledge
from commands.slash.budget import handle_budget
from commands.slash.cost import handle_cost
from commands.slash.finops import handle_finops

COMMANDS = {ids.COST: handle_cost, ids.BUDGET: handle_budget, ids.FINOPS: handle_finops}


def register(app: Any) -> None:
    for name, handler in COMMANDS.items():
        app.command(name)(ack=acknowledge, lazy=[handler])
