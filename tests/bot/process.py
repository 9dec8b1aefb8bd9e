"""`finops-bot run` as its own process, the way it runs in production, for end-to-end tests; and
FOCUS export files like the ones a provider drops in a watched folder."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import aiohttp

from tests.bot.conftest import ADMIN
from tests.fakes.jira import FakeJira
from tests.fakes.slack import FakeSlack
from tests.slack_requests import BOT_TOKEN, SIGNING_SECRET, signature_headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_env(slack: FakeSlack, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a bot process: this one's, without any FINOPS_, SLACK_ or JIRA_ setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINOPS_", "SLACK_", "JIRA_"))}
    return env | {
        "FINOPS_DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "FINOPS_LOG_FORMAT": "json",
        **extra,
    }


@dataclass
class BotProcess:
    process: asyncio.subprocess.Process
    port: int
    log: Path  # its stderr: JSON log lines

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def health(self, timeout: float = 60.0) -> dict[str, Any]:  # noqa: ASYNC109
        """/healthz once the process answers it."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        found: dict[str, Any] = await response.json()
                        return found
                except aiohttp.ClientConnectionError:
                    if self.process.returncode is not None:
                        raise AssertionError(
                            f"the bot exited before it was ready:\n{self.output()}"
                        ) from None
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            f"the bot was not ready in {timeout} s:\n{self.output()}"
                        ) from None
                    await asyncio.sleep(0.1)

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics") as response:
            return await response.text()

    async def post(self, body: str) -> int:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signature_headers(body)}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/slack/events", data=body, headers=headers) as reply,
        ):
            return reply.status

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self, timeout: float = 60.0) -> int:  # noqa: ASYNC109
        """SIGTERM, and the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def kill(self) -> None:
        """kill -9: no chance to clean up."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


async def start_bot_process(env: dict[str, str], log: Path, port: int | None = None) -> BotProcess:
    port = port or free_port()
    handle: IO[bytes] = log.open("ab")
    try:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "run", "--http", str(port), "--host", "127.0.0.1"),
            env=env,
            stdout=handle,
            stderr=handle,
        )
    finally:
        handle.close()  # the child has its own copy
    return BotProcess(process, port, log)


ALERTS = "C0ALERTS"
POLL_SECONDS = 10  # the watched folder's poll in these tests (the default is a minute)


def config(tmp_path: Path, folder: Path, **schedules: Any) -> Path:
    """A FINOPS_CONFIG with one watched folder, Jira from severity low, and `schedules`."""
    every = {"outbox_seconds": 1, "leader_seconds": 2} | schedules
    lines = [
        f'alert_channel = "{ALERTS}"',
        "[roles]",
        f'admin = ["{ADMIN}"]',
        "[jira]",
        'min_severity = "low"',
        "[schedules]",
        *(f"{key} = {json.dumps(value)}" for key, value in every.items()),
        "[[schedules.sources]]",
        'name = "focus-drop"',
        f"location = {json.dumps(str(folder))}",
        f"every_minutes = {POLL_SECONDS / 60}",
        "settle_seconds = 1",
    ]
    path = tmp_path / "finops.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def jira_env(jira: FakeJira) -> dict[str, str]:
    return {"JIRA_URL": jira.url, "JIRA_USER": jira.user, "JIRA_API_TOKEN": jira.token, "JIRA_PROJECT": "FIN"}


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def drop(
    folder: Path, name: str, spike: dict[str, float] | None, days: int = 70, accounts: int = 1
) -> tuple[float, dict[date, Decimal]]:
    """Write an export beside the folder and move it in, as a sync tool does: when it landed, and
    its billed cost per billing period."""
    written = folder.parent / f".{name}.part"
    totals = write_focus(written, focus_rows(yesterday(), days, spike, accounts))
    os.replace(written, folder / name)
    return time.perf_counter(), totals


def anomaly_roots(slack: FakeSlack) -> list[dict[str, Any]]:
    return [
        call.args
        for call in slack.calls_to("chat.postMessage")
        if "thread_ts" not in call.args and "anomaly_ack" in buttons(call.args)
    ]


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        e["action_id"]: e.get("value", "")
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    }


def message_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", [])) + message.get("text", "")


async def wait_until(what: Any, timeout: float, message: str) -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not (found := what()):
        if time.monotonic() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.2)
    return found


async def wait_until_async(what: Callable[[], Awaitable[Any]], timeout: float, message: str) -> Any:  # noqa: ASYNC109
    """`wait_until` for a check that has to await (e.g. read the database)."""
    deadline = time.monotonic() + timeout
    while not (found := await what()):
        if time.monotonic() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.05)
    return found


FOCUS_HEADER = (
    "BillingAccountId,SubAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ChargePeriodEnd,"
    "ProviderName,ServiceName,BilledCost\n"
)
SERVICES = {"Amazon EC2": 1000, "Amazon S3": 300, "Amazon RDS": 500}  # usual cost a day


def usual_cost(service: str, day: date) -> Decimal:
    """A weekly rhythm (weekdays busier) with a little day-to-day wobble."""
    base = SERVICES[service]
    return Decimal(base + (base // 12 if day.weekday() < 5 else -base // 8) + (day.day % 3) * 7)


def focus_rows(
    last: date, days: int, spike: dict[str, float] | None = None, accounts: int = 1
) -> Iterator[tuple[date, Decimal, str]]:
    """Daily FOCUS rows for SERVICES over `days` days up to `last`, each day's cost split over
    `accounts` sub-accounts; `spike` raises services' cost on `last` by a fraction, e.g.
    {"Amazon EC2": 0.25}. Yields (billing period, cost, CSV line)."""
    for n in range(days - 1, -1, -1):
        day = last - timedelta(days=n)
        period = day.replace(day=1)
        for service in SERVICES:
            rise = Decimal(str((spike or {}).get(service, 0))) if day == last else Decimal(0)
            cost = (usual_cost(service, day) * (1 + rise) / accounts).quantize(Decimal("0.01"))
            for account in range(accounts):
                yield (
                    period,
                    cost,
                    f"111111111111,{222222220000 + account},USD,{period}T00:00:00Z,{day}T00:00:00Z,"
                    f"{day + timedelta(days=1)}T00:00:00Z,AWS,{service},{cost}\n",
                )


def write_focus(path: Path, rows: Iterable[tuple[date, Decimal, str]]) -> dict[date, Decimal]:
    """Write the rows as a FOCUS CSV; the billed cost per billing period, as written."""
    totals: dict[date, Decimal] = {}
    with path.open("w") as handle:
        handle.write(FOCUS_HEADER)
        for period, cost, line in rows:
            handle.write(line)
            totals[period] = totals.get(period, Decimal(0)) + cost
    return totals
