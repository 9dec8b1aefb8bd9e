"""Monthly partitions of `cost_daily` on PostgreSQL, created on demand before a load.

SQLite has no partitions: there `ensure_partitions` does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

PARENT = "cost_daily"
PARTITION_NAME = re.compile(r"^cost_daily_p\d{6}$")
_LOCK_KEY = 0x66696E6F7073  # a fixed advisory-lock key for partition DDL ("finops")


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_p{month.year:04d}{month.month:02d}"


def is_partition(table_name: str) -> bool:
    return bool(PARTITION_NAME.match(table_name))


async def ensure_partitions(db: AsyncSession | AsyncConnection, days: Iterable[date]) -> list[str]:
    """Create the missing monthly partitions covering `days`; returns the names created.

    Runs inside the caller's transaction; a transaction-scoped advisory lock serialises
    concurrent loaders so two of them never race to create the same partition.
    """
    bind = db.get_bind() if isinstance(db, AsyncSession) else db
    if bind.dialect.name != "postgresql":
        return []
    months = sorted({month_start(day) for day in days})
    if not months:
        return []
    await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    existing = set(
        (
            await db.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i "
                    "JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent "
                    "WHERE p.relname = :parent"
                ),
                {"parent": PARENT},
            )
        ).scalars()
    )
    created = []
    for month in months:
        name = partition_name(month)
        if name in existing:
            continue
        # Identifiers cannot be bound parameters; `name` and the bounds come from dates only.
        await db.execute(
            text(
                f'CREATE TABLE "{name}" PARTITION OF {PARENT} '
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
            )
        )
        created.append(name)
    return created
