"""Approve / Reject on approval requests: remediation plans and budget increases.

Whoever clicks needs the right to decide (`remediation.approve` for a plan; for a budget
increase, being one of the budget's approvers, or `budget.approve`); the requester cannot
approve their own request; Reject asks for a reason in a modal. A decision is taken once; an
approved increase changes the budget's amount and is kept as an amendment.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from commands import approvals, budget_alerts
from commands.actions.anomaly import clicked
from commands.context import Deps, deps
from commands.messages import amount
from commands.replies import answering, tell_clicker
from commands.roles import PermissionDenied, allows
from finops import remediation
from finops.errors import UserError
from jobs import remediate
from storage import actions, audit, budgets, jobruns, outbox
from storage.db import unit_of_work
from storage.models import Action, Budget


def action_id(value: str) -> int:
    kind, _, number = value.partition(":")
    if kind != "action" or not number.isdigit():
        raise UserError("This approval request is not one I know; nothing changed.")
    return int(number)


async def authorise(d: Deps, session: AsyncSession, user: str, action: Action) -> None:
    """`PermissionDenied` unless `user` may decide on `action`."""
    if action.playbook != approvals.INCREASE:
        await d.roles.require(user, "remediation.approve", d.settings.remediation.approver_role)
        return
    budget = await session.get(Budget, action.params.get("budget_id"))
    listed = budget.approvers if budget else []
    if await d.roles.member(user, listed):
        return
    if allows(await d.roles.role_of(user), "budget.approve"):
        return
    who = " ".join(budget_alerts.mention(w) for w in listed)
    raise PermissionDenied(
        f"Only {'the budget approvers (' + who + ') or ' if who else ''}admins can approve budget "
        "increases. Approvers are set per budget (`approvers` in the config's [[budgets]])."
    )


async def _apply(session: AsyncSession, action: Action, user: str) -> str:
    """An approved increase: the new amount, kept as an amendment. What the thread is told."""
    budget = await session.get(Budget, action.params["budget_id"])
    if budget is None:
        raise UserError("The budget of this request no longer exists; nothing changed.")
    budgets.refuse_config(budget, "changed")
    to = Decimal(action.params["to"])
    await budgets.amend(
        session,
        budget,
        to,
        requested_by=action.requested_by,
        approved_by=user,
        reason=action.params.get("reason"),
        action_id=action.id,
    )
    return f"Budget {budget.name} is now {amount(to, budget.currency)} {budget.period}."


async def decide(d: Deps, user: str, value: str, status: str, reason: str | None = None) -> str | None:
    """Approve or reject (rights checked, audited, Slack told); None when decided, else what to
    tell the clicker."""
    number = action_id(value)
    async with unit_of_work(d.engine) as session:
        found = await session.get(Action, number)
        if found is None:
            raise UserError("This request is no longer in the store; nothing changed.")
        await authorise(d, session, user, found)
        if status == "approved" and found.requested_by == user:
            return "You asked for this, so someone else has to approve it."
        if not await actions.decide(session, number, status, user, reason, d.now()):
            done = await session.get(Action, number)
            if done and done.status == actions.OPEN:
                return "Nothing changed: this request expired; ask for a fresh one."
            by = f" by <@{done.decided_by}>" if done and done.decided_by else ""
            return f"Nothing changed: it was {done.status if done else 'decided'}{by} already."
        decided = await session.get(Action, number)
        assert decided is not None
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
        if status == "approved" and decided.playbook == approvals.INCREASE:
            said += " " + await _apply(session, decided, user)
        await outbox.enqueue(
            session,
            f"slack-approval:{number}:{row.id}",
            "slack.approval.update",
            {"action_id": number, "text": f"<@{user}> {said}"},
        )
        alert = decided.params.get("alert_id") if decided.playbook == approvals.INCREASE else None
        if alert:
            await budget_alerts.tell(session, alert, f"increase:{number}:{status}", f"<@{user}> {said}")
        plan = status == "approved" and decided.playbook in remediation.PLAYBOOKS
    await d.deliver()
    if plan:
        return await _execute(d, number)
    return None


async def _execute(d: Deps, number: int) -> str | None:
    """An approved remediation plan runs now, recorded as a run of the `remediation` job (its steps
    are told in its thread); when it may not (the kill switch, another executor), the clicker is
    told why."""
    async with jobruns.recorded(d.engine, "remediation") as kept:
        kept["plan"] = number
        try:
            outcome = await remediate.execute(d.engine, d.settings, number, channel="slack", clock=d.now)
        except remediate.NotRunnable as why:
            kept["refused"] = str(why)
            return str(why)
        finally:
            await d.deliver()
        kept["status"] = outcome.action.status
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
    async with unit_of_work(d.engine) as session:
        found = await session.get(Action, action_id(value))
        if found is not None:
            await authorise(d, session, user, found)
    if found is None or found.status != actions.OPEN:
        raise UserError("This request is decided already; nothing to reject.")
    title = approvals.approval_message(found)["text"]
    await client.views_open(trigger_id=body["trigger_id"], view=approvals.reject_modal(value, title))
