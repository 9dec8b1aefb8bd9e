"""Buttons on anomaly alerts: Acknowledge, Snooze (a modal), Mark expected, False positive,
Create Jira issue, Details in thread.

Each click checks the role, changes the state once (a double click or a retry finds it changed
and says so), writes the audit row and enqueues the root message's update and a thread reply in
the same transaction; the outbox then sends them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands import alerts
from commands.context import Deps, deps
from commands.replies import answering, tell_clicker
from finops.errors import UserError
from storage import anomalies, audit, outbox
from storage.db import unit_of_work

# Target status -> the statuses it can be reached from, and how the thread says it.
MOVES = {
    "acknowledged": (("open", "snoozed"), "acknowledged this"),
    "snoozed": (("open", "acknowledged", "snoozed"), "snoozed this"),
    "expected": (("open", "acknowledged", "snoozed"), "marked this as expected"),
    "false_positive": (("open", "acknowledged", "snoozed"), "marked this as a false positive"),
}


def clicked(body: dict[str, Any]) -> tuple[str, str]:
    """The clicking user and the button's value."""
    return body["user"]["id"], str(body["actions"][0].get("value") or "")


async def move(
    d: Deps,
    user: str,
    fingerprint: str,
    status: str,
    *,
    reason: str | None = None,
    snoozed_until: datetime | None = None,
) -> str | None:
    """Change the anomaly's status (role checked, audited, Slack told); None when it changed,
    else what to tell the clicker."""
    await d.roles.require(user, "anomaly.act")
    allowed_from, said = MOVES[status]
    async with unit_of_work(d.engine) as session:
        changed = await anomalies.transition(
            session,
            fingerprint,
            status,
            user,
            allowed_from=allowed_from,
            reason=reason,
            snoozed_until=snoozed_until,
        )
        anomaly = await anomalies.get(session, fingerprint)
        if anomaly is None:
            raise UserError("This anomaly is no longer in the store; nothing changed.")
        if not changed:
            by = f" by <@{anomaly.status_by}>" if anomaly.status_by else ""
            return f"Nothing changed: it is {alerts.STATES[anomaly.status][1].lower()}{by} already."
        row = await audit.record(
            session,
            actor=user,
            channel="slack",
            action=f"anomaly.{status}",
            subject_type="anomaly",
            subject_id=fingerprint,
            details={"reason": reason, "until": snoozed_until.isoformat() if snoozed_until else None},
        )
        text = f"<@{user}> {said}" + (f" until {snoozed_until:%Y-%m-%d %H:%M} UTC" if snoozed_until else "")
        text += f': "{reason}"' if reason else "."
        await alerts.tell(session, fingerprint, f"{status}:{row.id}", text)
        await alerts.tell_jira(session, fingerprint, f"{status}:{row.id}", f"In Slack, {user} {said}.")
    await d.deliver()
    return None


def _mover(status: str) -> Any:
    @answering
    async def handle(body: dict[str, Any], respond: Any, context: Any) -> None:
        user, fingerprint = clicked(body)
        await tell_clicker(respond, await move(deps(context), user, fingerprint, status))

    handle.__name__ = handle.__qualname__ = f"handle_anomaly_{status}"
    return handle


handle_anomaly_ack = _mover("acknowledged")
handle_anomaly_expected = _mover("expected")
handle_anomaly_false_positive = _mover("false_positive")


@answering
async def handle_anomaly_snooze(
    body: dict[str, Any], respond: Any, client: AsyncWebClient, context: Any
) -> None:
    d = deps(context)
    user, fingerprint = clicked(body)
    await d.roles.require(user, "anomaly.act")
    async with unit_of_work(d.engine) as session:
        anomaly = await anomalies.get(session, fingerprint)
    if anomaly is None:
        raise UserError("This anomaly is no longer in the store.")
    await client.views_open(
        trigger_id=body["trigger_id"], view=alerts.snooze_modal(fingerprint, alerts.headline(anomaly))
    )


async def _once(
    d: Deps, user: str, fingerprint: str, key: str, kind: str, payload: dict[str, Any], action: str, text: str
) -> str | None:
    """An effect that happens once per anomaly (a Jira issue, the details in the thread)."""
    async with unit_of_work(d.engine) as session:
        if await anomalies.get(session, fingerprint) is None:
            raise UserError("This anomaly is no longer in the store.")
        if not await outbox.enqueue(session, key, kind, payload):
            return "That was done already; see the thread."
        row = await audit.record(
            session,
            actor=user,
            channel="slack",
            action=action,
            subject_type="anomaly",
            subject_id=fingerprint,
        )
        await alerts.tell(
            session, fingerprint, f"{action}:{row.id}", text if kind != "slack.anomaly.thread" else None
        )
    await d.deliver()
    return None


@answering
async def handle_anomaly_jira(body: dict[str, Any], respond: Any, context: Any) -> None:
    d = deps(context)
    user, fingerprint = clicked(body)
    await d.roles.require(user, "anomaly.act")
    note = await _once(
        d,
        user,
        fingerprint,
        alerts.jira_key(fingerprint),
        "jira.create",
        {"fingerprint": fingerprint, "requested_by": user},
        "anomaly.jira_requested",
        f"<@{user}> asked for a Jira issue; its key will follow here.",
    )
    await tell_clicker(respond, note)


@answering
async def handle_anomaly_thread(body: dict[str, Any], respond: Any, context: Any) -> None:
    d = deps(context)
    user, fingerprint = clicked(body)
    await d.roles.require(user, "cost.read")
    async with unit_of_work(d.engine) as session:
        anomaly = await anomalies.get(session, fingerprint)
        related = await anomalies.related(session, fingerprint)
    if anomaly is None:
        raise UserError("This anomaly is no longer in the store.")
    text = alerts.details(anomaly, related)
    note = await _once(
        d,
        user,
        fingerprint,
        alerts.details_key(fingerprint),
        "slack.anomaly.thread",
        {"fingerprint": fingerprint, "text": text},
        "anomaly.details",
        text,
    )
    await tell_clicker(respond, note)
