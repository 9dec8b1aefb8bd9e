"""The Bolt app: the Slack Web API client (with retries), the app, its middleware and surfaces."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import apology
from bot.metrics import HANDLER_ERRORS
from bot.outbound import outbound
from bot.settings import ConfigError, Settings
from commands import slack
from commands.context import KEY, Deps
from commands.messages import error_message
from commands.roles import RoleResolver

log = structlog.get_logger(__name__)
SLACK_API_URL = "https://slack.com/api/"


def web_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: `SLACK_API_URL` if set; 429s (after Retry-After), 5xx answers and
    dropped connections are retried."""
    base = (settings.slack_api_url or SLACK_API_URL).rstrip("/") + "/"
    return AsyncWebClient(
        token=settings.secret("slack_bot_token"),
        base_url=base,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


async def check_token(client: AsyncWebClient) -> dict[str, Any]:
    """`auth.test`: who the bot is; `ConfigError` when Slack refuses the token."""
    from slack_sdk.errors import SlackApiError

    try:
        reply = await client.auth_test()
    except SlackApiError as exc:
        raise ConfigError(
            f"Slack refused SLACK_BOT_TOKEN ({exc.response.get('error')}); "
            "copy the Bot User OAuth Token from your Slack app's OAuth & Permissions page"
        ) from None
    return dict(reply.data) if isinstance(reply.data, dict) else {}


async def _members(client: AsyncWebClient, group: str) -> list[str]:
    reply = await client.usergroups_users_list(usergroup=group)
    return list(reply.get("users") or [])


def create_app(settings: Settings, engine: AsyncEngine, client: AsyncWebClient) -> AsyncApp:
    """The app with every surface registered. The token was checked at start-up (`check_token`)."""
    app = AsyncApp(
        client=client,
        signing_secret=settings.secret("slack_signing_secret") if settings.slack_signing_secret else None,
        # A 401 for a bad signature, and no request handled before it is verified.
        request_verification_enabled=settings.slack_signing_secret is not None,
    )
    roles = RoleResolver(settings.roles, lambda g: _members(client, g))
    senders, on_failure = outbound(settings, client)
    deps = Deps(engine, settings, roles, senders, on_failure)

    async def inject(context: Any, next: Any) -> None:
        context[KEY] = deps
        await next()

    app.middleware(inject)

    async def on_error(error: Exception, body: dict[str, Any], respond: Any) -> None:
        HANDLER_ERRORS.inc()
        message = apology(error)
        if body.get("response_url"):
            await respond(**error_message(message))

    app.error(on_error)
    slack.register(app)
    return app
