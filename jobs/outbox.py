"""Delivering the outbox: each due effect is sent by the sender for its kind, once.

A sender gets the database session of the delivery (to record what it did, e.g. a message's
ts, in the same transaction that marks the effect sent) and the effect's payload. It raises
`Permanent` when retrying cannot help (Slack refused the message as invalid); anything else is
tried again later, backing off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage import outbox
from storage.db import unit_of_work
from storage.models import OutboxItem

log = structlog.get_logger(__name__)

Sender = Callable[[AsyncSession, dict[str, Any]], Awaitable[dict[str, Any]]]
# Told of each failed attempt (after it is recorded on the item), in the same transaction.
OnFailure = Callable[[AsyncSession, OutboxItem], Awaitable[None]]


class Permanent(Exception):
    """Sending failed in a way retrying will not fix."""


@dataclass
class Delivered:
    sent: list[str] = field(default_factory=list)  # idempotency keys
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


async def deliver(
    engine: AsyncEngine, senders: Mapping[str, Sender], on_failure: OnFailure | None = None
) -> Delivered:
    """Send every due effect of the kinds in `senders`, oldest first."""
    done = Delivered()
    async with unit_of_work(engine) as session:
        ids = [item.id for item in await outbox.due(session, set(senders))]
    for item_id in ids:
        async with unit_of_work(engine) as session:
            if not await outbox.claim(session, item_id):
                continue  # another delivery (a click, a replica) has it
        try:
            # The sender's writes and the `sent` mark are one transaction, with no savepoint: on
            # SQLite a savepoint would open it before the sender reads, and a write after another
            # connection's commit would then fail ("database is locked") after Slack had the message.
            async with unit_of_work(engine) as session:
                item = await session.get(OutboxItem, item_id)
                if item is None:
                    continue
                key = item.idempotency_key
                result = await senders[item.kind](session, dict(item.payload))
                outbox.sent(item, result)
            done.sent.append(key)
        except Exception as exc:
            await _failed(engine, item_id, exc, done, on_failure)
    return done


async def _failed(
    engine: AsyncEngine, item_id: int, exc: Exception, done: Delivered, on_failure: OnFailure | None
) -> None:
    """Record a failed attempt (the sender's own writes were rolled back)."""
    async with unit_of_work(engine) as session:
        item = await session.get(OutboxItem, item_id)
        if item is None:
            return
        key = item.idempotency_key
        if isinstance(exc, Permanent):
            outbox.failed(item, str(exc), retry=False)
            done.failed.append(key)
            log.error("outbox effect failed for good", key=key, error=str(exc))
        else:
            outbox.failed(item, f"{type(exc).__name__}: {exc}")
            (done.failed if item.status == "failed" else done.retrying).append(key)
            log.warning("outbox effect failed; will retry", key=key, error=str(exc), attempts=item.attempts)
        if on_failure is not None:
            await on_failure(session, item)
