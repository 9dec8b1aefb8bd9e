"""Leader election: which replica runs the scheduled jobs.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own: when
its process dies, or its connection does, PostgreSQL releases the lock and the next replica to
try (every few seconds) takes over. On SQLite there is one replica, which always leads.

Jobs stay safe if two replicas briefly both think they lead (a leader cut off from the
database learns it at its next check): ingestion replaces whole periods in one transaction and
every outbound effect is claimed in the outbox before it is sent.
"""

from __future__ import annotations

import contextlib

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

LOCK_KEY = 0x666F6C6561646572  # "foleader"; not storage.partitions._LOCK_KEY (its DDL lock)


class Leadership:
    def __init__(self, engine: AsyncEngine, key: int = LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self.leading = False
        self._connection: AsyncConnection | None = None

    @property
    def shared(self) -> bool:
        """Whether replicas can share the database (PostgreSQL) and so must elect a leader."""
        return self.engine.dialect.name == "postgresql"

    async def check(self) -> bool:
        """Take the lead if it is free, or make sure it is still held; whether this replica leads."""
        if not self.shared:
            self.leading = True
            return True
        try:
            if self._connection is None:
                self._connection = await self.engine.connect()
            statement = "SELECT 1" if self.leading else "SELECT pg_try_advisory_lock(:key)"
            held = bool(await self._connection.scalar(text(statement), {"key": self.key}))
            await self._connection.commit()  # never sit idle in a transaction
        except Exception as exc:  # the connection is gone, and the lock with it
            if self.leading:
                log.warning("lost the lead: the database connection failed", error=str(exc))
            await self._drop()
            held = False
        if held and not self.leading:
            log.info("leading: this replica runs the scheduled jobs")
        elif self.leading and not held:
            log.warning("no longer leading")
        self.leading = held
        if not held and self._connection is not None:
            await self._drop()  # a standby keeps no connection out of the pool between tries
        return held

    async def release(self) -> None:
        """Hand the lead back (on shutdown), so another replica takes over at once."""
        if self._connection is not None and self.leading:
            try:
                await self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                await self._connection.commit()
            except Exception as exc:
                log.warning("could not release the lead; it goes with the connection", error=str(exc))
        await self._drop()
        self.leading = False

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.close()
        except Exception:  # already broken: make sure the pool does not hand it out again
            with contextlib.suppress(Exception):
                await connection.invalidate()
