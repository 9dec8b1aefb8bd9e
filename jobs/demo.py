"""The demo pipeline: a sample organisation through the real store, no account and no network.

`run_demo` loads the sample. `run_pipeline` runs the rest once on it: the daily detection job
replayed over the last weeks (one run a day, as the scheduler would have run it), demo budgets
when there are none, and the Slack root messages and Jira issues the bot would send, built by the
code that sends them. Nothing is sent and nothing is put in the outbox, so a later `finops-bot
run` on the same database does not post what the demo showed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.jira_client import issue_fields
from bot.notify import anomaly_message
from bot.settings import Settings
from commands import budget_alerts, queries
from commands.queries import BudgetAnswer
from finops import lineitems, normalise, sample
from finops.budgets import alerts_due, period_bounds
from finops.errors import UserError
from jobs.budgets import channel_of, draft
from jobs.detect import detect
from jobs.notify import QUIET, channel_for, wants_jira
from storage import anomalies, budgets, jira_links
from storage.costs import LoadResult, ProviderTotal, provider_totals, replace_costs
from storage.db import unit_of_work
from storage.migrate import upgrade
from storage.models import Anomaly
from storage.reports import daily_totals, from_first_cost

DEMO_SOURCE = "demo-sample"


@dataclass(frozen=True)
class DemoResult:
    database: str
    revision: str | None
    seed: int
    start: date
    end: date
    line_items: int
    load: LoadResult
    totals: list[ProviderTotal]
    planted: tuple[sample.PlantedAnomaly, ...]


def _prepare(
    seed: int, end: date | None, months: int
) -> tuple[sample.SampleOrg, pd.DataFrame, pd.DataFrame, list[normalise.RawTotal], str]:
    """The CPU part: generate and roll up (run in a thread, off the event loop)."""
    org = sample.generate(seed=seed, end=end, months=months)
    items = lineitems.from_frame(org.rows, f"sample:seed={seed}")
    daily, _, by_resource = normalise.partials(items)
    resources = pd.DataFrame() if by_resource is None else normalise.finish_resources(by_resource)
    return org, normalise.finish(daily), resources, normalise.raw_totals(items), normalise.fingerprint(items)


async def run_demo(engine: AsyncEngine, *, seed: int, end: date | None, months: int) -> DemoResult:
    _, revision = await upgrade(engine)
    org, daily, resources, raw, fingerprint = await asyncio.to_thread(_prepare, seed, end, months)
    async with unit_of_work(engine) as session:
        load = await replace_costs(
            session,
            source=DEMO_SOURCE,
            fmt="focus",
            fingerprint=fingerprint,
            location=f"sample:seed={seed}",
            daily=daily,
            raw=raw,
            resources=resources,
        )
    async with unit_of_work(engine) as session:
        totals = await provider_totals(session)
    return DemoResult(
        database=engine.url.render_as_string(hide_password=True),
        revision=revision,
        seed=seed,
        start=org.start,
        end=org.end,
        line_items=len(org.rows),
        load=load,
        totals=totals,
        planted=org.planted,
    )


# --- the whole pipeline: load, detect, budgets, and what would be posted ----------------------

REPLAY_DAYS = 42  # daily detection runs replayed, ending the day after the last charge day
# Nothing is sent: these stand in for an unset Jira, to show the issues that would be opened.
DEMO_JIRA_URL = "https://jira.example.com"
DEMO_JIRA_PROJECT = "FINOPS"
DEMO_ACTOR = "finops-bot demo"
# name, scope, currency, amount as a multiple of the scope's monthly run rate before this month
DEMO_BUDGETS: tuple[tuple[str, dict[str, list[str]], str, Decimal], ...] = (
    ("Data team", {"team": ["data"]}, "USD", Decimal("1.10")),
    ("ML team", {"team": ["ml"]}, "USD", Decimal("1.00")),
    ("Azure Europe", {"provider": ["azure"]}, "EUR", Decimal("1.05")),
)
RUN_RATE_DAYS = 56  # days before the month whose average spend sets a demo budget's amount

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Alert:
    """An anomaly (one per event) and what the bot would send for it; nothing is sent."""

    anomaly: dict[str, Any]  # as `storage.anomalies.as_dict`, plus `new` and `planted`
    channel: str | None  # where its root message goes (None: no alert channel configured)
    message: dict[str, Any] | None  # the root message as posted (None: a quiet status, not posted)
    jira: dict[str, Any] | None  # the fields of the Jira issue it opens by itself (None: none)


@dataclass(frozen=True)
class PipelineResult:
    loaded: DemoResult
    detected_from: date  # the first day detection was run as of
    as_of: date  # the last: the day after the last charge day
    new: int  # anomalies first seen in this run (0 when the demo ran on this data before)
    alerts: list[Alert]
    budgets: list[BudgetAnswer]  # as of the last charge day
    budgets_created: list[str]
    budget_alerts: list[BudgetAlertMessage] = field(default_factory=list)


@dataclass(frozen=True)
class BudgetAlertMessage:
    """A budget alert the budgets job would post for this period (nothing is sent)."""

    budget: str
    channel: str | None
    message: dict[str, Any]


def replay_start(loaded: DemoResult, as_of: date, days: int) -> date:
    """The first day of the replay: `days` before `as_of`, but with some history to learn from."""
    earliest = loaded.start + timedelta(days=sample.ANOMALY_MIN_HISTORY_DAYS)
    return min(max(as_of - timedelta(days=days - 1), earliest), as_of)


async def run_pipeline(
    engine: AsyncEngine,
    settings: Settings,
    *,
    seed: int,
    end: date | None,
    months: int,
    replay_days: int = REPLAY_DAYS,
    progress: Progress | None = None,
) -> PipelineResult:
    """Load the sample, run the daily detection job for each of the last `replay_days` days (as
    the scheduler would have), add demo budgets when there are none, and build the Slack messages
    and Jira issues that would be sent. Nothing is sent and nothing is put in the outbox."""
    say = progress or (lambda _: None)
    say("Generating and loading the sample organisation")
    loaded = await run_demo(engine, seed=seed, end=end, months=months)
    as_of = loaded.end + timedelta(days=1)
    first = replay_start(loaded, as_of, replay_days)
    new = await replay(engine, settings, first, as_of, say)
    say("Checking budgets")
    created = await ensure_budgets(engine, loaded.end)
    answers = await queries.budget_list(engine, settings, loaded.end)
    found = await alerts_for(engine, settings, first, as_of, new, loaded.planted)
    warned = await budget_alerts_for(engine, settings, answers)
    return PipelineResult(loaded, first, as_of, len(new), found, answers, created, warned)


async def budget_alerts_for(
    engine: AsyncEngine, settings: Settings, answers: Sequence[BudgetAnswer]
) -> list[BudgetAlertMessage]:
    """The alert messages the budgets job would post for these standings, were no alert of this
    period sent yet; built by the job's own builders, nothing stored or enqueued."""
    found = []
    async with unit_of_work(engine) as session:
        for answer in answers:
            budget, status = answer.budget, answer.status
            post, _ = alerts_due(status, budget.forecast_alert, [])
            if not post:
                continue
            top = await budgets.contributors(session, budget, status.start, status.as_of, answer.rates)
            details = budget_alerts.snapshot(answer, top)
            try:
                channel: str | None = channel_of(settings, budget)
            except UserError:
                channel = None
            for kind, pct in post:
                message = budget_alerts.alert_message(draft(answer, kind, pct, "open", details), budget)
                found.append(BudgetAlertMessage(budget.name, channel, message))
    return found


