"""The HTTP server of `run --http`: POST /slack/events, GET /healthz, GET /metrics on one port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.metrics import SLACK_ACK_SECONDS, SLACK_REQUESTS
from storage.db import check

log = structlog.get_logger(__name__)
HEALTH_TIMEOUT = 3.0  # seconds a dependency has to answer /healthz


def _kind(body: dict[str, Any]) -> str:
    if "command" in body:
        return "command"
    kind = str(body.get("type") or "unknown")
    return (
        kind
        if kind
        in (
            "block_actions",
            "view_submission",
            "view_closed",
            "event_callback",
            "url_verification",
            "shortcut",
            "block_suggestion",
        )
        else "other"
    )


Describe = Callable[[], dict[str, Any]]  # more for /healthz to show (the scheduler's jobs)


async def _health(
    engine: AsyncEngine, ready: dict[str, Any], describe: Describe | None = None
) -> tuple[int, dict[str, Any]]:
    checks: dict[str, str] = dict(ready)
    try:
        await asyncio.wait_for(check(engine), HEALTH_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:  # any failure is the answer, not an error of /healthz
        checks["database"] = f"failing: {str(exc) or type(exc).__name__}"[:300]
    failing = sorted(name for name, state in checks.items() if state != "ok")
    body: dict[str, Any] = {"status": "failing" if failing else "ok", "checks": checks}
    if failing:
        body["failing"] = failing
    if describe is not None:
        body.update(describe())
    return (503 if failing else 200), body


def _signed(request: web.Request) -> bool:
    stamp = request.headers.get("X-Slack-Request-Timestamp", "")
    return stamp.isdigit() and request.headers.get("X-Slack-Signature", "").startswith("v0=")


def make_web_app(
    bolt: AsyncApp | None, engine: AsyncEngine, ready: dict[str, Any], describe: Describe | None = None
) -> web.Application:
    """`bolt` None: health and metrics only (Socket Mode). `ready` holds the state of each
    dependency besides the database ("ok" or what is wrong); it may change while serving."""

    async def events(request: web.Request) -> web.Response:
        started = time.perf_counter()
        assert bolt is not None
        if not _signed(request):  # slack_sdk's verifier raises on these instead of refusing them
            SLACK_REQUESTS.labels("unsigned", "401").inc()
            return web.Response(status=401, text="invalid request")
        bolt_request = await to_bolt_request(request)
        bolt_response = await bolt.async_dispatch(bolt_request)
        kind = _kind(bolt_request.body)
        SLACK_ACK_SECONDS.labels(kind).observe(time.perf_counter() - started)
        SLACK_REQUESTS.labels(kind, str(bolt_response.status)).inc()
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        status, body = await _health(engine, ready, describe)
        return web.json_response(body, status=status)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    web_app = web.Application(client_max_size=1024 * 1024)
    if bolt is not None:
        web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    return web_app


async def start(web_app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `web_app`; returns the runner (to stop it) and the port (the one chosen, for 0)."""
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server: Any = site._server  # aiohttp does not expose the bound port otherwise
    bound = server.sockets[0].getsockname()[1] if server is not None and server.sockets else port
    log.info("listening", host=host, port=bound)
    return runner, int(bound)
