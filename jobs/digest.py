"""The daily digest: one Slack message a day with yesterday's spend against the usual, the open
anomalies and the budgets at risk or over; on Mondays, when the policy requires tags, a line on
how much of last week's cost carried them.

Billing data arrives a day or more late, so "yesterday" is the latest charge day with data up to
the day before, and the message names it when it is older. "Usual" is the average of the same
weekday over the weeks before. The message is enqueued in the outbox (kind `slack.post`) under
one key per day: a re-run the same day enqueues nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from commands import alerts, tagging
from commands.messages import amount, budget_line, day, signed_pct
from finops.anomaly.detect import SEVERITIES
from finops.budgets import Rate
from finops.errors import UserError
from finops.policy import spec
from storage import anomalies, budgets, outbox, reports, tagreport
from storage.budgets import BudgetAnswer
from storage.models import Anomaly
from storage.tagreport import Required, Week
from templates import render

WEEKS = 4  # "usual": the same weekday over this many weeks before
OPEN = ("open", "acknowledged")
ZERO = Decimal(0)
MONDAY = 0  # the digest of this weekday has the tags line (date.weekday())

log = structlog.get_logger(__name__)


def key(today: date) -> str:
    """The outbox idempotency key of the day's digest."""
    return f"digest:{today.isoformat()}"


def channel(settings: Settings) -> str:
    """The digest channel, else the alert channel."""
    found = settings.channels.digest or settings.alert_channel or settings.channels.alerts
    if not found:
        raise UserError(
            "no digest channel: set digest under [channels] in FINOPS_CONFIG (or FINOPS_ALERT_CHANNEL) "
            "to the Slack channel id for the daily digest, e.g. C0123FINOPS"
        )
    return found


@dataclass(frozen=True)
class Spend:
    currency: str
    amount: Decimal  # on the digest's day
    usual: Decimal | None  # the average of the same weekday before; None when there is none
    weeks: int  # how many of those weekdays had data (the usual is their average)


@dataclass(frozen=True)
class Digest:
    today: date
    day: date | None  # the latest charge day with data up to the day before `today`
    spend: list[Spend]  # biggest first
    counts: dict[str, int]  # open anomalies by severity, worst first
    events: list[Anomaly]  # the biggest open ones
    budgets: int  # how many budgets there are
    at_risk: list[BudgetAnswer]  # the ones at risk or over
    tags: TagWeek | None = None  # Mondays, when tags are required: last week's compliance


@dataclass(frozen=True)
class TagWeek:
    required: Required
    start: date  # last week's Monday
    weeks: list[Week]  # per currency, biggest first


async def spend(session: AsyncSession, on: date) -> list[Spend]:
    """Per currency, the spend `on` the day and the average of the same weekday over the WEEKS
    weeks before (leaving out the weeks before the currency's first cost)."""
    totals = await reports.daily_totals(session, [], on - timedelta(weeks=WEEKS), on)
    found = []
    for currency, points in totals.items():
        daily = dict(reports.from_first_cost(points, on))
        before = [daily[d] for n in range(1, WEEKS + 1) if (d := on - timedelta(weeks=n)) in daily]
        usual = sum(before, ZERO) / len(before) if before else None
        found.append(Spend(currency, daily[on], usual, len(before)))
    return sorted(found, key=lambda s: (-s.amount, s.currency))


async def open_counts(session: AsyncSession) -> dict[str, int]:
    """The open and acknowledged anomalies (one per event) by severity, worst first."""
    rows = await session.execute(
        select(Anomaly.severity, func.count())
        .where(Anomaly.status.in_(OPEN), Anomaly.group_fingerprint.is_(None))
        .group_by(Anomaly.severity)
    )
    counts = dict(rows.tuples().all())
    return {s: counts[s] for s in reversed(SEVERITIES) if s in counts}


async def budgets_at_risk(
    session: AsyncSession, as_of: date, rates: Sequence[Rate]
) -> tuple[int, list[BudgetAnswer]]:
    """How many budgets there are, and those at risk or over as of `as_of`, over ones first."""
    found = await budgets.list_budgets(session)
    risky = [await budgets.standing(session, budget, as_of, rates) for budget in found]
    risky = [answer for answer in risky if answer.status.state != "on track"]
    risky.sort(key=lambda a: (a.status.state != "over", -a.status.pct_spent, a.budget.name))
    return len(found), risky


async def tag_week(session: AsyncSession, today: date, required: Required | None) -> TagWeek | None:
    """On Mondays with required tags, how much of the week before carried them."""
    if required is None or today.weekday() != MONDAY:
        return None
    start = today - timedelta(weeks=1)
    return TagWeek(required, start, await tagreport.week(session, required, start))


async def gather(
    session: AsyncSession, today: date, rates: Sequence[Rate] = (), required: Required | None = None
) -> Digest:
    """What the digest of `today` says. Budgets stand as of its charge day too, so the digest of
    the 1st still shows how the month before ended. `required`: the tags the policy requires."""
    on = await reports.data_until(session, [], today - timedelta(days=1))
    total, at_risk = await budgets_at_risk(session, on or today - timedelta(days=1), rates)
    return Digest(
        today=today,
        day=on,
        spend=await spend(session, on) if on else [],
        counts=await open_counts(session),
        events=await anomalies.open_events(session),
        budgets=total,
        at_risk=at_risk,
        tags=await tag_week(session, today, required),
    )


