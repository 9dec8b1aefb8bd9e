"""Keeping anomalies: one row per event, updated in place; and the rows root cause looks at.

A finding updates the stored anomaly with its fingerprint, or the open one of the same scope
that it continues (anomalous yesterday too), so a spike that lasts three days or a step that
takes a few days to become the new normal is one anomaly, not one a day. Feedback sticks: an
anomaly marked expected or false positive keeps that status when it is seen again, and an
"expected" one with an end date keeps its scope quiet until then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from finops.anomaly.detect import SEVERITIES, Finding
from finops.anomaly.rootcause import CHILD_DIMENSIONS, WEEKS, usual_days
from storage.models import HOURLY_DIMENSIONS, Anomaly, CostDaily, CostHourly
from storage.series import column, hourly_column
from storage.types import utcnow

CONTINUES_WITHIN = 2  # days between an anomaly's last day and a new finding's start
STATUSES = ("open", "acknowledged", "snoozed", "expected", "false_positive", "resolved")
STEP_DAYS = 3  # an anomaly lasting this many days is a step change (a new level)


@dataclass(frozen=True)
class Saved:
    anomaly: Anomaly
    new: bool  # a new anomaly (to alert), not an update of one already known
    suppressed: bool  # its scope is marked expected until a later date


async def child_rows(
    session: AsyncSession,
    scope: Mapping[str, Any],
    currency: str,
    day: date,
    hours: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The scope's daily cost by child dimension over the weeks root cause compares with; for an
    hourly finding, the cost of its hours (`hours`, first and last) on each of those days."""
    if hours is not None:
        return await _hourly_child_rows(session, scope, currency, day, hours)
    dimensions = [d for d in CHILD_DIMENSIONS if d not in scope]
    columns = [column(d) for d in dimensions]
    query = (
        select(CostDaily.usage_date, *columns, func.sum(CostDaily.billed_cost))
        .where(
            CostDaily.currency == currency,
            CostDaily.usage_date >= day - timedelta(days=7 * WEEKS),
            CostDaily.usage_date <= day,
            *(column(k) == v for k, v in scope.items()),
        )
        .group_by(CostDaily.usage_date, *columns)
    )
    rows = (await session.execute(query)).tuples().all()
    frame = pd.DataFrame(rows, columns=["usage_date", *dimensions, "cost"])
    frame["cost"] = frame["cost"].astype(float)
    return frame


async def _hourly_child_rows(
    session: AsyncSession, scope: Mapping[str, Any], currency: str, day: date, hours: tuple[int, int]
) -> pd.DataFrame:
    dimensions = [d for d in HOURLY_DIMENSIONS if d in CHILD_DIMENSIONS and d not in scope]
    columns = [hourly_column(d) for d in dimensions]
    first, last = hours
    wanted = [
        datetime.combine(one, time(hour), tzinfo=UTC)
        for one in [day, *usual_days(day)]
        for hour in range(first, last + 1)
    ]
    query = (
        select(CostHourly.usage_hour, *columns, func.sum(CostHourly.billed_cost))
        .where(
            CostHourly.currency == currency,
            CostHourly.usage_hour.in_(wanted),
            *(hourly_column(k) == v for k, v in scope.items()),
        )
        .group_by(CostHourly.usage_hour, *columns)
    )
    rows = [(hour.date(), *rest) for hour, *rest in (await session.execute(query)).tuples().all()]
    frame = pd.DataFrame(rows, columns=["usage_date", *dimensions, "cost"])
    frame["cost"] = frame["cost"].astype(float)
    return frame


async def _known(session: AsyncSession, finding: Finding) -> Anomaly | None:
    """The stored anomaly this finding is: the same fingerprint, or one it continues."""
    same = await session.scalar(select(Anomaly).where(Anomaly.fingerprint == finding.fingerprint))
    if same is not None:
        return same
    candidates = await session.scalars(
        select(Anomaly)
        .where(
            Anomaly.currency == finding.currency,
            Anomaly.last_date >= finding.start - timedelta(days=CONTINUES_WITHIN),
            Anomaly.usage_date <= finding.date,
        )
        .order_by(Anomaly.usage_date)
    )
    return next((a for a in candidates if a.scope == finding.scope), None)


async def _suppressed(session: AsyncSession, finding: Finding) -> bool:
    """An anomaly of this scope was marked expected until a day not yet past."""
    quiet = await session.scalars(
        select(Anomaly).where(
            Anomaly.currency == finding.currency,
            Anomaly.status == "expected",
            Anomaly.expected_until >= finding.date,
        )
    )
    return any(a.scope == finding.scope for a in quiet)


async def save(
    session: AsyncSession, finding: Finding, root_cause: list[dict[str, Any]], group: str | None
) -> Saved:
    suppressed = await _suppressed(session, finding)
    anomaly = await _known(session, finding)
    new = anomaly is None
    if anomaly is None:
        anomaly = Anomaly(
            fingerprint=finding.fingerprint,
            scope=finding.scope,
            usage_date=finding.start,
            currency=finding.currency,
            status="expected" if suppressed else "open",
            first_seen_at=utcnow(),
        )
        session.add(anomaly)
    newest = anomaly.last_date is None or finding.date >= anomaly.last_date
    last = finding.date if newest or anomaly.last_date is None else anomaly.last_date
    anomaly.usage_date = min(anomaly.usage_date, finding.start)
    anomaly.last_date = last
    lasted = (last - anomaly.usage_date).days + 1
    anomaly.kind = "step" if lasted >= STEP_DAYS else finding.kind
    anomaly.confidence = finding.confidence
    if newest:  # a replay of an earlier day does not overwrite the latest figures
        anomaly.actual = finding.actual
        anomaly.expected = finding.expected
        anomaly.lower = finding.lower
        anomaly.upper = finding.upper
        anomaly.impact = finding.impact
        anomaly.pct = finding.pct
        anomaly.first_hour, anomaly.last_hour = finding.hours or (None, None)
        anomaly.root_cause = root_cause
    anomaly.severity = finding.severity if new else _worse(anomaly.severity, finding.severity)
    anomaly.group_fingerprint = group
    anomaly.last_seen_at = utcnow()
    if anomaly.status == "resolved":
        anomaly.status = "open"  # it came back
    await session.flush()
    return Saved(anomaly, new and not suppressed, suppressed)


