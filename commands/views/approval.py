"""The reject modal's submission: a reason is required."""

from __future__ import annotations

import json
from typing import Any

from commands import ids
from commands.actions.approval import action_id, authorise, decide
from commands.context import deps
from commands.roles import PermissionDenied
from storage.db import unit_of_work
from storage.models import Action


async def handle_reject_submission(
    ack: Any, body: dict[str, Any], view: dict[str, Any], context: Any
) -> None:
    d = deps(context)
    user = body["user"]["id"]
    reason = str(view["state"]["values"].get("reason", {}).get("value", {}).get("value") or "").strip()
    if len(reason) < 3:
        await ack(
            response_action="errors", errors={"reason": "Say why it is rejected (a few words at least)."}
        )
        return
    subject = json.loads(view.get("private_metadata") or "{}")["subject"]
    try:
        async with unit_of_work(d.engine) as session:
            found = await session.get(Action, action_id(subject))
            if found is not None:
                await authorise(d, session, user, found)
    except PermissionDenied as denied:
        await ack(response_action="errors", errors={"reason": str(denied)[:150]})
        return
    await ack()
    await decide(d, user, subject, "rejected", reason)


def register(app: Any) -> None:
    app.view(ids.APPROVAL_REJECT_MODAL)(handle_reject_submission)
