from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from finops.anomaly.detect import Finding
from storage import anomalies
from storage.db import unit_of_work
from storage.models import Anomaly

DAY = date(2026, 3, 2)
SCOPE = {"provider": "aws", "service": "Amazon EC2"}


def _finding(start: date, day: date, impact: str = "500") -> Finding:
    money = Decimal(impact)
    return Finding(dict(SCOPE), "USD", start, day, money * 3, money * 2, money, money * 2, money,
                   50.0, 9.0, "medium", "spike", "high", "stl")  # fmt: skip


async def _save(engine: AsyncEngine, finding: Finding) -> anomalies.Saved:
    async with unit_of_work(engine) as session:
        return await anomalies.save(session, finding, [], None)


async def test_a_continuing_finding_updates_the_same_anomaly(engine: AsyncEngine) -> None:
    first = await _save(engine, _finding(DAY, DAY))
    later = await _save(engine, _finding(DAY + timedelta(days=2), DAY + timedelta(days=4), impact="900"))
    assert first.new and not later.new
    assert later.anomaly.fingerprint == first.anomaly.fingerprint
    assert (later.anomaly.usage_date, later.anomaly.last_date, later.anomaly.kind) == (
        DAY,
        DAY + timedelta(days=4),
        "step",  # five days at a new level
    )
    assert later.anomaly.impact == Decimal("900")
    async with unit_of_work(engine) as session:
        assert await session.scalar(select(func.count()).select_from(Anomaly)) == 1


async def test_expected_until_keeps_the_scope_quiet_until_then(engine: AsyncEngine) -> None:
    first = await _save(engine, _finding(DAY, DAY))
    async with unit_of_work(engine) as session:
        await anomalies.mark(
            session, first.anomaly.fingerprint, "expected", "U1", "migration", DAY + timedelta(days=10)
        )
    quiet = await _save(engine, _finding(DAY + timedelta(days=6), DAY + timedelta(days=6)))
    assert (quiet.new, quiet.suppressed, quiet.anomaly.status) == (False, True, "expected")
    after = await _save(engine, _finding(DAY + timedelta(days=20), DAY + timedelta(days=20)))
    assert (after.new, after.suppressed, after.anomaly.status) == (True, False, "open")


async def test_feedback_with_an_unknown_status_or_anomaly_is_refused(engine: AsyncEngine) -> None:
    saved = await _save(engine, _finding(DAY, DAY))
    async with unit_of_work(engine) as session:
        with pytest.raises(ValueError, match="unknown status 'done'; use one of: open, acknowledged"):
            await anomalies.mark(session, saved.anomaly.fingerprint, "done", "U1", None)
        with pytest.raises(LookupError, match="no anomaly nope"):
            await anomalies.mark(session, "nope", "resolved", "U1", None)
