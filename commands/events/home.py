"""App Home: the tab shows your role, data freshness and open anomalies (published on open)."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands import queries
from commands.context import deps
from commands.messages import home_view


async def handle_app_home_opened(event: dict[str, Any], client: AsyncWebClient, context: Any) -> None:
    if event.get("tab", "home") != "home":
        return
    d = deps(context)
    user = event["user"]
    role = await d.roles.role_of(user)
    view = home_view(role, await queries.status(d.engine), d.now())
    await client.views_publish(user_id=user, view=view)  # idempotent: a retry publishes the same view
