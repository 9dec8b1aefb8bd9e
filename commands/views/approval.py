"""The reject modal's submission: a reason is required."""

from __future__ import annotations

import json
from typing import Any

from commands import ids
from commands.actions.approval import decide
from commands.context import deps
from commands.roles import PermissionDenied


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
    try:
        await d.roles.require(user, "remediation.approve")
    except PermissionDenied as denied:
        await ack(response_action="errors", errors={"reason": str(denied)[:150]})
        return
    await ack()
    subject = json.loads(view.get("private_metadata") or "{}")["subject"]
    await decide(d, user, subject, "rejected", reason)


def register(app: Any) -> None:
    app.view(ids.APPROVAL_REJECT_MODAL)(handle_reject_submission)
