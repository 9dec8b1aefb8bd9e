"""Alert messages as Block Kit: anomaly root messages, their thread news, the snooze modal.

Pure functions of the stored anomaly; the layout is in templates/slack/anomaly*.json.j2. The
root message is rebuilt from the anomaly's state each time it is posted or updated, so it always
shows who did what, and only the buttons that still apply.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from commands import ids
from commands.messages import amount, day
from storage import outbox
from storage.models import Anomaly
from templates import render

STATES = {
    "open": (":red_circle:", "Open"),
    "acknowledged": (":eyes:", "Acknowledged"),
    "snoozed": (":zzz:", "Snoozed"),
    "expected": (":white_check_mark:", "Expected"),
    "false_positive": (":white_circle:", "False positive"),
    "resolved": (":white_check_mark:", "Resolved"),
}
# The buttons each state offers, in order (Jira and thread details also drop once done).
BUTTONS = {
    "open": (
        ids.ANOMALY_ACK,
        ids.ANOMALY_SNOOZE,
        ids.ANOMALY_EXPECTED,
        ids.ANOMALY_FALSE_POSITIVE,
        ids.ANOMALY_JIRA,
        ids.ANOMALY_THREAD,
    ),
    "acknowledged": (
        ids.ANOMALY_SNOOZE,
        ids.ANOMALY_EXPECTED,
        ids.ANOMALY_FALSE_POSITIVE,
        ids.ANOMALY_JIRA,
        ids.ANOMALY_THREAD,
    ),
    "snoozed": (
        ids.ANOMALY_ACK,
        ids.ANOMALY_EXPECTED,
        ids.ANOMALY_FALSE_POSITIVE,
        ids.ANOMALY_JIRA,
        ids.ANOMALY_THREAD,
    ),
}
LABELS = {
    ids.ANOMALY_ACK: "Acknowledge",
    ids.ANOMALY_SNOOZE: "Snooze",
    ids.ANOMALY_EXPECTED: "Mark expected",
    ids.ANOMALY_FALSE_POSITIVE: "False positive",
    ids.ANOMALY_JIRA: "Create Jira issue",
    ids.ANOMALY_THREAD: "Details in thread",
}
ROOT_CAUSES_SHOWN = 5


# Outbox idempotency keys of an anomaly's Slack and Jira effects.
def root_key(fingerprint: str) -> str:
    return f"slack-root:{fingerprint}"


def jira_key(fingerprint: str) -> str:
    return f"jira:{fingerprint}"


def details_key(fingerprint: str) -> str:
    return f"slack-details:{fingerprint}"


def scope_text(scope: dict[str, Any]) -> str:
    return " · ".join(f"{k}={v}" for k, v in scope.items())


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def status_line(anomaly: Anomaly) -> str:
    emoji, label = STATES.get(anomaly.status, (":grey_question:", anomaly.status))
    line = f"{emoji} *{label}*"
    if anomaly.status_by and anomaly.status != "open":
        by = anomaly.status_by
        line += f" by {f'<@{by}>' if by[:1] in ('U', 'W') else by} at {_when(anomaly.updated_at)}"
    if anomaly.status == "snoozed" and anomaly.snoozed_until:
        line += f", until {_when(anomaly.snoozed_until)}"
    if anomaly.status_reason:
        line += f': "{anomaly.status_reason[:300]}"'
    return line


async def tell(session: Any, fingerprint: str, what: str, text: str | None, *, update: bool = True) -> None:
    """Enqueue news of an anomaly: a thread reply (`text`) and the root message's update, each
    once for `what`."""
    payload = {"fingerprint": fingerprint}
    if update:
        await outbox.enqueue(session, f"slack-update:{fingerprint}:{what}", "slack.anomaly.update", payload)
    if text:
        await outbox.enqueue(
            session, f"slack-thread:{fingerprint}:{what}", "slack.anomaly.thread", {**payload, "text": text}
        )


async def tell_jira(session: Any, fingerprint: str, what: str, text: str) -> None:
    """A comment on the anomaly's Jira issue, when it has (or is getting) one."""
    if await outbox.exists(session, jira_key(fingerprint)):
        payload = {"fingerprint": fingerprint, "text": text}
        await outbox.enqueue(session, f"jira-comment:{fingerprint}:{what}", "jira.comment", payload)


