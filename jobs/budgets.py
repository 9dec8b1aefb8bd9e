"""The budgets job: every budget evaluated against the stored spend, after each detection and
daily. Its counts are kept with the job run (`/finops status`); the digest lists the budgets at
risk."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from commands.queries import budget_list
from storage import jobruns


async def evaluate(engine: AsyncEngine, today: date) -> dict[str, int]:
    """How many budgets are on track, at risk and over, as of `today`."""
    async with jobruns.recorded(engine, "budgets") as details:
        answers = await budget_list(engine, today)
        states = Counter(answer.status.state for answer in answers)
        details.update(as_of=today.isoformat(), budgets=len(answers))
        details.update(states)
    return dict(states)
