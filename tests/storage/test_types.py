from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import unit_of_work
from storage.models import Budget, OutboxItem
from storage.types import MONEY_MAX, to_money

AMOUNTS = st.decimals(
    min_value=-MONEY_MAX,
    max_value=MONEY_MAX,
    places=6,
    allow_nan=False,
    allow_infinity=False,
)


def _budget(name: str, amount: Decimal) -> Budget:
    return Budget(name=name, amount=amount, currency="USD")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(AMOUNTS, min_size=1, max_size=8))
async def test_money_round_trips_without_loss(engine: AsyncEngine, amounts: list[Decimal]) -> None:
    async with unit_of_work(engine) as session:
        await session.execute(Budget.__table__.delete())
        session.add_all(_budget(f"b{i}", amount) for i, amount in enumerate(amounts))
    async with unit_of_work(engine) as session:
        stored = (await session.scalars(select(Budget.amount).order_by(Budget.name))).all()
        total = await session.scalar(select(func.sum(Budget.amount)))
    by_name = sorted((f"b{i}", a) for i, a in enumerate(amounts))
    assert list(stored) == [a for _, a in by_name]
    assert all(isinstance(value, Decimal) for value in stored)
    # Sums in SQL are exact too (never a float on the way).
    assert total == sum(amounts, Decimal(0))


async def test_money_sum_is_exact_where_floats_are_not(engine: AsyncEngine) -> None:
    async with unit_of_work(engine) as session:
        session.add_all(_budget(f"b{i}", Decimal("0.1")) for i in range(10))
    async with unit_of_work(engine) as session:
        assert await session.scalar(select(func.sum(Budget.amount))) == Decimal("1.000000")
    assert sum([0.1] * 10) != 1.0  # the loss a float column would have


def test_money_refuses_floats_and_rounds_half_even() -> None:
    with pytest.raises(TypeError):
        to_money(0.1)
    assert to_money("0.0000005") == Decimal("0.000000")
    assert to_money("0.0000015") == Decimal("0.000002")
    assert to_money(3) == Decimal("3.000000")
    with pytest.raises(ValueError, match="not a decimal"):
        to_money("ten")
    with pytest.raises(ValueError, match="out of range"):
        to_money(MONEY_MAX + 1)
    with pytest.raises(ValueError, match="not a finite"):
        to_money("NaN")


async def test_timestamps_come_back_aware_utc(engine: AsyncEngine) -> None:
    when = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    async with unit_of_work(engine) as session:
        session.add(OutboxItem(idempotency_key="k1", kind="slack.post", payload={}, next_attempt_at=when))
    async with unit_of_work(engine) as session:
        stored = await session.scalar(select(OutboxItem.next_attempt_at))
    assert stored == when
    assert stored is not None and stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)
    assert stored == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)


async def test_naive_timestamps_are_refused(engine: AsyncEngine) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with unit_of_work(engine) as session:
            session.add(
                OutboxItem(
                    idempotency_key="k2",
                    kind="slack.post",
                    payload={},
                    next_attempt_at=datetime(2026, 1, 1),  # noqa: DTZ001 - the point of the test
                )
            )
