"""Approval requests (remediation plans, budget increases) and the steps of remediation plans.

Every state change is one conditional UPDATE, so a double click, a Slack retry or a second
replica changes a request once: decide (`proposed` -> `approved` | `rejected`), expire, claim an
approved plan for execution (or resume one whose executor died), and mark each step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Action, ActionStep
from storage.types import utcnow

OPEN = "proposed"
FINISHED = ("done", "partial", "failed")


async def _changed(session: AsyncSession, statement: Any) -> bool:
    result = await session.execute(statement.execution_options(synchronize_session=False))
    changed = bool(getattr(result, "rowcount", 0) == 1)
    if changed:
        session.expire_all()
    return changed


async def decide(
    session: AsyncSession,
    action_id: int,
    status: str,
    by: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> bool:
    """`proposed` -> `approved` or `rejected` in one conditional UPDATE (a double click decides
    once); never by the requester when approving, never after the request expired. Whether it changed."""
    if status not in ("approved", "rejected"):
        raise ValueError(f"unknown decision {status!r}")
    now = now or utcnow()
    conditions = [
        Action.id == action_id,
        Action.status == OPEN,
        or_(Action.expires_at.is_(None), Action.expires_at > now),
    ]
    if status == "approved":
        conditions.append(Action.requested_by != by)
    return await _changed(
        session,
        update(Action)
        .where(*conditions)
        .values(status=status, decided_by=by, decision_reason=reason, decided_at=now),
    )


async def open_plans(session: AsyncSession, playbook: str) -> list[Action]:
    rows = await session.scalars(
        select(Action).where(Action.playbook == playbook, Action.status == OPEN).order_by(Action.id)
    )
    return list(rows)


async def close(session: AsyncSession, action_id: int, status: str, reason: str, was: str = OPEN) -> bool:
    """A request that can no longer be approved or run (`expired`, `superseded`); whether it was `was`."""
    return await _changed(
        session,
        update(Action)
        .where(Action.id == action_id, Action.status == was)
        .values(status=status, decision_reason=reason, decided_at=utcnow()),
    )


async def expired(session: AsyncSession, now: datetime) -> list[int]:
    """The open proposals whose time is up."""
    rows = await session.scalars(
        select(Action.id).where(
            Action.status == OPEN, Action.expires_at.is_not(None), Action.expires_at <= now
        )
    )
    return list(rows)


async def runnable(session: AsyncSession, now: datetime, playbooks: Sequence[str]) -> list[int]:
    """Approved plans not yet started, and executions whose lease ran out (their executor died)."""
    rows = await session.scalars(
        select(Action.id)
        .where(
            Action.playbook.in_(sorted(playbooks)),
            or_(Action.status == "approved", (Action.status == "executing") & (Action.lease_until <= now)),
        )
        .order_by(Action.id)
    )
    return list(rows)


async def claim(session: AsyncSession, action_id: int, now: datetime, lease: timedelta) -> bool:
    """Take an approved plan for execution, or an execution whose lease ran out, in one conditional
    UPDATE: of two executors (a double click, a retry, two replicas) exactly one gets it."""
    return await _changed(
        session,
        update(Action)
        .where(
            Action.id == action_id,
            or_(Action.status == "approved", (Action.status == "executing") & (Action.lease_until <= now)),
        )
        .values(status="executing", lease_until=now + lease),
    )


async def renew(session: AsyncSession, action_id: int, until: datetime) -> None:
    await session.execute(
        update(Action)
        .where(Action.id == action_id, Action.status == "executing")
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )


async def steps(session: AsyncSession, action_id: int) -> list[ActionStep]:
    rows = await session.scalars(
        select(ActionStep).where(ActionStep.action_id == action_id).order_by(ActionStep.seq)
    )
    return list(rows)
