"""Job runs: each run of a job is a row, so `/finops status` and /healthz can say how it went."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.db import unit_of_work
from storage.models import JobRun
from storage.types import utcnow


@asynccontextmanager
async def recorded(engine: AsyncEngine, job: str) -> AsyncIterator[dict[str, Any]]:
    """Record a run of `job`: `running` at the start, then `ok` or `failed` with the error.

    The block fills the yielded dict with details worth keeping (counts, dates).
    """
    async with unit_of_work(engine) as session:
        run = JobRun(job=job, status="running", details={})
        session.add(run)
        await session.flush()
        run_id = run.id
    details: dict[str, Any] = {}
    status, error = "failed", None
    try:
        yield details
        status = "ok"
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        async with unit_of_work(engine) as session:
            done = await session.get(JobRun, run_id)
            if done is not None:
                done.status, done.error, done.finished_at = status, error, utcnow()
                done.details = details


async def latest(session: AsyncSession) -> list[JobRun]:
    """The latest run of each job."""
    newest = select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
    rows = await session.scalars(select(JobRun).join(newest, JobRun.id == newest.c.id).order_by(JobRun.job))
    return list(rows)
