"""The outbox: each effect sent once, retried with backoff, given up on when retrying cannot help."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from jobs.outbox import Permanent, deliver
from storage import outbox
from storage.db import unit_of_work
from storage.models import OutboxItem
from storage.types import utcnow


async def _items(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    async with unit_of_work(engine) as session:
        rows = await session.scalars(select(OutboxItem).order_by(OutboxItem.id))
        return [(i.idempotency_key, i.status, i.attempts) for i in rows]


async def _enqueue(engine: AsyncEngine, *keys: str) -> None:
    async with unit_of_work(engine) as session:
        for key in keys:
            await outbox.enqueue(session, key, "test", {"key": key})


async def test_the_same_key_is_one_effect(engine: AsyncEngine) -> None:
    async with unit_of_work(engine) as session:
        assert await outbox.enqueue(session, "k", "test", {})
        assert not await outbox.enqueue(session, "k", "test", {"other": 1})
    assert await _items(engine) == [("k", "pending", 0)]


async def test_racing_deliveries_send_each_effect_once(engine: AsyncEngine) -> None:
    await _enqueue(engine, *(f"k{n}" for n in range(10)))
    sent: list[str] = []

    async def send(session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        sent.append(payload["key"])
        return {"ok": True}

    await asyncio.gather(*(deliver(engine, {"test": send}) for _ in range(4)))
    assert sorted(sent) == sorted(f"k{n}" for n in range(10))
    assert {status for _, status, _ in await _items(engine)} == {"sent"}


async def test_a_failure_is_retried_later_and_a_permanent_one_is_not(engine: AsyncEngine) -> None:
    await _enqueue(engine, "flaky", "broken")
    calls: list[str] = []

    async def send(session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(payload["key"])
        if payload["key"] == "broken":
            raise Permanent("invalid_blocks")
        if calls.count("flaky") == 1:
            raise ConnectionError("slack is down")
        return {}

    done = await deliver(engine, {"test": send})
    assert (done.retrying, done.failed) == (["flaky"], ["broken"])
    assert await deliver(engine, {"test": send}) == type(done)()  # not due yet: backing off
    async with unit_of_work(engine) as session:
        await session.execute(update(OutboxItem).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    assert (await deliver(engine, {"test": send})).sent == ["flaky"]
    assert await _items(engine) == [("flaky", "sent", 1), ("broken", "failed", 1)]


async def test_a_claim_whose_sender_died_is_due_again_after_its_lease(engine: AsyncEngine) -> None:
    await _enqueue(engine, "k")

    async def send(session: AsyncSession, payload: dict[str, Any]) -> dict[str, Any]:
        return {}

    async with unit_of_work(engine) as session:
        item = await session.scalar(select(OutboxItem))
        assert item is not None and await outbox.claim(session, item.id)
    assert (await deliver(engine, {"test": send})).sent == []  # claimed: not sent twice
    async with unit_of_work(engine) as session:
        await session.execute(update(OutboxItem).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    assert (await deliver(engine, {"test": send})).sent == ["k"]  # the lease ran out: sent now
