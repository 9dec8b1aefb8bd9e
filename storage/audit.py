"""The audit log: one row per state-changing action, written in the action's own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditLog


async def record(
    session: AsyncSession,
    *,
    actor: str,
    channel: str,
    action: str,
    subject_type: str,
    subject_id: str,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Add the row to `session`'s transaction: it commits, or rolls back, with the change itself."""
    row = AuditLog(
        actor=actor,
        channel=channel,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        details=details or {},
    )
    session.add(row)
    await session.flush()
    return row


async def entries(session: AsyncSession, subject_type: str, subject_id: str) -> list[AuditLog]:
    rows = await session.scalars(
        select(AuditLog)
        .where(AuditLog.subject_type == subject_type, AuditLog.subject_id == subject_id)
        .order_by(AuditLog.id)
    )
    return list(rows)
