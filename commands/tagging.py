"""Tag governance in words: the `/finops tags` message and the weekly digest line.

Pure functions from `storage.tagreport` answers to text and Block Kit; the layout of the message
is in templates/slack/tags.json.j2.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from commands.messages import amount, costquery_label, day, text_table
from storage.tagreport import CurrencyReport, Month, Required, TagReport, Week, share
from templates import render

MAX_CURRENCIES = 5  # each takes five blocks: the message stays far under 50
RESOURCE_ID_CHARS = 120


def pct(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value}%"


def month_label(report: TagReport) -> str:
    return f"{report.month:%B %Y}" + ("" if report.complete else " (to date)")


def by_label(dimension: str) -> str:
    return costquery_label(dimension)


def keys_words(required: Required) -> str:
    case = ", keys in any case" if required.insensitive else ""
    return ", ".join(f"`{key}`" for key in required.keys) + case


def trend_line(points: Sequence[Month]) -> str:
    return "Trend: " + " · ".join(f"{p.month:%b} {pct(p.score)}" for p in points)


def summary_text(c: CurrencyReport, required: Required) -> str:
    s = c.summary
    lines = [
        f"*{s.currency}*: *{pct(s.score)}* of {amount(s.total, s.currency)} carries every required tag"
        f" · {amount(s.untagged, s.currency)} untagged",
        *(
            f"• `{key}`: {pct(share(s.tagged[key], s.total))} ({amount(s.tagged[key], s.currency)})"
            for key in required.keys
        ),
    ]
    if c.trend:
        lines.append(trend_line(c.trend))
    return "\n".join(lines)


def groups_text(c: CurrencyReport, by: str) -> str:
    title = f"*By {by_label(by)}*, worst score first"
    if not c.groups:
        return f"{title}: none."
    rows = [[g.value, amount(g.total, ""), pct(g.score)] for g in c.groups]
    more = f"\n… and {c.more_groups} more" if c.more_groups else ""
    table = text_table([by_label(by), c.summary.currency, "score"], rows, limit=2900 - len(more))
    return f"{title}\n{table}{more}"


def untagged_text(c: CurrencyReport) -> str:
    currency = c.summary.currency
    if not c.by_account:
        return "*Untagged spend*: none."
    lines = ["*Untagged spend by account*"]
    lines += [f"• {s.values[0]}: {amount(s.amount, currency)}" for s in c.by_account]
    lines.append("*Untagged spend by service*")
    lines += [f"• {s.values[0]}: {amount(s.amount, currency)}" for s in c.by_service]
    return "\n".join(lines)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def resources_text(c: CurrencyReport) -> str:
    if not c.resources:
        return (
            "*Top untagged resources*: none with a ResourceId in this billing period "
            "(periods loaded before per-resource costs were kept show them after their next load)."
        )
    lines = ["*Top untagged resources*"]
    lines += [
        f"• `{_short(r.resource_id, RESOURCE_ID_CHARS)}` ({r.billing_account} / {r.service or '(none)'}): "
        f"{amount(r.amount, c.summary.currency)}, missing {', '.join(r.missing)}"
        for r in c.resources
    ]
    return "\n".join(lines)


def fallback(report: TagReport) -> str:
    parts = [
        f"{pct(c.summary.score)} of {amount(c.summary.total, c.summary.currency)}" for c in report.currencies
    ]
    scores = "; ".join(parts) if parts else "no cost data"
    return f"Tag compliance, {month_label(report)}: {scores}"


def tags_message(report: TagReport) -> dict[str, Any]:
    """`/finops tags`: per currency, the shares, the scores by group, the untagged spend and
    resources, and the trend."""
    shown = report.currencies[:MAX_CURRENCIES]
    more = len(report.currencies) - len(shown)
    return render(
        "slack/tags.json.j2",
        text=fallback(report),
        title=f"Tag compliance, {month_label(report)}",
        about=(
            f"Required: {keys_words(report.required)} · BilledCost, {day(report.month)} to {day(report.end)}"
            " · the share of cost whose tags have every required key with a value"
        ),
        currencies=[
            {
                "summary": summary_text(c, report.required),
                "groups": groups_text(c, report.by),
                "untagged": untagged_text(c),
                "resources": resources_text(c),
            }
            for c in shown
        ],
        more=f"… and {more} more currencies: `finops-bot tags report`" if more else None,
    )


# --- the weekly digest line -------------------------------------------------------------------


def week_line(week: Week, required: Required, several: bool) -> str:
    s = week.summary
    whose = f"last week's {s.currency} cost" if several else "last week's cost"
    line = f"{pct(s.score)} of {whose} carries {', '.join(required.keys)}"
    before = week.before.score if week.before is not None else None
    if s.score is not None and before is not None:
        line += f" ({s.score - before:+} pts on the week before)"
    line += f"; {amount(s.untagged, s.currency)} untagged"
    if week.most is not None:
        line += f", most in {'/'.join(week.most.values)}"
    return line


def digest_line(weeks: Sequence[Week], required: Required, start: date) -> str:
    """The digest's Monday line on tag compliance of the week from `start`."""
    if not weeks:
        return f"*Tags*: no cost data for the week of {day(start)} yet."
    lines = [week_line(w, required, len(weeks) > 1) for w in weeks]
    return "*Tags*: " + "\n".join(lines)
