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
        async with unit_of_work(engine) as session:
            item = await session.get(OutboxItem, item_id)
            if item is None:
                continue
            try:
                async with session.begin_nested():
                    result = await senders[item.kind](session, dict(item.payload))
                outbox.sent(item, result)
                done.sent.append(item.idempotency_key)
            except Permanent as exc:
                outbox.failed(item, str(exc), retry=False)
                done.failed.append(item.idempotency_key)
                log.error("outbox effect failed for good", key=item.idempotency_key, error=str(exc))
            except Exception as exc:
                outbox.failed(item, f"{type(exc).__name__}: {exc}")
                (done.failed if item.status == "failed" else done.retrying).append(item.idempotency_key)
                log.warning(
                    "outbox effect failed; will retry",
                    key=item.idempotency_key,
                    error=str(exc),
                    attempts=item.attempts,
                )
            else:
                continue
            if on_failure is not None:
                await on_failure(session, item)
    return done
