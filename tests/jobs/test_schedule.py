"""The job table and how a job runs: leader only, failures logged and retried with backoff, runs
recorded, sources polled (settling files, unchanged folders, bad files), freshness, shutdown."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.triggers.interval import IntervalTrigger as Every
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import ConfigError, Source, load_settings
from commands.messages import status_lines
from jobs import schedule
from jobs.freshness import check, lateness
from jobs.schedule import Job, Jobs, table
from storage.db import connect, unit_of_work
from storage.migrate import upgrade
from storage.models import IngestionRun, JobRun, OutboxItem
from storage.status import SourceFreshness, status
from tests.bot.process import focus_rows, write_focus

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@asynccontextmanager
async def leading(engine: AsyncEngine, clock: Clock | None = None, **settings: Any) -> AsyncIterator[Jobs]:
    """Jobs on `engine`, leading (on PostgreSQL: holding the lock until the block ends)."""
    jobs = Jobs(engine, load_settings(**settings), senders={}, clock=clock or Clock())
    assert jobs.leadership is not None and await jobs.leadership.check()
    try:
        yield jobs
    finally:
        await jobs.leadership.release()


async def _runs(engine: AsyncEngine) -> list[JobRun]:
    async with unit_of_work(engine) as session:
        return list(await session.scalars(select(JobRun).order_by(JobRun.id)))


def test_the_table_follows_the_settings(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings(
        schedules={
            "sources": [
                {"name": "cur", "location": "s3://bills/cur/", "cron": "0 */6 * * *"},
                {"name": "drop", "location": str(tmp_path)},
            ],
            "digest": "",
        }
    )
    jobs = {job.name: job for job in table(settings, jira=False)}
    assert sorted(jobs) == [
        "budgets",
        "detect",
        "escalation",
        "freshness",
        "ingest:cur",
        "ingest:drop",
        "leader",
        "outbox",
        "remediation",
        "snooze",
    ]
    assert isinstance(jobs["ingest:cur"].trigger, CronTrigger) and not jobs["ingest:cur"].start_now
    drop = jobs["ingest:drop"]
    assert isinstance(drop.trigger, IntervalTrigger) and drop.trigger.interval == timedelta(minutes=1)
    assert drop.start_now and drop.quiet
    assert jobs["detect"].daily and not jobs["leader"].leader_only
    assert "jira-sync" in {job.name for job in table(settings, jira=True)}


def test_bad_schedules_are_named(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[schedules.digest\] '0 25 \* \* \*' is not a crontab line"):
        load_settings(schedules={"digest": "0 25 * * *"})
    twice = [{"name": "a", "location": "x"}, {"name": "a", "location": "y"}]
    with pytest.raises(ConfigError, match="source name\\(s\\) a used twice"):
        load_settings(schedules={"sources": twice})
    with pytest.raises(
        ConfigError,
        match="unknown format 'cur'; use one of: auto, aws-cost-explorer, aws-cur, azure-export, focus, gcp-export",
    ):
        load_settings(schedules={"sources": [{"name": "a", "location": "x", "format": "cur"}]})


async def test_a_failing_job_is_recorded_backs_off_and_runs_again(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    clock = Clock()
    async with leading(engine, clock) as jobs:
        calls: list[datetime] = []

        async def flaky(jobs: Jobs, details: dict[str, Any]) -> bool:
            calls.append(clock.now)
            if len(calls) < 3:
                raise RuntimeError(f"outage {len(calls)}")
            details["done"] = True
            return True

        job = Job("flaky", flaky, Every(seconds=5), quiet=True)
        before = REGISTRY.get_sample_value("finops_job_failures_total", {"job": "flaky"}) or 0
        await jobs.run(job)  # fails: no exception escapes
        await jobs.run(job)  # backing off: not run
        clock.now += timedelta(seconds=31)
        await jobs.run(job)  # fails again: the next wait is a minute
        clock.now += timedelta(seconds=31)
        await jobs.run(job)  # still waiting
        clock.now += timedelta(seconds=30)
        await jobs.run(job)  # runs and succeeds
        assert calls == [NOW, NOW + timedelta(seconds=31), NOW + timedelta(seconds=92)]
        assert REGISTRY.get_sample_value("finops_job_failures_total", {"job": "flaky"}) == before + 2
        runs = [(r.job, r.status, r.error, r.details) for r in await _runs(engine)]
        assert runs == [
            ("flaky", "failed", "outage 1", {}),
            ("flaky", "failed", "outage 2", {}),
            ("flaky", "ok", None, {"done": True}),
        ]
        assert jobs.describe()["jobs"]["flaky"]["failing"] is False


async def test_leader_election_is_tried_at_every_tick_even_after_failures(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    tries = 0

    async def failing(jobs: Jobs, details: dict[str, Any]) -> bool:
        nonlocal tries
        tries += 1
        raise ConnectionError("database unreachable")

    async with leading(engine) as jobs:
        for _ in range(3):
            await jobs.run(Job("leader", failing, Every(seconds=15), quiet=True, leader_only=False))
    assert tries == 3  # a standby must not sit out a backoff while the leader is gone


async def test_a_failed_daily_job_gets_a_retry_of_its_own(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    async with leading(engine) as jobs:
        jobs.scheduler = AsyncIOScheduler(timezone=UTC)

        async def broken(jobs: Jobs, details: dict[str, Any]) -> bool:
            raise RuntimeError("no channel")

        await jobs.run(Job("digest", broken, CronTrigger.from_crontab("0 9 * * *", timezone=UTC), daily=True))
        retry = jobs.scheduler.get_job("digest:retry")
        assert retry is not None and retry.trigger.run_date == NOW + timedelta(seconds=30)
        (run,) = await _runs(engine)
        assert (run.status, run.error) == ("failed", "RuntimeError: no channel")  # kept by recorded()
        assert jobs.describe()["jobs"]["digest"]["last_error"] == "RuntimeError: no channel"


@pytest.mark.postgres
async def test_only_the_leader_runs_jobs_and_another_leads_once_it_lets_go(
    clean_env: pytest.MonkeyPatch, postgres_url: str
) -> None:
    engines = [connect(postgres_url), connect(postgres_url)]
    try:
        await upgrade(engines[0])
        first, second = (Jobs(engine, load_settings(), senders={}) for engine in engines)
        ran: list[str] = []

        def work(name: str) -> Any:
            async def run(jobs: Jobs, details: dict[str, Any]) -> bool:
                ran.append(name)
                return False

            return run

        assert await first.leadership.check() is True  # type: ignore[union-attr]
        assert await second.leadership.check() is False  # type: ignore[union-attr]
        assert await first.leadership.check() is True  # type: ignore[union-attr]  # still held
        await first.run(Job("j", work("first"), Every(seconds=5)))
        await second.run(Job("j", work("second"), Every(seconds=5)))
        assert ran == ["first"]
        await first.leadership.release()  # type: ignore[union-attr]
        assert await second.leadership.check() is True  # type: ignore[union-attr]
        await second.run(Job("j", work("second"), Every(seconds=5)))
        assert ran == ["first", "second"]
    finally:
        for jobs in (first, second):
            await jobs.leadership.release()  # type: ignore[union-attr]
        for engine in engines:
            await engine.dispose()


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_a_watched_folder_is_read_once_it_settles_and_again_only_when_it_changes(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    source = Source(name="drop", location=str(folder), settle_seconds=30)
    async with leading(engine, alert_channel="C0ALERTS", schedules={"detect": "", "budgets": ""}) as jobs:
        job = Job("ingest:drop", schedule.ingest_job(source), Every(minutes=1), quiet=True)

        read_before = REGISTRY.get_sample_value("finops_ingested_rows_total", {"source": "drop"}) or 0
        await jobs.run(job)  # an empty folder: nothing to do, nothing recorded
        assert await _runs(engine) == []
        write_focus(folder / "a.csv", focus_rows(date(2026, 11, 24), 40))
        await jobs.run(job)  # just written: may still be being written
        assert await _runs(engine) == []
        _age(folder / "a.csv", 60)
        await jobs.run(job)
        await jobs.run(job)  # unchanged: not read again
        assert [r.job for r in await _runs(engine)] == ["ingest:drop", "detect", "notify", "budgets"]
        assert (
            REGISTRY.get_sample_value("finops_ingested_rows_total", {"source": "drop"}) == read_before + 120
        )
        async with unit_of_work(engine) as session:
            run = await session.scalar(select(IngestionRun).where(IngestionRun.source == "drop"))
        assert run is not None and run.arrived_at is not None and run.finished_at is not None
        assert timedelta(seconds=59) < run.finished_at - run.arrived_at < timedelta(seconds=120)
        async with unit_of_work(engine) as session:
            (line,) = status_lines(await status(session), NOW, [source])["sources"]
        assert "(1 min from file to queryable)" in line and "late" not in line

        (folder / "b.csv").write_text("not,a,focus,file\n1,2,3,4\n")
        _age(folder / "b.csv", 60)
        await jobs.run(job)
        jobs.failures.clear()  # past the backoff
        await jobs.run(job)  # the same bad file is not read again
        failed = [r for r in await _runs(engine) if r.status == "failed"]
        assert len(failed) == 1 and "b.csv" in (failed[0].error or "")
        (folder / "b.csv").unlink()
        await jobs.run(job)  # changed back: read, and the data is as before (no change, no detection)
        assert [r.job for r in await _runs(engine)][-1] == "ingest:drop"


async def test_stop_gives_running_jobs_their_grace_then_cancels_and_marks_them(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    async with leading(engine) as jobs:
        finished: list[str] = []

        def sleeper(name: str, seconds: float) -> Any:
            async def run(jobs: Jobs, details: dict[str, Any]) -> bool:
                await asyncio.sleep(seconds)
                finished.append(name)
                return True

            return run

        quick = asyncio.create_task(jobs.run(Job("quick", sleeper("quick", 0.2), Every(seconds=5))))
        slow = asyncio.create_task(jobs.run(Job("slow", sleeper("slow", 30), Every(seconds=5))))
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        await schedule.stop(jobs, grace=1.0)
        assert time.perf_counter() - started < 5
        assert finished == ["quick"] and quick.done() and slow.cancelled()
        assert {r.job: r.status for r in await _runs(engine)} == {"quick": "ok", "slow": "interrupted"}
        assert jobs.leading  # handed back by the caller, after its last sends


def test_a_source_is_late_when_the_next_day_is_overdue(clean_env: pytest.MonkeyPatch) -> None:
    aws = Source(name="cur", location="x")
    seen = SourceFreshness("cur", NOW, date(2026, 11, 23), None, "AWS", timedelta(minutes=3))
    # Data up to the 23rd: the 24th is due by the end of the 24th plus AWS's 24 h, i.e. 26th 00:00.
    assert not lateness(aws, seen, datetime(2026, 11, 25, 23, 59, tzinfo=UTC)).late
    late = lateness(aws, seen, datetime(2026, 11, 26, 0, 1, tzinfo=UTC))
    assert late.late and late.limit == timedelta(hours=24)
    azure = SourceFreshness("cur", NOW, date(2026, 11, 23), None, "Microsoft", None)
    assert not lateness(aws, azure, datetime(2026, 11, 26, 11, 0, tzinfo=UTC)).late  # 36 h
    strict = Source(name="cur", location="x", late_after_hours=2)
    assert lateness(strict, seen, datetime(2026, 11, 25, 2, 1, tzinfo=UTC)).late
    assert not lateness(aws, None, NOW).late  # never loaded: nothing to compare


async def test_a_late_source_is_told_to_the_admins_once(
    clean_env: pytest.MonkeyPatch, engine: AsyncEngine
) -> None:
    from tests.factories import frame, item, load

    await load(engine, frame(item("2026-11-20", "10.00")), source="cur")
    settings = load_settings(
        channels={"admin": "C0ADMIN"}, schedules={"sources": [{"name": "cur", "location": "s3://b/cur/"}]}
    )
    for _ in range(2):
        async with unit_of_work(engine) as session:
            (found,) = await check(session, settings, NOW)
    assert found.late and found.data_until == date(2026, 11, 20)
    assert REGISTRY.get_sample_value("finops_source_late", {"source": "cur"}) == 1
    async with unit_of_work(engine) as session:
        (alert,) = await session.scalars(select(OutboxItem))
    assert alert.idempotency_key == "late:cur:2026-11-20" and alert.payload["channel"] == "C0ADMIN"
    assert "*cur* is late" in alert.payload["text"] and "20 Nov 2026" in alert.payload["text"]
    async with unit_of_work(engine) as session:
        (line,) = status_lines(await status(session), NOW, settings.schedules.sources)["sources"]
    # data through the 20th: the 21st was due by the end of the 21st plus 24 h, 60 hours before NOW
    assert (
        line.startswith("*cur*: data through 20 Nov 2026") and "late: the next day was due 60.0 h ago" in line
    )


async def test_an_s3_prefix_is_read_again_only_when_its_listing_changes(
    aws: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bills")
    export = tmp_path / "a.csv"
    write_focus(export, focus_rows(date(2026, 11, 24), 40))
    s3.put_object(Bucket="bills", Key="focus/a.csv", Body=export.read_bytes())
    source = Source(name="s3", location="s3://bills/focus/", settle_seconds=0)
    job = Job("ingest:s3", schedule.ingest_job(source), Every(minutes=1), quiet=True)
    settings = {"alert_channel": "C0ALERTS", "schedules": {"detect": "", "budgets": ""}}
    async with leading(engine, **settings) as jobs:
        await jobs.run(job)
        await jobs.run(job)  # the same listing: nothing read, nothing recorded
        assert [r.job for r in await _runs(engine)].count("ingest:s3") == 1
        write_focus(export, focus_rows(date(2026, 11, 24), 40, {"Amazon S3": 0.5}))
        s3.put_object(Bucket="bills", Key="focus/a.csv", Body=export.read_bytes())
        await jobs.run(job)
        assert [r.job for r in await _runs(engine)].count("ingest:s3") == 2
