"""`/finops`: help, whoami (your role), status (data freshness, job runs, open anomalies)."""

from __future__ import annotations

from typing import Any

from commands import queries
from commands.context import deps
from commands.messages import finops_help, status_message, whoami_message
from commands.replies import answering
from finops.errors import UserError


@answering
async def handle_finops(command: dict[str, Any], respond: Any, context: Any) -> None:
    d = deps(context)
    user = command["user_id"]
    verb = (command.get("text") or "").strip().lower()
    if verb in ("", "help", "?", "-h", "--help"):
        await respond(**finops_help())
    elif verb == "whoami":
        await respond(**whoami_message(user, await d.roles.role_of(user)))
    elif verb == "status":
        await d.roles.require(user, "cost.read")
        await respond(**status_message(await queries.status(d.engine), d.now(), d.settings.schedules.sources))
    else:
        raise UserError(f"`/finops {verb}` is not something I know; try `/finops help`.")
