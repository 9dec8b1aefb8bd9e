"""Slack senders for the outbox: anomaly root messages, their updates and thread replies, and
approval requests. Each renders from the current state when it is sent, so a message always
shows the latest figures and who did what."""

from __future__ import annotations

import functools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commands import alerts, approvals, budget_alerts
from commands.replies import upload_chart
from finops import charts
from finops.costquery import Filter
from jobs.outbox import Permanent, Sender
from storage import jira_links, outbox
from storage.models import Action, Anomaly, Budget, BudgetAlert, OutboxItem
from storage.reports import daily_totals

log = structlog.get_logger(__name__)
# Slack errors retrying cannot fix: the message or the channel is wrong.
PERMANENT_ERRORS = {
    "invalid_blocks",
    "invalid_arguments",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "msg_too_long",
    "no_text",
    "invalid_auth",
    "account_inactive",
}
CHART_DAYS = 30


async def _call(method: Any, **kwargs: Any) -> Any:
    try:
        return await method(**kwargs)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        if error in PERMANENT_ERRORS:
            raise Permanent(f"Slack refused {method.__name__}: {error}") from exc
        raise


async def _anomaly(session: AsyncSession, fingerprint: str) -> Anomaly:
    found = await session.scalar(select(Anomaly).where(Anomaly.fingerprint == fingerprint))
    if found is None:
        raise Permanent(f"no anomaly {fingerprint}")
    return found


async def _root_result(session: AsyncSession, fingerprint: str) -> dict[str, Any]:
    item = await session.scalar(
        select(OutboxItem).where(OutboxItem.idempotency_key == alerts.root_key(fingerprint))
    )
    return dict(item.result or {}) if item is not None else {}


async def anomaly_message(session: AsyncSession, anomaly: Anomaly, chart_file: str | None) -> dict[str, Any]:
    link = await jira_links.find(session, anomaly.fingerprint)
    return alerts.anomaly_message(
        anomaly,
        chart_file=chart_file,
        jira=(link.issue_key, link.issue_url) if link else None,
        jira_requested=await outbox.exists(session, alerts.jira_key(anomaly.fingerprint)),
        details_posted=await outbox.exists(session, alerts.details_key(anomaly.fingerprint)),
    )