def _worse(a: str, b: str) -> str:
    return max(a, b, key=SEVERITIES.index)


async def mark(
    session: AsyncSession,
    fingerprint: str,
    status: str,
    by: str,
    reason: str | None,
    until: date | None = None,
) -> Anomaly:
    """Feedback on an anomaly: acknowledged, expected (optionally until a date), false_positive,
    resolved, or open again."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    anomaly = await session.scalar(select(Anomaly).where(Anomaly.fingerprint == fingerprint))
    if anomaly is None:
        raise LookupError(f"no anomaly {fingerprint}")
    anomaly.status = status
    anomaly.status_by = by
    anomaly.status_reason = reason
    anomaly.expected_until = until if status == "expected" else None
    await session.flush()
    return anomaly


async def in_window(session: AsyncSession, since: date, until: date) -> list[Anomaly]:
    """Anomalies active between two days, latest first."""
    rows = await session.scalars(
        select(Anomaly)
        .where(Anomaly.last_date >= since, Anomaly.usage_date <= until)
        .order_by(Anomaly.last_date.desc(), Anomaly.impact.desc())
    )
    return list(rows)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def as_dict(anomaly: Anomaly, related: Sequence[Anomaly] = ()) -> dict[str, Any]:
    """The stored anomaly, as `detect --json` and the Slack messages show it."""
    return {
        "fingerprint": anomaly.fingerprint,
        "scope": anomaly.scope,
        "currency": anomaly.currency,
        "start": anomaly.usage_date.isoformat(),
        "date": (anomaly.last_date or anomaly.usage_date).isoformat(),
        "actual": _money(anomaly.actual),
        "expected": _money(anomaly.expected),
        "lower": _money(anomaly.lower),
        "upper": _money(anomaly.upper),
        "impact": _money(anomaly.impact),
        "pct": anomaly.pct,
        "hours": _hours(anomaly.first_hour, anomaly.last_hour),
        "severity": anomaly.severity,
        "kind": anomaly.kind,
        "confidence": anomaly.confidence,
        "root_cause": anomaly.root_cause,
        "related": [
            {"fingerprint": r.fingerprint, "scope": r.scope, "impact": _money(r.impact)} for r in related
        ],
        "status": anomaly.status,
    }


def _hours(first: int | None, last: int | None) -> dict[str, int] | None:
    """An hourly anomaly's hours (UTC) on its latest day; None for a daily one."""
    return None if first is None or last is None else {"first": first, "last": last}


def seen(
    finding: Finding, causes: list[dict[str, Any]], saved: Saved, related: Sequence[Saved]
) -> dict[str, Any]:
    """What one run found (its day's figures), under the stored anomaly's identity and status."""
    return {
        **as_dict(saved.anomaly, [r.anomaly for r in related]),
        "date": finding.date.isoformat(),
        "actual": _money(finding.actual),
        "expected": _money(finding.expected),
        "lower": _money(finding.lower),
        "upper": _money(finding.upper),
        "impact": _money(finding.impact),
        "pct": finding.pct,
        "hours": _hours(*(finding.hours or (None, None))),
        "severity": finding.severity,
        "confidence": finding.confidence,
        "root_cause": causes,
        "new": saved.new,
    }


async def get(session: AsyncSession, fingerprint: str) -> Anomaly | None:
    found: Anomaly | None = await session.scalar(select(Anomaly).where(Anomaly.fingerprint == fingerprint))
    return found


async def transition(
    session: AsyncSession,
    fingerprint: str,
    status: str,
    by: str,
    *,
    allowed_from: Sequence[str],
    reason: str | None = None,
    snoozed_until: datetime | None = None,
) -> bool:
    """Move the anomaly to `status` if it is in one of `allowed_from`, in one conditional UPDATE:
    of two clicks at once (or a click and its retry) exactly one changes it. Whether it did."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    result = await session.execute(
        update(Anomaly)
        .where(Anomaly.fingerprint == fingerprint, Anomaly.status.in_(list(allowed_from)))
        .values(
            status=status,
            status_by=by,
            status_reason=reason,
            snoozed_until=snoozed_until,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    changed = bool(getattr(result, "rowcount", 0) == 1)
    if changed:
        session.expire_all()
    return changed


async def open_events(session: AsyncSession, limit: int = 5) -> list[Anomaly]:
    """The open anomalies (one per event), biggest impact first."""
    rows = await session.scalars(
        select(Anomaly)
        .where(Anomaly.status.in_(("open", "acknowledged")), Anomaly.group_fingerprint.is_(None))
        .order_by(Anomaly.impact.desc())
        .limit(limit)
    )
    return list(rows)


async def related(session: AsyncSession, fingerprint: str) -> list[Anomaly]:
    """The anomalies grouped under this one (the same event seen in other scopes)."""
    rows = await session.scalars(
        select(Anomaly).where(Anomaly.group_fingerprint == fingerprint).order_by(Anomaly.impact.desc())
    )
    return list(rows)