def spend_title(d: Digest) -> str:
    yesterday = d.today - timedelta(days=1)
    if d.day is None:
        return f"*Spend*: no cost data up to {day(yesterday)} yet."
    if d.day == yesterday:
        return f"*Spend yesterday, {d.day:%A} {day(d.day)}*"
    return f"*Spend on {d.day:%A} {day(d.day)}*, the latest day with data ({day(yesterday)} is not in yet)"


def against_usual(s: Spend) -> str:
    """The change against the usual, e.g. "+12.5% vs usual 1,000.00 USD"."""
    if s.usual is None:
        return "nothing to compare with"
    return f"{signed_pct(reports.change(s.amount, s.usual))} vs usual {amount(s.usual, s.currency)}"


def spend_lines(d: Digest) -> list[str]:
    weekdays = f"{d.day:%A}s" if d.day else ""
    lines = []
    for s in d.spend:
        if s.usual is None:
            lines.append(f"• *{amount(s.amount, s.currency)}*: no earlier {weekdays} to compare with")
            continue
        fewer = f" (from {s.weeks} {weekdays} only)" if s.weeks < WEEKS else ""
        lines.append(f"• *{amount(s.amount, s.currency)}*, {against_usual(s)}{fewer}")
    return lines


def usual_note(d: Digest) -> str | None:
    if d.day is None or not d.spend:
        return None
    first, last = d.day - timedelta(weeks=WEEKS), d.day - timedelta(weeks=1)
    return (
        f"Usual: the average spend of the same weekday over the previous {WEEKS} weeks "
        f"({d.day:%A}s {day(first)} to {day(last)})."
    )


def anomaly_title(d: Digest) -> str:
    if not d.counts:
        return "*Open anomalies*: none."
    counts = ", ".join(f"{n} {severity}" for severity, n in d.counts.items())
    top = f"; the {len(d.events)} biggest:" if sum(d.counts.values()) > len(d.events) else ""
    return f"*Open anomalies*: {counts}{top}"


def anomaly_line(anomaly: Anomaly) -> str:
    emoji = alerts.STATES.get(anomaly.status, (":grey_question:", ""))[0]
    last = anomaly.last_date or anomaly.usage_date
    thread = f", thread in <#{anomaly.slack_channel}>" if anomaly.slack_channel and anomaly.slack_ts else ""
    return f"• {emoji} {alerts.headline(anomaly)} (last seen {day(last)}){thread}"


def budget_section(d: Digest) -> str | None:
    """Nothing when there are no budgets."""
    if not d.budgets:
        return None
    if not d.at_risk:
        return f"*Budgets*: all {d.budgets} on track."
    return "*Budgets at risk or over*\n" + "\n".join(f"• {budget_line(a)}" for a in d.at_risk)


def fallback(d: Digest) -> str:
    """The plain-text version (notifications, clients without blocks)."""
    parts = []
    if d.day is not None:
        spent = ", ".join(f"{amount(s.amount, s.currency)} ({against_usual(s)})" for s in d.spend)
        parts.append(f"spend on {day(d.day)}: {spent}")
    parts.append(f"{sum(d.counts.values())} open anomalies")
    if d.budgets:
        parts.append(f"{len(d.at_risk)} of {d.budgets} budgets at risk or over")
    if d.tags and d.tags.weeks and d.tags.weeks[0].summary.score is not None:
        parts.append(f"{d.tags.weeks[0].summary.score}% of last week's cost carries the required tags")
    return f"FinOps digest, {day(d.today)}: " + "; ".join(parts)


def message(d: Digest) -> dict[str, Any]:
    """The digest as Block Kit (with its plain-text `text`)."""
    return render(
        "slack/digest.json.j2",
        text=fallback(d),
        title=f"FinOps digest, {day(d.today)}",
        spend="\n".join([spend_title(d), *spend_lines(d)]),
        usual=usual_note(d),
        anomalies="\n".join([anomaly_title(d), *(anomaly_line(a) for a in d.events)]),
        budgets=budget_section(d),
        tags=tagging.digest_line(d.tags.weeks, d.tags.required, d.tags.start) if d.tags else None,
    )


async def digest(session: AsyncSession, settings: Settings, today: date) -> str | None:
    """Enqueue the day's digest for the digest channel; its outbox key, or None when it was
    enqueued already today. `UserError` when no channel is set."""
    where = channel(settings)
    if await outbox.exists(session, key(today)):
        return None
    required = _required_tags(settings) if today.weekday() == MONDAY else None
    payload = {"channel": where, **message(await gather(session, today, settings.rate_table(), required))}
    return key(today) if await outbox.enqueue(session, key(today), "slack.post", payload) else None


def _required_tags(settings: Settings) -> Required | None:
    """The tags the policy requires; None when it requires none or cannot be read (the digest
    then goes out without its tags line, and the log says why)."""
    try:
        policy = spec.from_config(settings.policies, settings.config_file)
    except UserError as exc:
        log.warning("digest without its tags line: the tag policy cannot be read", error=str(exc))
        return None
    return tagreport.required(policy) if policy is not None and policy.tags.required else None
