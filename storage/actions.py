"""Remediation plans waiting for a decision: approve or reject, once."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Action
from storage.types import utcnow


async def decide(
    session: AsyncSession, action_id: int, status: str, by: str, reason: str | None = None
) -> bool:
    """`planned` -> `approved` or `rejected` in one conditional UPDATE (a double click decides
    once); never by the requester when approving. Whether it changed."""
    if status not in ("approved", "rejected"):
        raise ValueError(f"unknown decision {status!r}")
    conditions = [Action.id == action_id, Action.status == "planned"]
    if status == "approved":
        conditions.append(Action.requested_by != by)
    result = await session.execute(
        update(Action)
        .where(*conditions)
        .values(status=status, decided_by=by, decision_reason=reason, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    changed = bool(getattr(result, "rowcount", 0) == 1)
    if changed:
        session.expire_all()
    return changed
