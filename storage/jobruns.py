"""Job runs: each run of a job is a row, so `/finops status` and /healthz can say how it went."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.db import unit_of_work
from storage.models import JobRun
from storage.types import utcnow


def runner() -> str:
    """This process, as job runs name it: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


@asynccontextmanager
async def recorded(engine: AsyncEngine, job: str) -> AsyncIterator[dict[str, Any]]:
    """Record a run of `job`: `running` at the start, then `ok`, `failed` with the error, or
    `interrupted` (cancelled, e.g. by a shutdown).

    The block fills the yielded dict with details worth keeping (counts, dates).
    """
    async with unit_of_work(engine) as session:
        run = JobRun(job=job, status="running", details={}, runner=runner())
        session.add(run)
        await session.flush()
        run_id = run.id
    details: dict[str, Any] = {}
    status, error = "failed", None
    try:
        yield details
        status = "ok"
    except asyncio.CancelledError:
        status, error = "interrupted", "stopped before it finished"
        raise
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


async def interrupt_stale(session: AsyncSession, started_before: datetime) -> int:
    """Runs still `running` that began before `started_before` were cut off (their process
    died): mark them `interrupted`. How many."""
    result = await session.execute(
        update(JobRun)
        .where(JobRun.status == "running", JobRun.started_at < started_before)
        .values(status="interrupted", error="its process stopped before it finished", finished_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def last_ok(session: AsyncSession) -> dict[str, datetime]:
    """When each job last finished well."""
    rows = await session.execute(
        select(JobRun.job, func.max(JobRun.finished_at)).where(JobRun.status == "ok").group_by(JobRun.job)
    )
    return {job: when for job, when in rows.tuples() if when is not None}


async def add(
    engine: AsyncEngine,
    job: str,
    *,
    started_at: datetime,
    status: str = "ok",
    details: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record a run after the fact (frequent jobs keep only the runs that did something)."""
    async with unit_of_work(engine) as session:
        session.add(
            JobRun(
                job=job,
                status=status,
                started_at=started_at,
                finished_at=utcnow(),
                details=details or {},
                error=error[:2000] if error else None,
                runner=runner(),
            )
        )
