"""jira-sync: what happened to the linked Jira issues comes back to Slack.

Reads the linked issues in batches (one JQL query per 50 keys); an issue resolved in Jira
resolves its anomaly and says so in the thread; one reopened in Jira is said too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from commands import alerts
from storage import anomalies, audit, jira_links
from storage.db import unit_of_work
from storage.types import utcnow

BATCH = 50
ACTOR = "jira"

Search = Callable[[str], Awaitable[list[Any]]]  # JQL -> issues with status and resolution


@dataclass
class Synced:
    resolved: list[str] = field(default_factory=list)  # issue keys
    reopened: list[str] = field(default_factory=list)


async def sync(engine: AsyncEngine, search: Search) -> Synced:
    done = Synced()
    async with unit_of_work(engine) as session:
        links = {link.issue_key: link.fingerprint for link in await jira_links.all_links(session)}
    keys = sorted(links)
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        issues = await search(f"key in ({', '.join(batch)})")
        async with unit_of_work(engine) as session:
            for issue in issues:
                fingerprint = links.get(issue.key)
                link = await jira_links.find(session, fingerprint) if fingerprint else None
                if link is None:
                    continue
                category = str(issue.fields.status.statusCategory.key)
                link.synced_at = utcnow()
                if category == "done" and link.status != "done":
                    await _resolved(session, link.fingerprint, issue)
                    done.resolved.append(issue.key)
                elif category != "done" and link.status == "done":
                    text = f"{issue.key} was reopened in Jira."
                    await alerts.tell(
                        session, link.fingerprint, f"jira-reopened:{issue.key}:{utcnow():%s}", text
                    )
                    done.reopened.append(issue.key)
                link.status = category
    return done


async def _resolved(session: Any, fingerprint: str, issue: Any) -> None:
    resolution = getattr(getattr(issue.fields, "resolution", None), "name", None) or "resolved"
    moved = await anomalies.transition(
        session,
        fingerprint,
        "resolved",
        ACTOR,
        allowed_from=("open", "acknowledged", "snoozed"),
        reason=f"{issue.key} {resolution} in Jira",
    )
    if moved:
        await audit.record(
            session,
            actor=ACTOR,
            channel="jira",
            action="anomaly.resolved",
            subject_type="anomaly",
            subject_id=fingerprint,
            details={"issue": issue.key},
        )
    text = f"{issue.key} was resolved in Jira ({resolution})." + (
        " The anomaly is resolved." if moved else ""
    )
    await alerts.tell(session, fingerprint, f"jira-resolved:{issue.key}:{utcnow():%s}", text)
