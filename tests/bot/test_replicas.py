"""More than one replica, and replicas that die: leader election on PostgreSQL; kill -9 in the
middle of an ingestion."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from storage.db import connect, unit_of_work
from storage.models import CostDaily, JobRun
from tests.bot.process import (
    BotProcess,
    anomaly_roots,
    bot_env,
    config,
    drop,
    start_bot_process,
    wait_until,
    wait_until_async,
)
from tests.fakes.slack import FakeSlack


async def _runs(url: str) -> list[JobRun]:
    engine = connect(url)
    try:
        async with unit_of_work(engine) as session:
            return list(await session.scalars(select(JobRun).order_by(JobRun.id)))
    finally:
        await engine.dispose()


async def _stored(url: str) -> dict[date, Decimal]:
    """Billed cost per billing period in cost_daily."""
    engine = connect(url)
    try:
        async with unit_of_work(engine) as session:
            rows = await session.execute(
                select(CostDaily.billing_period_start, func.sum(CostDaily.billed_cost)).group_by(
                    CostDaily.billing_period_start
                )
            )
            return {period: Decimal(total) for period, total in rows.tuples()}
    finally:
        await engine.dispose()


async def _running(url: str, job: str) -> list[int]:
    return [r.id for r in await _runs(url) if r.job == job and r.status == "running"]


def _runner(bot: BotProcess) -> str:
    return f":{bot.process.pid}"


@pytest.mark.postgres
async def test_jobs_run_on_one_replica_and_another_takes_over_when_the_leader_dies(
    slack: FakeSlack, postgres_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    env = bot_env(slack, postgres_url, FINOPS_CONFIG=str(config(tmp_path, folder, leader_seconds=2)))
    first = await start_bot_process(env, tmp_path / "first.log")
    await first.health()  # the first migrates the database and leads
    second = await start_bot_process(env, tmp_path / "second.log")
    bots = [first, second]
    try:
        healths = [await bot.health() for bot in bots]
        assert [h["leader"] for h in healths] == [True, False], healths
        assert all(h["status"] == "ok" for h in healths)  # a standby is healthy: it answers Slack

        drop(folder, "focus-1.csv", {"Amazon EC2": 0.25})
        await wait_until(lambda: anomaly_roots(slack), 90, "no alert came")
        await asyncio.sleep(3)  # both replicas' outbox ticks and polls have come round
        assert len(anomaly_roots(slack)) == 1  # posted once
        runs = await _runs(postgres_url)
        assert {r.job for r in runs} >= {"ingest:focus-drop", "detect", "notify", "budgets"}
        assert {r.runner for r in runs} == {r.runner for r in runs if r.runner.endswith(_runner(first))}

        await first.kill()
        stopped = time.perf_counter()
        for _ in range(600):
            if (await second.health())["leader"]:
                break
            await asyncio.sleep(0.1)
        took = time.perf_counter() - stopped
        print(f"\nleader killed -> the other replica leads after {took:.1f} s")
        assert (await second.health())["leader"] is True and took < 60

        drop(folder, "focus-2.csv", {"Amazon S3": 0.6})
        await wait_until(lambda: len(anomaly_roots(slack)) >= 2, 90, "the new leader did not alert")
        later = [r for r in await _runs(postgres_url) if r.id > runs[-1].id and r.job == "ingest:focus-drop"]
        assert later and all(r.runner.endswith(_runner(second)) for r in later)
        assert len(anomaly_roots(slack)) == 2
    finally:
        for bot in bots:
            if bot.process.returncode is None:
                assert await bot.stop() == 0, bot.output()[-3000:]


def _wal_bytes(path: str) -> int:
    """The size of SQLite's write-ahead log: it grows while a transaction writes."""
    return os.path.getsize(path) if os.path.exists(path) else 0


async def _writing(url: str) -> bool:
    """Whether a load is writing cost rows now (its transaction not committed yet)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _wal_bytes(f"{parsed.database}-wal") > 4 * 1024 * 1024
    connection = await asyncpg.connect(
        parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        found = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND query ILIKE 'INSERT INTO cost_daily%'"
        )
    finally:
        await connection.close()
    return bool(found)


# PostgreSQL only (85 s a run): a failed load leaves the earlier data on both databases
# (tests/storage/test_costs.py), and only PostgreSQL has replicas and a leader that takes over.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_kill_9_during_an_ingestion_leaves_whole_data_and_posts_nothing_twice(
    slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    url = database_url
    folder = tmp_path / "exports"
    folder.mkdir()
    env = bot_env(slack, url, FINOPS_CONFIG=str(config(tmp_path, folder, leader_seconds=2)))
    log = tmp_path / "bot.log"

    bot = await start_bot_process(env, log)
    await bot.health()
    _, old = drop(folder, "focus.csv", None)

    async def loaded() -> bool:
        return await _stored(url) == old

    await wait_until_async(loaded, 60, f"the first export was not loaded:\n{bot.output()[-3000:]}")

    # A restatement of the same periods, large enough to take a while: kill -9 while it loads.
    _, new = drop(folder, "focus.csv", {"Amazon EC2": 0.25}, accounts=800)
    running = await wait_until_async(
        lambda: _running(url, "ingest:focus-drop"), 60, "the restatement's ingestion did not start"
    )
    # While it writes: the moment a half-done load would show, were it not one transaction.
    await wait_until_async(lambda: _writing(url), 60, "the load never wrote")
    await bot.kill()
    stored = await _stored(url)
    print(
        f"\nafter kill -9: {'the old data' if stored == old else 'the new data' if stored == new else 'HALF'}"
    )
    assert stored in (old, new)  # each billing period whole: never half of a load
    assert not anomaly_roots(slack)

    bot = await start_bot_process(env, log)
    try:
        await bot.health()
        await wait_until(
            lambda: anomaly_roots(slack), 90, f"no alert after the restart:\n{bot.output()[-3000:]}"
        )
        assert await _stored(url) == new
        cut_off = next(r for r in await _runs(url) if r.id == running[0])
        assert cut_off.status in ("interrupted", "ok")  # marked by the next leader, not left "running"
    finally:
        await bot.kill()  # and once more, after the alert went out
    bot = await start_bot_process(env, log)
    try:
        await bot.health()
        await asyncio.sleep(4)  # several outbox ticks and polls
        assert len(anomaly_roots(slack)) == 1  # posted once, whatever the restarts
    finally:
        assert await bot.stop() == 0
