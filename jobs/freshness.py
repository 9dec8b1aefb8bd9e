"""Data freshness: how long each source takes from a file arriving to its data being queryable,
and whether a source is late.

A provider finishes a day's billing data some hours after the day ends (its delay: 24 h for AWS,
36 h for Azure). So with data up to day D, day D+1 is due by the end of D+1 plus that delay; a
source with nothing newer by then is late, and the admins hear of it once per newest day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.metrics import SOURCE_DATA_AGE, SOURCE_FRESHNESS, SOURCE_LATE
from bot.settings import Settings, Source, late_after
from storage import outbox
from storage.status import SourceFreshness, status

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Lateness:
    source: str
    data_until: date | None  # the newest charge day stored
    age: timedelta | None  # since the end of that day
    limit: timedelta  # the provider's delay (or the configured one)
    late: bool
    arrival_to_queryable: timedelta | None


def lateness(source: Source, found: SourceFreshness | None, now: datetime) -> Lateness:
    limit = timedelta(hours=late_after(source, found.provider if found else None))
    took = found.arrival_to_queryable if found else None
    if found is None or found.data_until is None:
        return Lateness(source.name, None, None, limit, False, took)
    age = now - datetime.combine(found.data_until + DAY, time(), UTC)
    return Lateness(source.name, found.data_until, age, limit, age > limit + DAY, took)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.1f} days"


def late_message(late: Lateness, error: str | None) -> str:
    assert late.data_until is not None and late.age is not None
    text = (
        f":hourglass: Billing source *{late.source}* is late: its newest data is for "
        f"{late.data_until:%d %b %Y}, which ended {_hours(late.age)} ago; the next day was due "
        f"{_hours(late.limit)} after it ended."
    )
    if error:
        text += f" Its latest load failed: {error[:500]}"
    return text + " See `/finops status`."


async def check(session: AsyncSession, settings: Settings, now: datetime) -> list[Lateness]:
    """Each configured source's freshness (exported as metrics); a late one is told to the admin
    channel (else the alert channel) once per newest day."""
    found = {s.source: s for s in (await status(session)).sources}
    checked = [lateness(source, found.get(source.name), now) for source in settings.schedules.sources]
    export(checked)
    channel = settings.channels.admin or settings.alert_channel or settings.channels.alerts
    for late in checked:
        if late.late and channel:
            error = found[late.source].last_error if late.source in found else None
            payload = {"channel": channel, "text": late_message(late, error)}
            await outbox.enqueue(session, f"late:{late.source}:{late.data_until}", "slack.post", payload)
    return checked


def export(checked: Sequence[Lateness]) -> None:
    for late in checked:
        if late.age is not None:
            SOURCE_DATA_AGE.labels(late.source).set(late.age.total_seconds())
        if late.arrival_to_queryable is not None:
            SOURCE_FRESHNESS.labels(late.source).set(late.arrival_to_queryable.total_seconds())
        SOURCE_LATE.labels(late.source).set(1 if late.late else 0)
