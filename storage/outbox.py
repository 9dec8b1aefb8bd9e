"""The outbox: every outbound effect (a Slack post, a Jira issue) is a row first.

An effect is enqueued in the same transaction as the change that causes it, under an idempotency
key: the same key twice is one row, so a re-run, a retry or a double click cannot make two.
`jobs.outbox.deliver` sends what is due and records the result.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxItem
from storage.types import utcnow

MAX_ATTEMPTS = 10
BACKOFF_SECONDS = (5, 30, 120, 600, 1800, 3600)
LEASE = timedelta(minutes=10)  # a claim not finished by then (the sender died) is due again


async def enqueue(session: AsyncSession, key: str, kind: str, payload: dict[str, Any]) -> bool:
    """Add the effect unless one with `key` exists; whether it was added."""
    if await session.scalar(select(OutboxItem.id).where(OutboxItem.idempotency_key == key)) is not None:
        return False
    session.add(OutboxItem(idempotency_key=key[:200], kind=kind, payload=payload))
    await session.flush()
    return True


async def exists(session: AsyncSession, key: str) -> bool:
    return await session.scalar(select(OutboxItem.id).where(OutboxItem.idempotency_key == key)) is not None


async def due(
    session: AsyncSession, kinds: set[str], now: datetime | None = None, limit: int = 100
) -> list[OutboxItem]:
    """Pending effects of `kinds` whose time has come (and claims whose lease ran out), oldest first."""
    rows = await session.scalars(
        select(OutboxItem)
        .where(
            OutboxItem.status.in_(("pending", "sending")),
            OutboxItem.kind.in_(sorted(kinds)),
            OutboxItem.next_attempt_at <= (now or utcnow()),
        )
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    return list(rows)


async def claim(session: AsyncSession, item_id: int) -> bool:
    """Take the item for sending, in one conditional UPDATE: of two deliveries racing for it
    (two clicks, two replicas) exactly one gets it. Commit before sending."""
    now = utcnow()
    result = await session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.id == item_id,
            OutboxItem.status.in_(("pending", "sending")),
            OutboxItem.next_attempt_at <= now,
        )
        .values(status="sending", next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def sent(item: OutboxItem, result: dict[str, Any]) -> None:
    item.status, item.result, item.sent_at, item.last_error = "sent", result, utcnow(), None


def failed(item: OutboxItem, error: str, *, retry: bool = True) -> None:
    """A failed attempt: tried again later (backing off), or given up on after MAX_ATTEMPTS or when
    retrying cannot help (`retry` False)."""
    item.attempts += 1
    item.last_error = error[:2000]
    if not retry or item.attempts >= MAX_ATTEMPTS:
        item.status = "failed"
        return
    item.status = "pending"
    wait = BACKOFF_SECONDS[min(item.attempts - 1, len(BACKOFF_SECONDS) - 1)]
    item.next_attempt_at = utcnow() + timedelta(seconds=wait)


async def depth(session: AsyncSession) -> dict[str, int]:
    """How many effects are waiting (`pending`), being sent (`sending`) or gave up (`failed`)."""
    rows = await session.execute(
        select(OutboxItem.status, func.count())
        .where(OutboxItem.status.in_(("pending", "sending", "failed")))
        .group_by(OutboxItem.status)
    )
    found = {status: count for status, count in rows.tuples()}
    return {status: int(found.get(status, 0)) for status in ("pending", "sending", "failed")}
