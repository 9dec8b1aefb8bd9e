"""Answering after the ack: errors become messages, charts become uploaded files.

`answering` wraps a lazy listener: a `UserError` is shown to the person as it is, anything else
is logged with a reference id and answered with a short apology (bot.errors). Either way the
person hears back and never sees a stack trace.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import apology
from bot.metrics import HANDLER_ERRORS
from commands.messages import error_message
from finops.errors import UserError

log = structlog.get_logger(__name__)

Handler = Callable[..., Awaitable[None]]


def answering(handler: Handler) -> Handler:
    """Run `handler` (which takes `respond`); answer its errors through `respond`."""

    @functools.wraps(handler)
    async def run(**kwargs: Any) -> None:
        respond = kwargs["respond"]
        try:
            await handler(**kwargs)
        except UserError as problem:
            await respond(**error_message(str(problem)))
        except Exception as exc:
            HANDLER_ERRORS.inc()
            await respond(**error_message(apology(exc)))

    return run


async def upload_chart(client: AsyncWebClient, render: Callable[[], bytes], name: str) -> str | None:
    """Render a chart off the event loop and upload it privately (files upload v2); its file id
    for an image block, or None when it cannot be (the answer then goes without its chart)."""
    try:
        png = await asyncio.to_thread(render)
        done = await client.files_upload_v2(content=png, filename=f"{name}.png", title=name)
    except (SlackApiError, OSError, ValueError) as exc:
        log.warning("chart upload failed; answering without it", chart=name, error=str(exc))
        return None
    files = done.get("files") or [done.get("file") or {}]
    file_id: str | None = files[0].get("id") if files else None
    return file_id


async def tell_clicker(respond: Any, note: str | None) -> None:
    """An ephemeral note to whoever clicked, leaving the message they clicked on as it is."""
    if note:
        await respond(text=note, response_type="ephemeral", replace_original=False)


async def acknowledge(ack: Any) -> None:
    """The ack of every slash command and button: at once, with nothing; the answer follows."""
    await ack()


async def send(respond: Any, message: dict[str, Any]) -> None:
    """Answer through the response URL; if Slack refuses the message with its chart (an image not
    yet processed), send it again without the image blocks."""
    sent = await respond(**message)
    if getattr(sent, "status_code", 200) >= 400 and any(b["type"] == "image" for b in message["blocks"]):
        log.warning("answer refused with its chart; sending it without", status=sent.status_code)
        plain = {**message, "blocks": [b for b in message["blocks"] if b["type"] != "image"]}
        await respond(**plain)