async def replay(
    engine: AsyncEngine, settings: Settings, first: date, as_of: date, say: Progress
) -> set[str]:
    """Detection as of each day from `first` to `as_of`; the fingerprints first seen."""
    new: set[str] = set()
    days = (as_of - first).days + 1
    for n in range(days):
        day = first + timedelta(days=n)
        say(f"Detecting anomalies as of {day} ({n + 1}/{days})")
        new.update((await detect(engine, day, settings.detection)).new)
    return new


async def alerts_for(
    engine: AsyncEngine,
    settings: Settings,
    first: date,
    as_of: date,
    new: set[str],
    planted: Sequence[sample.PlantedAnomaly],
) -> list[Alert]:
    """The events active in the replayed days, first started first, with their messages."""
    jira_settings = would_open_jira(settings)
    found = []
    async with unit_of_work(engine) as session:
        events = [a for a in await anomalies.in_window(session, first, as_of) if a.group_fingerprint is None]
        for anomaly in sorted(events, key=lambda a: (a.usage_date, -a.impact, a.fingerprint)):
            related = await anomalies.related(session, anomaly.fingerprint)
            document = anomalies.as_dict(anomaly, related) | {
                "new": anomaly.fingerprint in new,
                "planted": planted_name(anomaly, related, planted),
            }
            posted = anomaly.status not in QUIET
            message = await anomaly_message(session, anomaly, chart_file=None) if posted else None
            opens = (
                posted
                and wants_jira(jira_settings, anomaly.severity)
                and await jira_links.find(session, anomaly.fingerprint) is None
            )
            jira = issue_fields(jira_settings, anomaly, None) if opens else None
            found.append(Alert(document, alert_channel(settings, anomaly.scope), message, jira))
    return found


