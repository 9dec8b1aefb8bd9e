"""`/finops`: help, whoami (your role), status (data freshness, job runs, open anomalies), tags
(how much of the cost carries the required tags)."""

from __future__ import annotations

from typing import Any

from commands import queries
from commands.context import deps
from commands.messages import finops_help, status_message, whoami_message
from commands.replies import answering
from commands.tagging import tags_message
from finops.errors import UserError
from storage import tagreport


def tags_by(words: list[str]) -> str:
    """The dimension of `/finops tags [by DIM]` (default team)."""
    if not words:
        return "team"
    if len(words) == 2 and words[0].lower() == "by":
        return tagreport.dimension(words[1])
    raise UserError(
        "use `/finops tags` or `/finops tags by DIM`, e.g. `/finops tags by env` or `by tag:owner`"
    )


@answering
async def handle_finops(command: dict[str, Any], respond: Any, context: Any) -> None:
    d = deps(context)
    user = command["user_id"]
    words = (command.get("text") or "").split()
    verb = " ".join(words).lower()
    if verb in ("", "help", "?", "-h", "--help"):
        await respond(**finops_help())
    elif verb == "whoami":
        await respond(**whoami_message(user, await d.roles.role_of(user)))
    elif verb == "status":
        await d.roles.require(user, "cost.read")
        await respond(**status_message(await queries.status(d.engine), d.now(), d.settings.schedules.sources))
    elif words[0].lower() == "tags":
        await d.roles.require(user, "cost.read")
        by = tags_by(words[1:])
        required = queries.required_tags(d.settings)
        await respond(**tags_message(await queries.tags(d.engine, required, d.today(), by=by)))
    else:
        raise UserError(f"`/finops {verb}` is not something I know; try `/finops help`.")
