"""The running app for end-to-end tests: the real Bolt app and HTTP server on 127.0.0.1, a real
database with the sample organisation in it, and the fake Slack Web API the real client talks to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import create_app, web_client
from bot.server import make_web_app, start
from bot.settings import Roles, load_settings
from jobs.demo import run_demo
from tests.fakes.slack import FakeSlack
from tests.slack_requests import BOT_TOKEN, SIGNING_SECRET, signature_headers

ADMIN, ENGINEER, VIEWER = "U0ADMIN", "U0ENG", "U0VIEW"
ENGINEERS_GROUP = "S0ENG"


@dataclass
class Reply:
    status: int
    text: str
    seconds: float


@dataclass
class RunningBot:
    url: str
    slack: FakeSlack
    engine: AsyncEngine
    http: aiohttp.ClientSession

    async def post(
        self, body: str, *, json_body: bool = False, headers: dict[str, str] | None = None
    ) -> Reply:
        sent = {
            "Content-Type": "application/json" if json_body else "application/x-www-form-urlencoded",
            **signature_headers(body, SIGNING_SECRET),
            **(headers or {}),
        }
        started = time.perf_counter()
        async with self.http.post(f"{self.url}/slack/events", data=body.encode(), headers=sent) as response:
            text = await response.text()
        return Reply(response.status, text, time.perf_counter() - started)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(f"{self.url}{path}") as response:
            return response.status, await response.text()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as fake:
        fake.usergroups[ENGINEERS_GROUP] = [ENGINEER]
        yield fake


@pytest.fixture
async def sample(engine: AsyncEngine) -> AsyncEngine:
    """The engine with the sample organisation's last two months, up to yesterday."""
    await run_demo(engine, seed=7, end=datetime.now(UTC).date() - timedelta(days=1), months=2)
    return engine


async def start_bot(
    slack: FakeSlack, engine: AsyncEngine, roles: Roles | None = None, **overrides: Any
) -> tuple[Any, str]:
    settings = load_settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        roles=roles or Roles(admin=[ADMIN], engineer=[ENGINEERS_GROUP], default="viewer"),
        **overrides,
    )
    bolt = create_app(settings, engine, web_client(settings))
    runner, port = await start(make_web_app(bolt, engine, {"slack": "ok"}), "127.0.0.1", 0)
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def bot(
    clean_env: pytest.MonkeyPatch, slack: FakeSlack, sample: AsyncEngine
) -> AsyncIterator[RunningBot]:
    before = asyncio.all_tasks()
    runner, url = await start_bot(slack, sample)
    session = aiohttp.ClientSession()
    try:
        yield RunningBot(url, slack, sample, session)
    finally:
        await session.close()
        await runner.cleanup()
        await settle(before)


async def settle(before: set[asyncio.Task[Any]]) -> None:
    """Let the answers a test started (Bolt's lazy listeners) finish, so that they do not run on
    into the next test on the shared event loop."""
    started = asyncio.all_tasks() - before - {asyncio.current_task()}
    if started:
        await asyncio.wait(started, timeout=15)


__all__ = ["ADMIN", "ENGINEER", "VIEWER", "Reply", "RunningBot", "web"]