def would_open_jira(settings: Settings) -> Settings:
    """The settings with Jira set up: the configured Jira, or a stand-in for the demo to show
    what would be opened (nothing connects to it)."""
    return settings.model_copy(
        update={
            "jira_url": settings.jira_url or DEMO_JIRA_URL,
            "jira_project": settings.jira_project or DEMO_JIRA_PROJECT,
        }
    )


def alert_channel(settings: Settings, scope: dict[str, Any]) -> str | None:
    try:
        return channel_for(settings, scope)
    except UserError:
        return None


def planted_name(
    anomaly: Anomaly, related: Sequence[Anomaly], planted: Sequence[sample.PlantedAnomaly]
) -> str | None:
    """The planted anomaly this event is (one of its scopes within the planted one's, starting
    within its days), if any."""
    for one in planted:
        for seen in (anomaly, *related):
            within = seen.scope.items() <= one.scope.items()
            if within and one.start - timedelta(days=1) <= seen.usage_date <= one.end:
                return one.name
    return None


async def ensure_budgets(engine: AsyncEngine, end: date) -> list[str]:
    """When there are no budgets, a few that fit the sample (each a little above its scope's
    run rate, rounded up); the names of those created."""
    created = []
    async with unit_of_work(engine) as session:
        if await budgets.list_budgets(session):
            return []
        for name, scope, currency, factor in DEMO_BUDGETS:
            rate = await monthly_run_rate(session, scope, currency, end)
            if not rate:
                continue
            spec = budgets.BudgetSpec(name, round_up(rate * factor), currency, "monthly", scope)
            await budgets.save(session, spec, actor=DEMO_ACTOR, channel="cli")
            created.append(name)
    return created


async def monthly_run_rate(
    session: AsyncSession, scope: dict[str, list[str]], currency: str, end: date
) -> Decimal:
    """The scope's average daily spend before `end`'s month (or in it, when nothing earlier is
    loaded) times the days of that month."""
    start, last = period_bounds(end, "monthly")
    wanted = budgets.filters(scope)
    before = await daily_totals(session, wanted, start - timedelta(days=RUN_RATE_DAYS), start - timedelta(1))
    points = from_first_cost(before.get(currency, []), start)
    if not points:
        points = (await daily_totals(session, wanted, start, end)).get(currency, [])
    if not points:
        return Decimal(0)
    return sum((cost for _, cost in points), Decimal(0)) / len(points) * ((last - start).days + 1)


def round_up(value: Decimal) -> Decimal:
    """Up to two significant digits: 48,312.5 -> 49,000."""
    step = Decimal(10) ** max(value.adjusted() - 1, 0)
    return (value / step).to_integral_value(ROUND_CEILING) * step
