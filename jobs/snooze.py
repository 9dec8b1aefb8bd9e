"""Snooze expiry: a snoozed anomaly whose snooze is over goes back to open when it is still
anomalous, or is resolved when it has been back to normal for a while; its thread is told either way.

Each change is audited and told once (the outbox keys carry the audit row's id); a second run
finds nothing snoozed past its time and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commands import alerts
from commands.messages import day
from jobs.notify import RESOLVED_AFTER, move
from storage import anomalies
from storage.models import Anomaly

SNOOZED = ("snoozed",)


@dataclass(frozen=True)
class Ended:
    """A snooze that is over, read before anything moves (a move expires the session's objects)."""

    fingerprint: str
    last: date
    impact: Decimal
    until: datetime
    still: str  # what the thread is told when it is still anomalous

    @property
    def details(self) -> dict[str, str]:
        """For the audit row."""
        return {"snoozed_until": self.until.isoformat(), "last_date": self.last.isoformat()}


async def _ended(session: AsyncSession, now: datetime) -> list[Ended]:
    rows = await session.scalars(
        select(Anomaly)
        .where(Anomaly.status == "snoozed", Anomaly.snoozed_until <= now)
        .order_by(Anomaly.snoozed_until, Anomaly.fingerprint)
    )
    return [
        Ended(a.fingerprint, a.last_date or a.usage_date, a.impact, until, alerts.still_anomalous(a))
        for a in rows
        if (until := a.snoozed_until) is not None
    ]


async def _reopen(session: AsyncSession, ended: Ended) -> bool:
    """Open again and say so; the thread now knows the latest day (no repeat of it by `plan`)."""
    text = f"Snooze over: {ended.still[:1].lower()}{ended.still[1:]}"
    if not await move(session, ended.fingerprint, "open", text, allowed_from=SNOOZED, details=ended.details):
        return False
    anomaly = await anomalies.get(session, ended.fingerprint)
    if anomaly is not None:
        anomaly.notified_date, anomaly.notified_impact = ended.last, ended.impact
    return True


async def _resolve(session: AsyncSession, ended: Ended) -> bool:
    text = f"Snooze over and back to normal: not anomalous since {day(ended.last)}. Resolved."
    fp, details = ended.fingerprint, ended.details
    return await move(session, fp, "resolved", text, allowed_from=SNOOZED, details=details)


async def expire(session: AsyncSession, now: datetime) -> list[str]:
    """End the snoozes that are over at `now` (timezone-aware): an anomaly seen within
    RESOLVED_AFTER of `now`'s day is open again, one quiet for longer is resolved. The
    fingerprints handled."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r}: pass a timezone-aware UTC datetime")
    recent = now.astimezone(UTC).date() - RESOLVED_AFTER
    handled = []
    for ended in await _ended(session, now):
        change = _reopen if ended.last >= recent else _resolve
        if await change(session, ended):
            handled.append(ended.fingerprint)
    return handled
