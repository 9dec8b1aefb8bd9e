"""What Slack handlers need from the running app, put in each request's Bolt context by the
app's middleware: the database, the settings, the role resolver and the clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from commands.roles import RoleResolver
from jobs.outbox import Delivered, OnFailure, Sender, deliver


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    engine: AsyncEngine
    settings: Settings
    roles: RoleResolver
    senders: Mapping[str, Sender] = field(default_factory=dict)  # the outbox's, by kind
    on_failure: OnFailure | None = None
    now: Callable[[], datetime] = field(default=_now)

    def today(self) -> date:
        return self.now().date()

    async def deliver(self) -> Delivered:
        """Send what the outbox has due (the effects a click just enqueued, among others)."""
        return await deliver(self.engine, self.senders, self.on_failure)

    def __deepcopy__(self, memo: dict[int, Any]) -> Deps:
        # Bolt deep-copies the context for lazy listeners; these are shared services, not copied.
        return self


KEY = "finops"


def deps(context: Any) -> Deps:
    found: Deps = context[KEY]
    return found
