"""What detection tells Slack: one root message per new anomaly, news in its thread.

`plan` enqueues the effects in the outbox (so they are sent once, whatever happens), and records
what the thread was told: a re-run with nothing new enqueues nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from commands import alerts
from finops.anomaly.detect import SEVERITIES
from finops.errors import UserError
from storage import anomalies, audit, outbox
from storage.models import Anomaly
from storage.types import utcnow

QUIET = ("expected", "false_positive", "resolved")  # no news for these
GROWTH = Decimal("1.25")  # impact grown by a quarter since the thread was last told is news


def channel_for(settings: Settings, scope: dict[str, str]) -> str:
    """The team's channel when the scope has a team with one, else the alert channel."""
    team = scope.get("team")
    if team and team in settings.channels.teams:
        return settings.channels.teams[team]
    channel = settings.alert_channel or settings.channels.alerts
    if not channel:
        raise UserError(
            "no alert channel: set FINOPS_ALERT_CHANNEL (or alerts under [channels] in FINOPS_CONFIG) "
            "to the Slack channel id for anomaly alerts, e.g. C0123ALERTS"
        )
    return channel


def wants_jira(settings: Settings, severity: str) -> bool:
    """Jira is set up and the severity is at or above the one that opens issues by itself."""
    floor = settings.jira.min_severity
    return (
        bool(settings.jira_url) and floor != "none" and SEVERITIES.index(severity) >= SEVERITIES.index(floor)
    )


async def plan(session: AsyncSession, settings: Settings, fingerprints: Sequence[str]) -> list[str]:
    """Enqueue the Slack news of these anomalies (representatives of what detection found): a
    root message for a new one, a thread reply and an update for news. What it enqueued (the root
    messages' keys and the fingerprints with news)."""
    added: list[str] = []
    rows = await session.scalars(select(Anomaly).where(Anomaly.fingerprint.in_(list(fingerprints))))
    for anomaly in sorted(rows, key=lambda a: (-a.impact, a.fingerprint)):
        fp = anomaly.fingerprint
        last = anomaly.last_date or anomaly.usage_date
        if anomaly.status == "snoozed" and anomaly.snoozed_until and anomaly.snoozed_until > utcnow():
            continue  # quiet while snoozed; the news is told once the snooze is over
        if not await outbox.exists(session, alerts.root_key(fp)):
            if anomaly.status in QUIET:
                continue
            payload = {"fingerprint": fp, "channel": channel_for(settings, anomaly.scope)}
            await outbox.enqueue(session, alerts.root_key(fp), "slack.anomaly.root", payload)
            added.append(alerts.root_key(fp))
            if wants_jira(settings, anomaly.severity):
                await outbox.enqueue(session, alerts.jira_key(fp), "jira.create", {"fingerprint": fp})
                added.append(alerts.jira_key(fp))
        elif (
            anomaly.status not in QUIET and anomaly.notified_date is not None and last > anomaly.notified_date
        ):
            await alerts.tell(session, fp, f"day:{last}", alerts.still_anomalous(anomaly))
            added.append(f"news:{fp}")
        elif (
            anomaly.status not in QUIET
            and anomaly.notified_impact
            and anomaly.impact >= anomaly.notified_impact * GROWTH
        ):
            text = f"The impact grew: {alerts.still_anomalous(anomaly)}"
            await alerts.tell(session, fp, f"impact:{anomaly.impact}", text)
            added.append(f"news:{fp}")
        else:
            continue
        anomaly.notified_date, anomaly.notified_impact = last, anomaly.impact
    return added


BOT = "finops-bot"  # the actor of what the bot does by itself, in the audit log
RESOLVED_AFTER = timedelta(days=2)  # not anomalous for this long after its last day: resolved


async def move(
    session: AsyncSession,
    fingerprint: str,
    status: str,
    text: str,
    *,
    allowed_from: Sequence[str],
    details: dict[str, Any],
) -> bool:
    """The bot itself moves the anomaly to `status` (when it is in one of `allowed_from`): an
    audit row `anomaly.<status>` with `details`, and `text` in its thread (the root message
    updated) and on its Jira issue, once per audit row. Whether it moved."""
    if not await anomalies.transition(session, fingerprint, status, BOT, allowed_from=allowed_from):
        return False
    row = await audit.record(
        session,
        actor=BOT,
        channel="job",
        action=f"anomaly.{status}",
        subject_type="anomaly",
        subject_id=fingerprint,
        details=details,
    )
    await alerts.tell(session, fingerprint, f"{status}:{row.id}", text)
    await alerts.tell_jira(session, fingerprint, f"{status}:{row.id}", text)
    return True


async def resolve_quiet(session: AsyncSession, as_of: date) -> list[str]:
    """Alerted anomalies not seen for RESOLVED_AFTER by `as_of` are resolved: the thread is told
    and the root message shows it. The fingerprints resolved."""
    stale = await session.scalars(
        select(Anomaly).where(
            Anomaly.slack_ts.is_not(None),
            Anomaly.status.in_(("open", "acknowledged")),
            Anomaly.last_date < as_of - RESOLVED_AFTER,
        )
    )
    # Read before moving any: a move expires the session's objects.
    quiet = [(anomaly.fingerprint, anomaly.last_date) for anomaly in stale]
    resolved = []
    for fp, last in quiet:
        text = f"Back to normal: not anomalous since {last:%d %b %Y}. Resolved."
        details = {"as_of": as_of.isoformat()}
        if await move(session, fp, "resolved", text, allowed_from=("open", "acknowledged"), details=details):
            resolved.append(fp)
    return resolved
