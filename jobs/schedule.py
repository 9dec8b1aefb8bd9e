"""The job table: what `finops-bot run` does on its own, and when (UTC).

`table(settings, jira=...)` lists the jobs as data; `register(scheduler, jobs)` adds them to an
APScheduler AsyncIOScheduler. Every job runs through `Jobs.run`:

- only on the replica that leads (`storage.leader`), one run of a job at a time, missed runs
  coalesced into one;
- with `job` and `job_id` on each of its log lines, its duration and failures in the metrics;
- a failure is logged and the job runs again: at its next tick, not before a backoff; a daily
  job gets a retry of its own; the scheduler never stops for it;
- runs are kept in `job_runs` (frequent jobs keep only the runs that did something or failed).

The pipeline: `ingest:<source>` polls its file, folder or s3:// prefix; when the data changed it
goes on to detect -> notify (Slack messages and Jira issues through the outbox) -> budgets ->
outbox delivery, all under one lock so that a daily run never overlaps it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.log import bound, new_id
from bot.metrics import ANOMALIES_OPEN, INGESTED_ROWS, JOB_FAILURES, JOB_SECONDS, LEADER, OUTBOX_DEPTH
from bot.settings import Settings, Source
from finops import sources
from finops.anomaly.detect import SEVERITIES
from finops.errors import UserError
from jobs import budgets, freshness, jira_sync, remediate
from jobs.detect import detect
from jobs.digest import digest
from jobs.ingest import ingest
from jobs.notify import plan, resolve_quiet
from jobs.outbox import OnFailure, Sender, deliver
from jobs.snooze import expire
from storage import jobruns, outbox
from storage.db import unit_of_work
from storage.leader import Leadership
from storage.status import open_anomalies
from storage.types import utcnow

log = structlog.get_logger(__name__)

RETRY_FIRST = timedelta(seconds=30)  # after a failure: 30 s, 1 min, 2 min ... up to RETRY_MAX
RETRY_MAX = timedelta(minutes=5)
FLUSH_SECONDS = 10.0  # the last outbox delivery on shutdown

Details = dict[str, Any]
SELF_RECORDED = "_recorded"  # set in a quiet job's details when the work records its own runs
# A job: does its work, fills `details` with what is worth keeping, says whether it did anything.
Work = Callable[["Jobs", Details], Awaitable[bool]]


@dataclass(frozen=True)
class Job:
    name: str
    work: Work
    trigger: BaseTrigger
    start_now: bool = False  # first run at start-up, not one interval later
    daily: bool = False  # a failure gets a retry of its own (the next tick is a day away)
    quiet: bool = False  # frequent: keep only the runs that did something
    leader_only: bool = True


@dataclass
class Jobs:
    """What the jobs share: the database, settings, the outbox's senders, and their state."""

    engine: AsyncEngine
    settings: Settings
    senders: Mapping[str, Sender]
    on_failure: OnFailure | None = None
    jira_search: jira_sync.Search | None = None
    leadership: Leadership | None = None
    clock: Callable[[], datetime] = utcnow
    scheduler: AsyncIOScheduler | None = None
    running: set[asyncio.Task[Any]] = field(default_factory=set)
    seen: dict[str, sources.Stat] = field(default_factory=dict)  # the last look at each source
    failures: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # count, next try
    last_ok: dict[str, datetime] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    pipeline: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        if self.leadership is None:
            self.leadership = Leadership(self.engine)

    @property
    def leading(self) -> bool:
        return self.leadership is not None and self.leadership.leading

    async def run(self, job: Job) -> None:
        """One run of `job` (what the scheduler calls)."""
        if job.leader_only and not self.leading:
            return
        count, not_before = self.failures.get(job.name, (0, None))
        waiting = not_before is not None and self.clock() < not_before - timedelta(seconds=1)
        if waiting and job.leader_only:  # leader election never waits: a standby must take over
            return  # backing off after a failure
        task = asyncio.current_task()
        if task is not None:
            self.running.add(task)
        started, clock_started = time.perf_counter(), self.clock()
        details: Details = {}
        with bound(job=job.name, job_id=new_id()):
            try:
                if job.quiet:
                    if await job.work(self, details):
                        await jobruns.add(self.engine, job.name, started_at=clock_started, details=details)
                else:
                    async with jobruns.recorded(self.engine, job.name) as kept:
                        await job.work(self, kept)
            except asyncio.CancelledError:
                log.warning("job interrupted")
                raise
            except Exception as exc:
                await self._failed(job, count + 1, exc, clock_started, details)
            else:
                self.failures.pop(job.name, None)
                self.last_ok[job.name] = self.clock()
            finally:
                JOB_SECONDS.labels(job.name).observe(time.perf_counter() - started)
                if task is not None:
                    self.running.discard(task)

    async def _failed(
        self, job: Job, count: int, exc: Exception, started: datetime, details: Details
    ) -> None:
        delay = min(RETRY_FIRST * 2 ** (count - 1), RETRY_MAX)
        retry_at = self.clock() + delay
        self.failures[job.name] = (count, retry_at)
        self.last_error[job.name] = f"{type(exc).__name__}: {exc}"[:500]
        JOB_FAILURES.labels(job.name).inc()
        if isinstance(exc, UserError):
            log.error("job failed; it will run again", error=str(exc), retry_in=delay.total_seconds())
        else:
            log.exception("job failed; it will run again", retry_in=delay.total_seconds())
        if job.quiet and not details.pop(SELF_RECORDED, False):
            try:
                await jobruns.add(
                    self.engine,
                    job.name,
                    started_at=started,
                    status="failed",
                    details=details,
                    error=str(exc),
                )
            except Exception as record_exc:  # the database may be what failed
                log.warning("could not record the failed run", error=str(record_exc))
        if job.daily and self.scheduler is not None:
            self.scheduler.add_job(
                self.run,
                DateTrigger(retry_at, timezone=UTC),
                args=[job],
                id=f"{job.name}:retry",
                name=f"{job.name} (retry)",
                replace_existing=True,
            )

    def describe(self) -> dict[str, Any]:
        """For /healthz: whether this replica leads, and each job's latest outcome here."""
        upcoming = {}
        if self.scheduler is not None:
            upcoming = {j.id: getattr(j, "next_run_time", None) for j in self.scheduler.get_jobs()}
        names = sorted(set(upcoming) | set(self.last_ok) | set(self.last_error))
        return {
            "leader": self.leading,
            "jobs": {
                name: {
                    "last_ok": _iso(self.last_ok.get(name)),
                    "failing": name in self.failures,
                    "last_error": self.last_error.get(name) if name in self.failures else None,
                    "next_run": _iso(upcoming.get(name)),
                }
                for name in names
            },
        }


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