def change_text(anomaly: Anomaly) -> str:
    pct = f" (+{anomaly.pct:.0f}%)" if anomaly.pct is not None else " (new cost)"
    actual, expected = amount(anomaly.actual, anomaly.currency), amount(anomaly.expected, anomaly.currency)
    return f"{actual} vs {expected} expected{pct}"


def cause_lines(anomaly: Anomaly) -> list[str]:
    lines = []
    for cause in anomaly.root_cause[:ROOT_CAUSES_SHOWN]:
        impact = Decimal(str(cause.get("impact", 0)))
        lines.append(
            f"• {scope_text(cause['scope'])}: +{amount(impact, anomaly.currency)} ({cause['share']:.0%})"
        )
    return lines


def headline(anomaly: Anomaly) -> str:
    hours = (
        f" {anomaly.first_hour:02d}:00-{anomaly.last_hour:02d}:59 UTC"
        if anomaly.first_hour is not None
        else ""
    )
    what = anomaly.scope.get("service") or anomaly.scope.get("team") or scope_text(anomaly.scope)
    impact = amount(anomaly.impact, anomaly.currency)
    return f"{anomaly.severity.capitalize()} cost {anomaly.kind}: +{impact} on {what}{hours}"[:150]


def anomaly_message(
    anomaly: Anomaly,
    *,
    chart_file: str | None = None,
    jira_requested: bool = False,
    details_posted: bool = False,
    jira: tuple[str, str] | None = None,
) -> dict[str, Any]:
    done = {ids.ANOMALY_JIRA: jira_requested or jira is not None, ids.ANOMALY_THREAD: details_posted}
    buttons = [b for b in BUTTONS.get(anomaly.status, ()) if not done.get(b)]
    since = day(anomaly.usage_date)
    last = anomaly.last_date or anomaly.usage_date
    period = since if last == anomaly.usage_date else f"{since} to {day(last)}"
    return render(
        "slack/anomaly.json.j2",
        headline=headline(anomaly),
        scope=scope_text(anomaly.scope),
        change=change_text(anomaly),
        impact=f"+{amount(anomaly.impact, anomaly.currency)} on {day(last)}",
        period=period,
        severity=f"{anomaly.severity} ({anomaly.confidence} confidence)",
        causes=cause_lines(anomaly),
        status=status_line(anomaly) + (f" · Jira <{jira[1]}|{jira[0]}>" if jira else ""),
        chart_file=chart_file,
        buttons=[
            {
                "action_id": b,
                "text": LABELS[b],
                "value": anomaly.fingerprint,
                "style": "primary" if b == ids.ANOMALY_ACK else None,
            }
            for b in buttons
        ],
        version=f"{anomaly.status}-{int(anomaly.updated_at.timestamp()) if anomaly.updated_at else 0}",
    )


def anomaly_news(anomaly: Anomaly, what: str) -> dict[str, Any]:
    """A follow-up in the anomaly's thread."""
    return render("slack/anomaly_news.json.j2", text=what)


def still_anomalous(anomaly: Anomaly) -> str:
    last = anomaly.last_date or anomaly.usage_date
    impact = amount(anomaly.impact, anomaly.currency)
    return f"Still anomalous on {day(last)}: {change_text(anomaly)}, impact +{impact}."


def details(anomaly: Anomaly, related: list[Anomaly]) -> str:
    lower, upper = amount(anomaly.lower, anomaly.currency), amount(anomaly.upper, anomaly.currency)
    lines = [
        f"*Scope*: {scope_text(anomaly.scope)}",
        f"*Fingerprint*: `{anomaly.fingerprint}`",
        f"*Expected range*: {lower} to {upper}",
    ]
    if anomaly.root_cause:
        lines.append("*Root cause*")
        for cause in anomaly.root_cause:
            lines.append(f"• {scope_text(cause['scope'])} ({cause['share']:.0%})")
    if related:
        lines.append("*Also seen as*")
        lines += [f"• {scope_text(r.scope)}: +{amount(r.impact, r.currency)}" for r in related]
    return "\n".join(lines)[:2900]


def snooze_modal(fingerprint: str, headline_text: str) -> dict[str, Any]:
    metadata = json.dumps({"fingerprint": fingerprint})
    return render(
        "slack/snooze.json.j2",
        metadata=metadata,
        headline=headline_text,
        callback_id=ids.ANOMALY_SNOOZE_MODAL,
        title="Snooze anomaly",
    )
