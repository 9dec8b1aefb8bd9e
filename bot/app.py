"""The Bolt app: the Slack Web API client (with retries), the app, its middleware and surfaces."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.errors import apology
from bot.log import bound, new_id
from bot.metrics import HANDLER_ERRORS, SLACK_CALL_ERRORS, SLACK_CALL_RETRIES, SLACK_CALL_SECONDS
from bot.outbound import outbound
from bot.settings import ConfigError, Settings
from commands import slack
from commands.context import KEY, Deps
from commands.messages import error_message
from commands.roles import RoleResolver

log = structlog.get_logger(__name__)
SLACK_API_URL = "https://slack.com/api/"


UPLOAD = "upload_url"  # the label of files_upload_v2's second step: the bytes posted to the upload URL
_calling: ContextVar[str] = ContextVar("slack_method", default="unknown")  # for the retry handlers


def _failure(response: Any, error: BaseException | None = None) -> str:
    """A failure's label: Slack's `error`, else `http_<status>`, else the exception's type."""
    body = getattr(response, "data", None) or getattr(response, "body", None)
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    if status is not None:
        return f"http_{status}"
    return type(error).__name__


@contextmanager
def _measured(method: str) -> Iterator[None]:
    """Time the block into SLACK_CALL_SECONDS; count it in SLACK_CALL_ERRORS if it raises."""
    token, started = _calling.set(method), time.perf_counter()
    try:
        yield
    except Exception as exc:
        SLACK_CALL_ERRORS.labels(method, _failure(getattr(exc, "response", None), exc)).inc()
        raise
    finally:
        SLACK_CALL_SECONDS.labels(method).observe(time.perf_counter() - started)
        _calling.reset(token)


class MeasuredWebClient(AsyncWebClient):
    """An AsyncWebClient whose calls are measured: one latency sample per call (its retries and
    their waits included, as the caller waits for them) and one error when it fails in the end."""

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        with _measured(api_method):
            return await super().api_call(api_method, **kwargs)

    async def _upload_file(self, **kwargs: Any) -> Any:
        with _measured(UPLOAD):
            result = await super()._upload_file(**kwargs)
        if result.status != 200:  # files_upload_v2 raises on it afterwards
            SLACK_CALL_ERRORS.labels(UPLOAD, f"http_{result.status}").inc()
        return result


class CountedRetries(AsyncRetryHandler):
    """`handler`, counting every retry it grants in SLACK_CALL_RETRIES (by method and reason)."""

    def __init__(self, handler: AsyncRetryHandler) -> None:
        super().__init__(handler.max_retry_count, handler.interval_calculator)
        self.handler = handler

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        retry = await self.handler.can_retry_async(
            state=state, request=request, response=response, error=error
        )
        if retry:
            SLACK_CALL_RETRIES.labels(_calling.get(), _failure(response, error)).inc()
        return retry

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        await self.handler.prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


def web_client(settings: Settings) -> MeasuredWebClient:
    """The Web API client: `SLACK_API_URL` if set; 429s (after Retry-After), 5xx answers and
    dropped connections are retried; every call is measured (`MeasuredWebClient`)."""
    base = (settings.slack_api_url or SLACK_API_URL).rstrip("/") + "/"
    handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]
    return MeasuredWebClient(
        token=settings.secret("slack_bot_token"),
        base_url=base,
        timeout=10,
        retry_handlers=[CountedRetries(h) for h in handlers],
    )


def measured(client: AsyncWebClient) -> MeasuredWebClient:
    """`client` as a MeasuredWebClient. Bolt builds a plain client for each request (from the
    app's one); handlers get this twin instead."""
    if isinstance(client, MeasuredWebClient):
        return client
    return MeasuredWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        session=client.session,
        trust_env_in_session=client.trust_env_in_session,
        headers=client.headers,
        team_id=client.default_params.get("team_id"),
        logger=client.logger,
        retry_handlers=client.retry_handlers,
    )


class App(AsyncApp):
    """The Bolt app, each request dispatched with a fresh `request_id` bound for its log lines.

    Binding around the whole dispatch (not in a middleware: Bolt's `next()` returns before the
    listeners run) covers the checks, the listeners and the lazy listeners, which are tasks
    started during the dispatch and so inherit the id; it is unbound when the dispatch returns.
    """

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        retry = next(iter(req.headers.get("x-slack-retry-num") or ()), None)
        ids = {"request_id": new_id()} | ({"slack_retry": retry} if retry else {})
        with bound(**ids):
            return await super().async_dispatch(req)


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
    app = App(
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
        context["client"] = measured(context.client)
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
