"""The one Jira issue of an anomaly fingerprint."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import JiraLink


async def find(session: AsyncSession, fingerprint: str) -> JiraLink | None:
    link: JiraLink | None = await session.scalar(select(JiraLink).where(JiraLink.fingerprint == fingerprint))
    return link


async def all_links(session: AsyncSession) -> list[JiraLink]:
    return list(await session.scalars(select(JiraLink).order_by(JiraLink.id)))
