"""Buttons on budget answers: New budget, Edit (open the modal) and Show."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from commands.context import deps
from commands.replies import answering
from commands.slash.budget import show_budget
from commands.views.budget import open_budget_modal


def _clicked(body: dict[str, Any]) -> str:
    value: str = body["actions"][0].get("value") or ""
    return value


@answering
async def handle_budget_new(body: dict[str, Any], respond: Any, client: AsyncWebClient, context: Any) -> None:
    channel = (body.get("channel") or {}).get("id")
    await open_budget_modal(
        deps(context),
        client,
        trigger_id=body["trigger_id"],
        user=body["user"]["id"],
        channel=channel,
        name=None,
    )


@answering
async def handle_budget_edit(
    body: dict[str, Any], respond: Any, client: AsyncWebClient, context: Any
) -> None:
    channel = (body.get("channel") or {}).get("id")
    await open_budget_modal(
        deps(context),
        client,
        trigger_id=body["trigger_id"],
        user=body["user"]["id"],
        channel=channel,
        name=_clicked(body),
    )


@answering
async def handle_budget_show(
    body: dict[str, Any], respond: Any, client: AsyncWebClient, context: Any
) -> None:
    await show_budget(deps(context), client, respond, body["user"]["id"], _clicked(body))
