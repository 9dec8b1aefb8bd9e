"""`finops-bot run [--http PORT | --socket]`: the Bolt app on HTTP or Socket Mode, and the
scheduler (`jobs.schedule`) in the same event loop.

Start-up order: settings, database (checked and migrated), the bot token (`auth.test` against
`SLACK_API_URL`), the scheduler (after trying for the lead), the app; only then does /healthz
answer, so scripts can wait on it. SIGTERM or SIGINT stops it gracefully: /healthz turns 503,
running jobs get `schedules.shutdown_seconds` to finish, Slack answers in progress finish, the
outbox is flushed and the lead handed back.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC
from typing import Annotated

import structlog
import typer
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import log as logging_setup
from bot.app import check_token, create_app, web_client
from bot.jira_client import checks, searcher
from bot.outbound import outbound
from bot.server import make_web_app, start
from bot.settings import Settings, load_settings
from commands import budgetspec
from jobs import schedule
from jobs.schedule import Jobs
from storage.db import check, connect, describe
from storage.leader import Leadership
from storage.migrate import upgrade

log = structlog.get_logger(__name__)
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a server in a container listens on every interface


async def _sync_budgets(engine: AsyncEngine, settings: Settings) -> None:
    """The config's budgets in the store before the first answer (the budgets job keeps them in
    step afterwards); a replica starting at the same moment may win the race, which is fine."""
    try:
        changed = await budgetspec.sync(engine, settings)
    except IntegrityError as exc:
        log.warning("config budgets not synced at start; the budgets job will", error=str(exc.orig))
        return
    if any(changed.values()):
        log.info("config budgets synced", **{k: v for k, v in changed.items() if v})


async def serve(settings: Settings, http: int | None, socket: bool, host: str) -> None:
    engine = connect(settings.database_url)
    runner = handler = None
    ready: dict[str, str] = {"slack": "starting", "scheduler": "starting"}
    jobs: Jobs | None = None
    try:
        await check(engine)
        await upgrade(engine)
        await _sync_budgets(engine, settings)
        client = web_client(settings)
        me = await check_token(client)
        ready["slack"] = "ok"
        log.info("slack token ok", team=me.get("team"), bot_user=me.get("user_id"), api=client.base_url)
        if settings.jira_url:
            await check_jira(settings)
        senders, on_failure = outbound(settings, client)
        jobs = Jobs(
            engine,
            settings,
            senders,
            on_failure,
            jira_search=searcher(settings) if settings.jira_url else None,
            leadership=Leadership(engine),
        )
        await schedule.start(jobs, AsyncIOScheduler(timezone=UTC))
        ready["scheduler"] = "ok"
        bolt = create_app(settings, engine, client)
        if socket:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            handler = AsyncSocketModeHandler(bolt, settings.secret("slack_app_token"))
            await handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("socket mode connected")
        if http is not None:
            web_app = make_web_app(None if socket else bolt, engine, ready, jobs.describe)
            runner, _ = await start(web_app, host, http)
        log.info(
            "ready",
            database=describe(engine.url),
            http=http,
            socket=socket,
            leader=jobs.leading,
            sources=len(settings.schedules.sources),
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping")
        ready["scheduler"] = "stopping"  # /healthz 503: a load balancer stops sending requests
    finally:
        if jobs is not None:
            await schedule.stop(jobs, settings.schedules.shutdown_seconds)
        if handler is not None:
            await handler.close_async()  # type: ignore[no-untyped-call]
        if runner is not None:
            await runner.cleanup()
        await _finish_answers(settings.schedules.shutdown_seconds)
        if jobs is not None and jobs.leading:
            try:
                await schedule.send(jobs, {})  # what the last answers enqueued
            except Exception as exc:  # the next leader sends it
                log.warning("outbox not flushed; it is delivered after the restart", error=str(exc))
        if jobs is not None and jobs.leadership is not None:
            await jobs.leadership.release()  # another replica takes over at its next try
        await engine.dispose()
        log.info("stopped")


async def _finish_answers(grace: float) -> None:
    """Let answers still being worked on (Bolt's lazy listeners) finish."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        _, pending = await asyncio.wait(others, timeout=grace)
        for task in pending:
            task.cancel()


async def check_jira(settings: Settings) -> None:
    """The Jira configuration against Jira (`finops-bot jira check`); problems are logged, not
    fatal: Slack keeps working and Jira work waits in the outbox until the settings are fixed."""
    for what, ok, detail in await asyncio.to_thread(checks, settings):
        if not ok:
            log.warning("jira configuration problem; see `finops-bot jira check`", check=what, detail=detail)


def handle_run(
    http: Annotated[
        int | None, typer.Option("--http", help="Serve /slack/events, /healthz and /metrics on this port.")
    ] = None,
    socket: Annotated[
        bool,
        typer.Option("--socket", help="Use Socket Mode (SLACK_APP_TOKEN); no public URL needed."),
    ] = False,
    host: Annotated[str, typer.Option(help="The address to listen on with --http.")] = ALL_INTERFACES,
) -> None:
    """Run the bot: the Slack app over HTTP (--http PORT) or Socket Mode (--socket; add --http PORT
    for /healthz and /metrics)."""
    if http is None and not socket:
        raise typer.BadParameter("choose --http PORT (Slack sends requests to /slack/events) or --socket")
    if http is not None and not 0 <= http <= 65535:
        raise typer.BadParameter(f"--http {http} is not a port; use 1-65535")
    settings = load_settings()
    logging_setup.configure(settings.log_level, settings.log_format)
    settings.require("slack_bot_token", *(["slack_app_token"] if socket else ["slack_signing_secret"]))
    asyncio.run(serve(settings, http, socket, host))


def register(app: typer.Typer) -> None:
    app.command("run")(handle_run)