# The jobs.


async def lead(jobs: Jobs, details: Details) -> bool:
    """Take or keep the lead; on taking it, runs left `running` by a dead leader are marked
    interrupted and the frequent jobs run at once. Also refreshes the gauges."""
    assert jobs.leadership is not None
    was = jobs.leadership.leading
    now = jobs.clock()
    leading = await jobs.leadership.check()
    LEADER.set(1 if leading else 0)
    if leading and not was:
        async with unit_of_work(jobs.engine) as session:
            interrupted = await jobruns.interrupt_stale(session, now)
        if interrupted:
            log.info("marked runs of a stopped leader interrupted", runs=interrupted)
        _run_soon(jobs)
    await gauges(jobs)
    return False


def _run_soon(jobs: Jobs) -> None:
    if jobs.scheduler is None:
        return
    now = datetime.now(UTC)
    for job in jobs.scheduler.get_jobs():
        if isinstance(job.trigger, IntervalTrigger) and job.id != "leader":
            job.modify(next_run_time=now)


async def gauges(jobs: Jobs) -> None:
    # Every leader tick on every replica: two small counts, not the whole status (which scans
    # cost_daily for each source's latest day).
    async with unit_of_work(jobs.engine) as session:
        waiting = await outbox.depth(session)
        found = await open_anomalies(session)
    for state, count in waiting.items():
        OUTBOX_DEPTH.labels(state).set(count)
    for severity in SEVERITIES:
        ANOMALIES_OPEN.labels(severity).set(found.get(severity, 0))


async def send(jobs: Jobs, details: Details) -> bool:
    """Deliver what is due in the outbox."""
    done = await deliver(jobs.engine, jobs.senders, jobs.on_failure)
    details.update(sent=len(done.sent), retrying=len(done.retrying), failed=len(done.failed))
    return bool(done.sent or done.retrying or done.failed)


