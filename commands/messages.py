"""Answers as Block Kit: pure functions from answers to the dicts a Slack call sends.

The layout lives in templates/slack/*.json.j2; here are the words and numbers that go in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bot.settings import Source
from commands.queries import BudgetAnswer, CostAnswer
from finops import costquery
from finops.budgets import PERIODS
from jobs.freshness import lateness
from storage.reports import change
from storage.status import SourceFreshness, Status
from templates import render

SECTION_LIMIT = 3000
CELL = 32  # the widest a table cell may be


def amount(value: Decimal, currency: str) -> str:
    return f"{value.quantize(Decimal('0.01')):,} {currency}"


def signed_pct(value: Decimal | None) -> str:
    return "new" if value is None else f"{value:+}%"


def day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def _cell(text: str) -> str:
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], limit: int = SECTION_LIMIT) -> str:
    """A monospace table in a code block, cut (with a last line saying so) to fit `limit`."""
    cells = [[_cell(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [i >= len(header) - 2 for i in range(len(header))]  # the amount and change columns

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True)
        )

    lines = [line(cells[0])]
    for index, row in enumerate(cells[1:]):
        more = f"… and {len(cells) - 1 - index} more rows"
        if sum(len(x) + 1 for x in lines) + len(line(row)) + len(more) + 8 > limit:
            lines.append(more)
            break
        lines.append(line(row))
    return "```\n" + "\n".join(lines) + "\n```"


def _scope_words(query: costquery.CostQuery) -> str:
    words = []
    for one in query.filters:
        words.append(f"{one.dimension}{'!=' if one.negate else '='}{','.join(one.values)}")
    return " ".join(words)


def cost_tables(answer: CostAnswer) -> list[dict[str, Any]]:
    """Per currency: its total line and its table (rows by the query's dimensions)."""
    report, query = answer.report, answer.query
    tables = []
    for currency in sorted(report.totals, key=lambda c: -report.totals[c]):
        total, before = report.totals[currency], report.previous.get(currency, Decimal(0))
        rows = [
            [*row.keys, amount(row.amount, ""), signed_pct(change(row.amount, row.previous))]
            for row in report.rows
            if row.currency == currency
        ]
        if currency in report.others:
            count, rest, rest_before = report.others[currency]
            rows.append(
                [
                    f"{count} others",
                    *[""] * (len(query.group_by) - 1),
                    amount(rest, ""),
                    signed_pct(change(rest, rest_before)),
                ]
            )
        header = [*(costquery_label(d) for d in query.group_by), currency, "change"]
        made = answer.forecasts.get(currency)
        tables.append(
            {
                "currency": currency,
                "total": amount(total, currency),
                "change": signed_pct(change(total, before)),
                "previous": amount(before, currency),
                "table": text_table(header, rows) if query.group_by and rows else None,
                "forecast": (
                    f"Forecast for {made.start:%B %Y}: *{amount(made.total, currency)}* "
                    f"(90%: {amount(made.lower, currency)} to {amount(made.upper, currency)})"
                    if made
                    else None
                ),
            }
        )
    return tables


def costquery_label(dimension: str) -> str:
    return next((w for w, d in costquery.BY_WORDS.items() if d == dimension), dimension)


def cost_message(answer: CostAnswer, chart_file: str | None = None) -> dict[str, Any]:
    report, query = answer.report, answer.query
    by = " by " + " and ".join(costquery_label(d) for d in query.group_by) if query.group_by else ""
    period = query.period
    span = day(period.start) if period.days == 1 else f"{day(period.start)} to {day(period.end)}"
    notes = []
    if report.data_until is not None and report.data_until < report.asked_end:
        notes.append(f"data through {day(report.data_until)}, compared like for like")
    if query.filters:
        notes.append(f"where {_scope_words(query)}")
    return render(
        "slack/cost.json.j2",
        title=f"Cost{by}, {period.label}",
        span=span,
        compare=query.compare_label,
        tables=cost_tables(answer),
        empty=not report.totals,
        notes=" · ".join(notes),
        query=query.text,
        chart_file=chart_file,
    )


def error_message(text: str) -> dict[str, Any]:
    return render("slack/error.json.j2", text=text)


def cost_help() -> dict[str, Any]:
    return render("slack/help.json.j2", title="/cost", text=costquery.HELP)


FINOPS_HELP = (
    "*/finops whoami*: your role in finops-bot (viewer, engineer or admin)\n"
    "*/finops status*: data freshness per source, the latest job runs and the open anomalies\n"
    "*/finops tags* (or *tags by DIM*): how much of last month's cost carries the required tags, "
    "per team, and the untagged spend and resources\n"
    "*/cost QUERY*: costs by period, dimension and filter (`/cost help`)\n"
    "*/budget*: the budgets and where they stand (`/budget help`)"
)
BUDGET_HELP = (
    "*/budget* or */budget list*: every budget with its spend and forecast\n"
    "*/budget show NAME*: one budget: status, burn, forecast and a chart\n"
    "*/budget new*: create a budget (engineers and admins)\n"
    "*/budget edit NAME*: change one (engineers and admins)\n"
    "*/budget delete NAME*: delete one (engineers and admins)\n"
    "Budgets declared in the config file are changed there. The same from a terminal: "
    "`finops-bot budget list|show|set|delete|status|report`"
)


def finops_help() -> dict[str, Any]:
    return render("slack/help.json.j2", title="/finops", text=FINOPS_HELP)


def budget_help() -> dict[str, Any]:
    return render("slack/help.json.j2", title="/budget", text=BUDGET_HELP)


def whoami_message(user_id: str, role: str | None) -> dict[str, Any]:
    return render("slack/whoami.json.j2", user=user_id, role=role)


def _ago(then: Any, now: Any) -> str:
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def _late(s: SourceFreshness, configured: Sequence[Source], now: Any) -> str:
    """` · :hourglass: late` when the source is configured and its next day is overdue."""
    source = next((c for c in configured if c.name == s.source), None)
    late = lateness(source, s, now) if source is not None else None
    if late is None or not late.late or late.age is None:
        return ""
    return (
        f" · :hourglass: late: the next day was due {_minutes(late.age - late.limit - timedelta(days=1))} ago"
    )


def status_lines(status: Status, now: Any, configured: Sequence[Source] = ()) -> dict[str, list[str]]:
    sources = [
        f"*{s.source}*: data through {day(s.data_until) if s.data_until else 'nothing yet'}"
        + (f", loaded {_ago(s.last_loaded, now)}" if s.last_loaded else "")
        + (
            f" ({_minutes(s.arrival_to_queryable)} from file to queryable)"
            if s.arrival_to_queryable is not None
            else ""
        )
        + _late(s, configured, now)
        + (f" · :warning: last load failed: {s.last_error[:200]}" if s.last_error else "")
        for s in status.sources
    ]
    jobs = [
        f"*{run.job}*: {run.status}, started {_ago(run.started_at, now)}"
        + (f" ({(run.finished_at - run.started_at).total_seconds():.1f} s)" if run.finished_at else "")
        + (f" · {run.error[:200]}" if run.error else "")
        for run in status.jobs
    ]
    anomalies = [f"{count} {severity}" for severity, count in status.open_anomalies.items()]
    return {"sources": sources, "jobs": jobs, "anomalies": anomalies}


def status_message(status: Status, now: Any, configured: Sequence[Source] = ()) -> dict[str, Any]:
    """`/finops status`; `configured`: the scheduled sources (their lateness is shown)."""
    return render("slack/status.json.j2", **status_lines(status, now, configured))


def budget_line(answer: BudgetAnswer) -> str:
    s, b = answer.status, answer.budget
    forecast = f", forecast {amount(s.forecast, b.currency)} ({s.pct_forecast}%)" if s.forecast else ""
    return (
        f"*{b.name}* ({s.state}): {amount(s.spent, b.currency)} of {amount(s.amount, b.currency)} "
        f"({s.pct_spent}%){forecast}"
    )


def budget_list_message(answers: Sequence[BudgetAnswer], can_edit: bool) -> dict[str, Any]:
    return render(
        "slack/budget_list.json.j2",
        budgets=[{"name": a.budget.name, "line": budget_line(a)} for a in answers[:40]],
        more=max(len(answers) - 40, 0),
        can_edit=can_edit,
    )


def budget_facts(answer: BudgetAnswer) -> list[str]:
    s, b = answer.status, answer.budget
    scope = ", ".join(f"{k}={','.join(v)}" for k, v in sorted(b.scope.items())) or "all costs"
    facts = [
        f"*Status*\n{s.state}",
        f"*Spent*\n{amount(s.spent, b.currency)} ({s.pct_spent}%)",
        f"*Budget*\n{amount(s.amount, b.currency)} {b.period}",
        f"*Period*\n{day(s.start)} to {day(s.end)}, {s.days_left} days left",
        f"*Burn*\n{amount(s.burn_per_day, b.currency)} a day",
        f"*Scope*\n{scope}",
    ]
    if s.forecast is not None:
        facts.insert(2, f"*Forecast*\n{amount(s.forecast, b.currency)} ({s.pct_forecast}%)")
    if s.left_per_day is not None:
        facts.append(f"*Left per day*\n{amount(s.left_per_day, b.currency)}")
    if s.carried:
        facts.append(f"*Rolled over*\n{amount(s.carried, b.currency)} from last period")
    if answer.parent:
        facts.append(f"*Part of*\n{answer.parent}")
    return facts[:10]


def budget_message(answer: BudgetAnswer, can_edit: bool, chart_file: str | None = None) -> dict[str, Any]:
    return render(
        "slack/budget.json.j2",
        name=answer.budget.name,
        facts=budget_facts(answer),
        crossed=", ".join(f"{t}%" for t in answer.status.thresholds_crossed),
        data_until=day(answer.status.as_of) + (f" · {answer.rates_note}" if answer.rates_note else ""),
        can_edit=can_edit,
        chart_file=chart_file,
    )


def spend_line(answer: CostAnswer) -> list[str]:
    """This month so far against the same days of last month, per currency."""
    report = answer.report
    lines = []
    for currency, total in sorted(report.totals.items(), key=lambda kv: -kv[1]):
        moved = signed_pct(change(total, report.previous.get(currency, Decimal(0))))
        lines.append(f"*{amount(total, currency)}* this month, {moved} vs the same days of last month")
    return lines


def home_view(
    role: str | None,
    status: Status,
    now: Any,
    *,
    spend: Sequence[str] = (),
    anomalies: Sequence[str] = (),
    budgets: Sequence[str] = (),
) -> dict[str, Any]:
    lines = status_lines(status, now)
    return render(
        "slack/home.json.j2",
        role=role,
        sources=lines["sources"],
        counts=lines["anomalies"],
        spend=list(spend),
        anomalies=list(anomalies),
        budgets=list(budgets),
        help=FINOPS_HELP,
    )


def budget_modal(
    metadata: str,
    *,
    original: str | None = None,
    name: str = "",
    amount: str = "",
    currency: str = "USD",
    period: str = "monthly",
    scope: str = "",
    thresholds: str = "50, 80, 100",
) -> dict[str, Any]:
    return render(
        "slack/budget_modal.json.j2",
        metadata=metadata,
        original=original,
        name=name,
        amount=amount,
        currency=currency,
        period=period,
        periods=list(PERIODS),
        scope=scope,
        thresholds=thresholds,
    )
