"""Button clicks (block actions). Each acks at once; its handler runs lazily, after the ack."""

from __future__ import annotations

from typing import Any

from commands import ids
from commands.actions.budget import handle_budget_edit, handle_budget_new, handle_budget_show
from commands.replies import acknowledge

ACTIONS = {
    ids.BUDGET_NEW: handle_budget_new,
    ids.BUDGET_EDIT: handle_budget_edit,
    ids.BUDGET_SHOW: handle_budget_show,
}


def register(app: Any) -> None:
    for action_id, handler in ACTIONS.items():
        app.action(action_id)(ack=acknowledge, lazy=[handler])