def _settling(look: sources.Stat, seconds: float) -> bool:
    """A file changed less than `seconds` ago may still be being written."""
    newest = max((mtime for _, _, mtime, _ in look), default=0)
    return time.time() - newest / 1e9 < seconds


def ingest_job(source: Source) -> Work:
    async def work(jobs: Jobs, details: Details) -> bool:
        look = await asyncio.to_thread(sources.stat, source.location)
        if look is not None and (look == jobs.seen.get(source.name) or not look):
            return False  # nothing new (or nothing yet) in the file or folder
        if look is not None and _settling(look, source.settle_seconds):
            return False  # still arriving: look again at the next poll
        details[SELF_RECORDED] = True
        async with jobs.pipeline:
            changed = await _ingest(jobs, source, look)
            if changed:
                await after_ingest(jobs, details)
        return False  # the runs that did something are recorded by _ingest

    return work


async def _ingest(jobs: Jobs, source: Source, look: sources.Stat | None) -> bool:
    """Load the source; whether its data changed."""
    try:
        async with jobruns.recorded(jobs.engine, f"ingest:{source.name}") as details:
            result = await ingest(
                jobs.engine,
                source.location,
                fmt=source.format,
                source=source.name,
                access=jobs.settings.api_access(),
                record_failures=True,
            )
            details.update(
                files=result.files,
                rows_read=result.rows_read,
                rows_stored=result.load.rows_stored,
                unchanged=result.load.skipped,
            )
    except UserError:
        if look is not None:
            jobs.seen[source.name] = look  # the same files would fail the same way: wait for a change
        raise
    if look is not None:
        jobs.seen[source.name] = look
    INGESTED_ROWS.labels(source.name).inc(result.rows_read)
    log.info("ingested", source=source.name, rows=result.rows_read, unchanged=result.load.skipped)
    return not result.load.skipped


async def after_ingest(jobs: Jobs, details: Details) -> None:
    """Detect, notify, evaluate the budgets, deliver (the caller holds the pipeline lock)."""
    today = jobs.clock().date()
    run = await detect(jobs.engine, today, jobs.settings.detection)
    async with jobruns.recorded(jobs.engine, "notify") as kept:
        async with unit_of_work(jobs.engine) as session:
            added = await plan(session, jobs.settings, [a["fingerprint"] for a in run.anomalies])
            resolved = await resolve_quiet(session, today)
        kept.update(enqueued=len(added), resolved=len(resolved))
    states = await budgets.evaluate(jobs.engine, jobs.settings, today)
    details.update(anomalies=len(run.anomalies), new=len(run.new), budgets=states)
    await send(jobs, {})
    await gauges(jobs)


async def daily_detect(jobs: Jobs, details: Details) -> bool:
    async with jobs.pipeline:
        await after_ingest(jobs, details)
    return True


async def daily_budgets(jobs: Jobs, details: Details) -> bool:
    details.update(await budgets.evaluate(jobs.engine, jobs.settings, jobs.clock().date()))
    await send(jobs, {})
    return True


async def escalations(jobs: Jobs, details: Details) -> bool:
    """Budget alerts nobody acknowledged in time: the contact, then the admins, are mentioned."""
    async with unit_of_work(jobs.engine) as session:
        escalated = await budgets.escalate(session, jobs.settings, jobs.clock())
    if escalated:
        details.update(alerts=escalated)
        await send(jobs, {})
    return bool(escalated)


async def daily_digest(jobs: Jobs, details: Details) -> bool:
    async with unit_of_work(jobs.engine) as session:
        key = await digest(session, jobs.settings, jobs.clock().date())
    details.update(enqueued=key)
    await send(jobs, {})
    return True


async def snoozes(jobs: Jobs, details: Details) -> bool:
    """Snoozes that are over: back in their threads."""
    async with unit_of_work(jobs.engine) as session:
        woken = await expire(session, jobs.clock())
    if woken:
        details.update(anomalies=woken)
        await send(jobs, {})
    return bool(woken)


async def remediations(jobs: Jobs, details: Details) -> bool:
    """Approved remediation plans run (and executions whose replica died resume); proposals expire."""
    ran = await remediate.run_due(jobs.engine, jobs.settings)
    if ran:
        details.update(executed=ran)
    await send(jobs, {})
    return bool(ran)


