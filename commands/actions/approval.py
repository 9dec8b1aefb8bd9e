"""Approve / Reject on approval requests (remediation plans).

Whoever clicks needs the role (`remediation.approve`); the requester cannot approve their own
request; Reject asks for a reason in a modal. A decision is taken once.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands import approvals
from commands.actions.anomaly import clicked
from commands.context import Deps, deps
from commands.replies import answering, tell_clicker
from finops.errors import UserError
from storage import actions, audit, outbox
from storage.db import unit_of_work
from storage.models import Action


def action_id(value: str) -> int:
    kind, _, number = value.partition(":")
    if kind != "action" or not number.isdigit():
        raise UserError("This approval request is not one I know; nothing changed.")
    return int(number)


async def decide(d: Deps, user: str, value: str, status: str, reason: str | None = None) -> str | None:
    """Approve or reject (role checked, audited, Slack told); None when decided, else what to tell
    the clicker."""
    await d.roles.require(user, "remediation.approve")
    number = action_id(value)
    async with unit_of_work(d.engine) as session:
        found = await session.get(Action, number)
        if found is None:
            raise UserError("This request is no longer in the store; nothing changed.")
        if status == "approved" and found.requested_by == user:
            return "You asked for this, so someone else has to approve it."
        if not await actions.decide(session, number, status, user, reason):
            done = await session.get(Action, number)
            by = f" by <@{done.decided_by}>" if done and done.decided_by else ""
            return f"Nothing changed: it was {done.status if done else 'decided'}{by} already."
        row = await audit.record(
            session,
            actor=user,
            channel="slack",
            action=f"approval.{status}",
            subject_type="action",
            subject_id=str(number),
            details={"reason": reason},
        )
        said = "approved this." if status == "approved" else f'rejected this: "{reason}"'
        await outbox.enqueue(
            session,
            f"slack-approval:{number}:{row.id}",
            "slack.approval.update",
            {"action_id": number, "text": f"<@{user}> {said}"},
        )
    await d.deliver()
    return None


@answering
async def handle_approval_approve(body: dict[str, Any], respond: Any, context: Any) -> None:
    user, value = clicked(body)
    await tell_clicker(respond, await decide(deps(context), user, value, "approved"))


@answering
async def handle_approval_reject(
    body: dict[str, Any], respond: Any, client: AsyncWebClient, context: Any
) -> None:
    d = deps(context)
    user, value = clicked(body)
    await d.roles.require(user, "remediation.approve")
    async with unit_of_work(d.engine) as session:
        found = await session.get(Action, action_id(value))
    if found is None or found.status != "planned":
        raise UserError("This request is decided already; nothing to reject.")
    title = approvals.approval_message(found)["text"]
    await client.views_open(trigger_id=body["trigger_id"], view=approvals.reject_modal(value, title))