class SlackNotifier:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    def senders(self) -> dict[str, Sender]:
        return {
            "slack.anomaly.root": self.anomaly_root,
            "slack.anomaly.update": self.anomaly_update,
            "slack.anomaly.thread": self.anomaly_thread,
            "slack.budget.root": self.budget_root,
            "slack.budget.update": self.budget_update,
            "slack.approval.root": self.approval_root,
            "slack.approval.update": self.approval_update,
            "slack.approval.thread": self.approval_thread,
            "slack.post": self.post,
        }

    async def post(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        """A message (e.g. to the admin channel, the daily digest): its text, and its blocks when it
        has them (the text is then the notification's fallback)."""
        blocks = {"blocks": payload["blocks"]} if payload.get("blocks") else {}
        reply = await _call(
            self.client.chat_postMessage, channel=payload["channel"], text=payload["text"], **blocks
        )
        return {"channel": reply["channel"], "ts": reply["ts"]}

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            reply = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError:
            return None
        link: str | None = reply.get("permalink")
        return link

    async def _chart(self, session: AsyncSession, anomaly: Anomaly) -> str | None:
        last = anomaly.last_date or anomaly.usage_date
        scope = [Filter(k, (str(v),)) for k, v in anomaly.scope.items()]
        points = (await daily_totals(session, scope, last - timedelta(days=CHART_DAYS - 1), last)).get(
            anomaly.currency, []
        )
        if len(points) < 2:
            return None
        render = functools.partial(
            charts.daily_spend,
            points,
            title=alerts.scope_text(anomaly.scope)[:80],
            currency=anomaly.currency,
            band=(anomaly.usage_date, last, anomaly.lower, anomaly.upper),
        )
        return await upload_chart(self.client, render, "anomaly")

    async def anomaly_root(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        anomaly = await _anomaly(session, payload["fingerprint"])
        if anomaly.slack_ts:  # posted already (an earlier delivery that was not recorded as sent)
            return {"channel": anomaly.slack_channel, "ts": anomaly.slack_ts}
        chart = await self._chart(session, anomaly)
        message = await anomaly_message(session, anomaly, chart)
        reply = await _call(
            self.client.chat_postMessage, channel=payload["channel"], unfurl_links=False, **message
        )
        anomaly.slack_channel, anomaly.slack_ts = reply["channel"], reply["ts"]
        return {"channel": reply["channel"], "ts": reply["ts"], "chart_file": chart}

    async def anomaly_update(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        anomaly = await _anomaly(session, payload["fingerprint"])
        if not anomaly.slack_ts:
            raise RuntimeError("its root message is not posted yet")  # retried after the root
        chart = (await _root_result(session, anomaly.fingerprint)).get("chart_file")
        message = await anomaly_message(session, anomaly, chart)
        await _call(self.client.chat_update, channel=anomaly.slack_channel, ts=anomaly.slack_ts, **message)
        return {"ts": anomaly.slack_ts}

    async def anomaly_thread(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        anomaly = await _anomaly(session, payload["fingerprint"])
        if not anomaly.slack_ts:
            raise RuntimeError("its root message is not posted yet")
        message = alerts.anomaly_news(anomaly, payload["text"])
        reply = await _call(
            self.client.chat_postMessage, channel=anomaly.slack_channel, thread_ts=anomaly.slack_ts, **message
        )
        return {"ts": reply["ts"]}

    async def _budget_alert(self, session: AsyncSession, alert_id: int) -> tuple[BudgetAlert, Budget]:
        alert = await session.get(BudgetAlert, alert_id)
        budget = await session.get(Budget, alert.budget_id) if alert else None
        if alert is None or budget is None:
            raise Permanent(f"no budget alert {alert_id}")
        return alert, budget

    async def budget_root(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        alert, budget = await self._budget_alert(session, payload["alert_id"])
        if alert.slack_ts:
            return {"channel": alert.slack_channel, "ts": alert.slack_ts}
        points = budget_alerts.daily(alert)
        chart = None
        if len(points) > 1:
            render = functools.partial(
                charts.daily_spend,
                points,
                title=f"{budget.name}: spend to date"[:80],
                currency=budget.currency,
                limit=Decimal(alert.details["amount"]),
                cumulative=True,
            )
            chart = await upload_chart(self.client, render, "budget")
        message = budget_alerts.alert_message(alert, budget, chart)
        reply = await _call(
            self.client.chat_postMessage, channel=payload["channel"], unfurl_links=False, **message
        )
        alert.slack_channel, alert.slack_ts = reply["channel"], reply["ts"]
        alert.details = {**alert.details, "chart_file": chart}
        return {"channel": reply["channel"], "ts": reply["ts"], "chart_file": chart}

    async def budget_update(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        alert, budget = await self._budget_alert(session, payload["alert_id"])
        if not alert.slack_ts:
            raise RuntimeError("its alert message is not posted yet")  # retried after the root
        message = budget_alerts.alert_message(alert, budget, alert.details.get("chart_file"))
        await _call(self.client.chat_update, channel=alert.slack_channel, ts=alert.slack_ts, **message)
        if payload.get("text"):
            await _call(
                self.client.chat_postMessage,
                channel=alert.slack_channel,
                thread_ts=alert.slack_ts,
                text=payload["text"],
            )
        return {"ts": alert.slack_ts}

    async def approval_root(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        action = await session.get(Action, payload["action_id"])
        if action is None:
            raise Permanent(f"no action {payload['action_id']}")
        if action.slack_ts:
            return {"channel": action.slack_channel, "ts": action.slack_ts}
        reply = await _call(
            self.client.chat_postMessage, channel=payload["channel"], **approvals.approval_message(action)
        )
        action.slack_channel, action.slack_ts = reply["channel"], reply["ts"]
        return {"channel": reply["channel"], "ts": reply["ts"]}

    async def _posted(self, session: AsyncSession, action_id: int) -> Action:
        action = await session.get(Action, action_id)
        if action is None:
            raise Permanent(f"no action {action_id}")
        if not action.slack_ts:
            raise RuntimeError("its request message is not posted yet")  # retried after the root
        return action

    async def approval_thread(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        """A line in the request's thread (e.g. one remediation step's result)."""
        action = await self._posted(session, payload["action_id"])
        reply = await _call(
            self.client.chat_postMessage,
            channel=action.slack_channel,
            thread_ts=action.slack_ts,
            text=payload["text"],
        )
        return {"ts": reply["ts"]}

    async def approval_update(self, session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        action = await self._posted(session, payload["action_id"])
        await _call(
            self.client.chat_update,
            channel=action.slack_channel,
            ts=action.slack_ts,
            **approvals.approval_message(action),
        )
        if payload.get("text"):
            await _call(
                self.client.chat_postMessage,
                channel=action.slack_channel,
                thread_ts=action.slack_ts,
                text=payload["text"],
            )
        return {"ts": action.slack_ts}