async def sync_jira(jobs: Jobs, details: Details) -> bool:
    assert jobs.jira_search is not None
    synced = await jira_sync.sync(jobs.engine, jobs.jira_search)
    details.update(resolved=synced.resolved, reopened=synced.reopened)
    if synced.resolved or synced.reopened:
        await send(jobs, {})
    return bool(synced.resolved or synced.reopened)


async def fresh(jobs: Jobs, details: Details) -> bool:
    async with unit_of_work(jobs.engine) as session:
        checked = await freshness.check(session, jobs.settings, jobs.clock())
    late = [c.source for c in checked if c.late]
    if late:
        details.update(late=late)
        await send(jobs, {})
    return bool(late)


def _cron(line: str) -> CronTrigger:
    return CronTrigger.from_crontab(line, timezone=UTC)


def table(settings: Settings, *, jira: bool) -> list[Job]:
    """The jobs `settings` asks for (`jira`: Jira is configured)."""
    every = settings.schedules
    found = [
        Job("leader", lead, IntervalTrigger(seconds=every.leader_seconds), quiet=True, leader_only=False),
        Job("outbox", send, IntervalTrigger(seconds=every.outbox_seconds), start_now=True, quiet=True),
        Job("snooze", snoozes, IntervalTrigger(minutes=every.snooze_minutes), quiet=True),
        Job("escalation", escalations, IntervalTrigger(minutes=every.escalation_minutes), quiet=True),
        Job("remediation", remediations, IntervalTrigger(seconds=every.remediation_seconds), quiet=True),
    ]
    for source in every.sources:
        trigger = _cron(source.cron) if source.cron else IntervalTrigger(minutes=source.poll_minutes)
        found.append(
            Job(f"ingest:{source.name}", ingest_job(source), trigger, start_now=not source.cron, quiet=True)
        )
    if every.sources:
        found.append(Job("freshness", fresh, IntervalTrigger(minutes=every.freshness_minutes), quiet=True))
    for name, line, work in (
        ("detect", every.detect, daily_detect),
        ("budgets", every.budgets, daily_budgets),
        ("digest", every.digest, daily_digest),
    ):
        if line:
            found.append(Job(name, work, _cron(line), daily=True))
    if jira:
        found.append(
            Job("jira-sync", sync_jira, IntervalTrigger(minutes=every.jira_sync_minutes), quiet=True)
        )
    return found


def register(scheduler: AsyncIOScheduler, jobs: Jobs) -> None:
    """Add the job table to `scheduler`."""
    jobs.scheduler = scheduler
    now = datetime.now(UTC)
    for job in table(jobs.settings, jira=jobs.jira_search is not None):
        extra: dict[str, Any] = {"next_run_time": now} if job.start_now else {}
        scheduler.add_job(
            jobs.run,
            job.trigger,
            args=[job],
            id=job.name,
            name=job.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,  # late is better than never
            replace_existing=True,
            **extra,
        )


async def start(jobs: Jobs, scheduler: AsyncIOScheduler) -> None:
    """Try for the lead, then start the scheduler with the job table."""
    await lead(jobs, {})
    register(scheduler, jobs)
    scheduler.start()


async def stop(jobs: Jobs, grace: float) -> None:
    """Graceful shutdown: no new runs; running jobs get `grace` seconds to finish, then are
    cancelled (an ingestion rolls back whole; a claimed outbox effect goes back after its lease);
    what is due in the outbox is sent. The caller hands the lead back (`Leadership.release`) once
    it has nothing more to send."""
    if jobs.scheduler is not None and jobs.scheduler.running:
        jobs.scheduler.pause()
    running = {t for t in jobs.running if not t.done()}
    if running:
        log.info("waiting for running jobs", jobs=len(running), seconds=grace)
        _, pending = await asyncio.wait(running, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if jobs.leading:
        try:
            await asyncio.wait_for(send(jobs, {}), FLUSH_SECONDS)
        except Exception as exc:  # what is not sent now is sent by the next leader
            log.warning("outbox not flushed; it is delivered after the restart", error=str(exc))
    if jobs.scheduler is not None and jobs.scheduler.running:
        jobs.scheduler.shutdown(wait=False)
