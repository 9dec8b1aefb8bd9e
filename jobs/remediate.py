"""Remediation: playbooks' findings proposed as plans, and approved plans executed once.

`propose` runs the playbooks' discovery, proves every call with a dry run, and stores each
playbook's changes as one plan (`actions`, status `proposed`) with one step per API call
(`action_steps`); the plan's Slack message (Approve / Reject) goes through the outbox.

`execute` runs an approved plan. It claims the plan with a lease (one executor at a time), checks
each resource again just before touching it (anything that changed is dropped and said), then
makes each call once, committing its outcome before the next: a restart resumes where it
stopped, and a step that was started but not recorded is verified and only made again when its
effect is not there. Every step is audited and told in the plan's thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.settings import Settings
from finops import remediation
from finops.currency import cents
from finops.errors import UserError
from finops.remediation import operations
from finops.remediation.base import Aws, OptOut, Params, Playbook, Scan
from finops.remediation.model import Call, Change, Discovery, Skipped
from storage import actions, audit, outbox
from storage.db import unit_of_work
from storage.models import Action, ActionStep
from storage.types import utcnow

log = structlog.get_logger(__name__)

BOT = "finops-bot"  # the actor of the audit rows the executor writes on its own
CURRENCY = "USD"  # AWS list prices


class NotRunnable(UserError):
    """The plan cannot be executed now: not approved, expired, switched off, running elsewhere."""


@dataclass
class Proposal:
    playbook: str
    action: Action | None  # None: nothing to change
    created: bool = False  # False: an identical plan was waiting already
    superseded: list[int] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class Outcome:
    action: Action
    steps: list[ActionStep]
    ran: bool  # False: it was finished (or running) already and nothing was done now


# ------------------------------------------------------------------------------------------ settings


def regions(settings: Settings, aws: Aws) -> tuple[str, ...]:
    if settings.remediation.regions:
        return tuple(settings.remediation.regions)
    return (aws.default_region(),)


def playbook_params(settings: Settings, names: Sequence[str] | None) -> list[tuple[Playbook, Params]]:
    """The playbooks asked for (all when `names` is empty) with their settings, checked before any
    AWS call; an unknown name, in the command or the config, lists the valid ones."""
    for configured in settings.remediation.playbooks:
        remediation.get(configured)
    chosen = list(names) if names else sorted(remediation.PLAYBOOKS)
    found = []
    for name in chosen:
        book = remediation.get(name)
        found.append((book, book.params(settings.remediation.playbooks.get(name))))
    return found


def scan_for(settings: Settings, aws: Aws, now: datetime) -> Scan:
    return Scan(aws, regions(settings, aws), now, OptOut.parse(settings.remediation.opt_out_tag))


def channel_of(settings: Settings) -> str | None:
    return settings.remediation.channel or settings.alert_channel or settings.channels.alerts


# ------------------------------------------------------------------------------------------ proposing


def fingerprint(playbook: str, changes: Sequence[Change]) -> str:
    """The same playbook proposing the same calls on the same resources: the same plan."""
    shape = sorted((c.region, c.resource_id, [call.api for call in c.calls]) for c in changes)
    return hashlib.sha256(json.dumps([playbook, shape]).encode()).hexdigest()


def prove(aws: Aws, found: Discovery) -> Discovery:
    """Every call of every change dry-run; a change whose calls are not all proven is left out,
    with the reason (e.g. the role lacks a permission). Blocking: run it in a thread."""
    proven, skipped = [], list(found.skipped)
    for change in found.changes:
        failed = [
            f"{call.api}: {outcome.detail}"
            for call in change.calls
            if not (outcome := operations.dry_run(aws, call)).ok
        ]
        if failed:
            skipped.append(Skipped(change.resource_id, change.region, "dry run failed: " + "; ".join(failed)))
        else:
            proven.append(change)
    return Discovery(proven, skipped)


def plan_document(book: Playbook, params: Params, scan: Scan, found: Discovery) -> dict[str, Any]:
    known = [c.saving_monthly for c in found.changes if c.saving_monthly is not None]
    return {
        "title": book.title,
        "regions": list(scan.regions),
        "params": params.model_dump(mode="json"),
        "opt_out": str(scan.opt_out),
        "saving_monthly": str(cents(sum(known, Decimal(0)))),
        "unpriced": len(found.changes) - len(known),
        "changes": [c.to_json() for c in found.changes],
        "skipped": [s.to_json() for s in found.skipped],
    }


async def _store(
    session: AsyncSession,
    settings: Settings,
    book: Playbook,
    document: dict[str, Any],
    changes: Sequence[Change],
    requested_by: str,
    channel: str,
    now: datetime,
) -> Proposal:
    key = fingerprint(book.name, changes)
    waiting = [
        plan
        for plan in await actions.open_plans(session, book.name)
        if plan.fingerprint == key and not _expired(plan, now)
    ]
    if waiting:  # the same plan is waiting for a decision: not made twice
        return Proposal(book.name, waiting[0])
    proposal = Proposal(book.name, None)
    action = Action(
        playbook=book.name,
        target={"regions": ", ".join(document["regions"])},
        params=document["params"],
        plan=document,
        status=actions.OPEN,
        estimated_savings=Decimal(document["saving_monthly"]),
        currency=CURRENCY,
        requested_by=requested_by,
        fingerprint=key,
        expires_at=now + timedelta(hours=settings.remediation.expire_hours),
        created_at=now,
    )
    session.add(action)
    await session.flush()
    seq = 0
    for index, change in enumerate(changes):
        for call in change.calls:
            seq += 1
            session.add(
                ActionStep(
                    action_id=action.id,
                    seq=seq,
                    change=index,
                    resource_id=change.resource_id,
                    api=call.api,
                    call=call.to_json(),
                    status="pending",
                    attempts=0,
                )
            )
    await audit.record(
        session,
        actor=requested_by,
        channel=channel,
        action="remediation.proposed",
        subject_type="action",
        subject_id=str(action.id),
        details={
            "playbook": book.name,
            "changes": len(changes),
            "saving_monthly": document["saving_monthly"],
        },
    )
    number = action.id
    proposal.superseded = await supersede(session, book.name, f"plan #{number}", keep=number)
    await session.refresh(action)
    target = channel_of(settings)
    if target:
        await outbox.enqueue(
            session,
            root_key(number),
            "slack.approval.root",
            {"action_id": number, "channel": target},
        )
    proposal.action, proposal.created = action, True
    return proposal


async def supersede(session: AsyncSession, playbook: str, by: str, keep: int | None = None) -> list[int]:
    """The playbook's waiting plans (but `keep`) closed: a newer scan replaced them. Their ids."""
    closed = []
    for older in [p.id for p in await actions.open_plans(session, playbook) if p.id != keep]:
        if await actions.close(session, older, "superseded", f"superseded by {by}"):
            closed.append(older)
            await _tell(session, older, f"superseded:{by}", f"Superseded by {by}.", True)
    return closed


async def propose(
    engine: AsyncEngine,
    settings: Settings,
    *,
    playbooks: Sequence[str] | None = None,
    requested_by: str,
    channel: str = "cli",
    aws: Aws | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Proposal]:
    """One plan per playbook with something to change (dry-run proven), stored and posted for approval."""
    chosen = playbook_params(settings, playbooks)
    aws = aws or Aws()
    now = now or utcnow()
    scan = scan_for(settings, aws, now)
    found: list[Proposal] = []
    for book, params in chosen:
        if progress:
            progress(f"{book.name}: looking in {', '.join(scan.regions)}")
        discovery = await asyncio.to_thread(book.discover, scan, params)
        proven = await asyncio.to_thread(prove, aws, discovery)
        if not proven.changes:
            async with unit_of_work(engine) as session:
                gone = await supersede(session, book.name, "a newer scan that found nothing to change")
            found.append(Proposal(book.name, None, superseded=gone, skipped=proven.skipped))
            continue
        document = plan_document(book, params, scan, proven)
        async with unit_of_work(engine) as session:
            proposal = await _store(
                session, settings, book, document, proven.changes, requested_by, channel, now
            )
        proposal.skipped = proven.skipped
        found.append(proposal)
    return found


# ------------------------------------------------------------------------------------------ executing


async def _tell(session: AsyncSession, action_id: int, key: str, text: str, update: bool = False) -> None:
    """A line in the plan's thread (and the root message redrawn when `update`), via the outbox;
    nothing for a plan that was never posted (no channel was configured)."""
    if not await outbox.exists(session, root_key(action_id)):
        return
    kind = "slack.approval.update" if update else "slack.approval.thread"
    await outbox.enqueue(
        session, f"remediation:{action_id}:{key}", kind, {"action_id": action_id, "text": text}
    )


def root_key(action_id: int) -> str:
    """The outbox key of a plan's Slack message."""
    return f"slack-approval:{action_id}"


def token(step: ActionStep) -> str:
    """What makes a call idempotent across retries and restarts (e.g. a snapshot's tag)."""
    return f"action-{step.action_id}-step-{step.seq}"


def _where(step: ActionStep) -> str:
    return f"`{step.api}` {step.resource_id} ({step.call['region']})"


def _result_text(result: dict[str, Any] | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in (result or {}).items())


@dataclass
class _Run:
    engine: AsyncEngine
    settings: Settings
    action: Action
    aws: Aws
    actor: str
    channel: str
    clock: Callable[[], datetime]

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.remediation.lease_seconds)

    async def mark(
        self, step: ActionStep, status: str, *, result: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """The step's outcome, its audit row and its thread line, in one transaction."""
        async with unit_of_work(self.engine) as session:
            row = await session.get(ActionStep, step.id)
            assert row is not None
            row.status, row.result, row.error, row.finished_at = status, result, error, self.clock()
            await audit.record(
                session,
                actor=self.actor,
                channel=self.channel,
                action=f"remediation.step_{status}",
                subject_type="action",
                subject_id=str(step.action_id),
                details={"seq": step.seq, "api": step.api, "resource_id": step.resource_id}
                | ({"result": result} if result else {})
                | ({"error": error} if error else {}),
            )
            said = {
                "done": f":white_check_mark: {_where(step)}: done"
                + (f" ({_result_text(result)})" if result else ""),
                "failed": f":x: {_where(step)}: failed: {error}",
                "dropped": f":heavy_minus_sign: {step.resource_id} dropped, nothing done to it: {error}",
                "skipped": f":heavy_minus_sign: {_where(step)} not made: {error}",
            }[status]
            await _tell(session, step.action_id, f"step:{step.seq}:{status}", said)
        step.status, step.result, step.error = status, result, error

    async def start(self, step: ActionStep) -> None:
        async with unit_of_work(self.engine) as session:
            row = await session.get(ActionStep, step.id)
            assert row is not None
            row.status, row.attempts, row.started_at = "running", row.attempts + 1, self.clock()
            await actions.renew(session, step.action_id, self.clock() + self.lease)
        step.status = "running"

    async def call(self, step: ActionStep) -> None:
        call = Call.from_json(step.call)
        # Started before a crash: made again only when its effect is not there.
        if step.status == "running" and await asyncio.to_thread(
            operations.verify, self.aws, call, token(step)
        ):
            await self.mark(step, "done", result={"verified": "after a restart"})
            return
        await self.start(step)
        try:
            result = await asyncio.to_thread(operations.perform, self.aws, call, token(step))
            made = await asyncio.to_thread(operations.verify, self.aws, call, token(step))
        except Exception as exc:  # AWS refused, or could not be reached after boto's retries
            log.warning("remediation step failed", action=step.action_id, seq=step.seq, error=str(exc))
            await self.mark(step, "failed", error=_error(exc))
            return
        if not made:
            await self.mark(
                step, "failed", result=result, error="the call returned, but its effect is not visible"
            )
            return
        await self.mark(step, "done", result=result)

    async def change(self, steps: list[ActionStep], book: Playbook, params: Params, scan: Scan) -> None:
        if all(s.status == "pending" for s in steps):
            change = Change.from_json(self.action.plan["changes"][steps[0].change])
            try:
                reason = await asyncio.to_thread(book.recheck, scan, params, change)
            except Exception as exc:  # not checked again: not touched
                await self.mark(steps[0], "failed", error=f"could not check it again first: {_error(exc)}")
                for rest in steps[1:]:
                    await self.mark(rest, "skipped", error="its resource could not be checked again")
                return
            if reason:
                await self.mark(steps[0], "dropped", error=reason)
                for rest in steps[1:]:
                    await self.mark(rest, "skipped", error=f"{steps[0].resource_id} was dropped")
                return
        for step in steps:
            if step.status in ("done", "dropped", "skipped"):
                continue
            if step.status == "failed":
                break
            await self.call(step)
            if step.status == "failed":
                for rest in steps[steps.index(step) + 1 :]:
                    if rest.status == "pending":
                        await self.mark(rest, "skipped", error=f"the step before it ({step.api}) failed")
                break


def _error(exc: Exception) -> str:
    """For people: what AWS said (the operations layer words it), or the error itself."""
    if isinstance(exc, UserError):
        return str(exc)[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def summary(action: Action, steps: Sequence[ActionStep]) -> dict[str, Any]:
    """What was and was not done, per change (resource), and the monthly saving now realised."""
    by_change: dict[int, list[ActionStep]] = {}
    for step in steps:
        by_change.setdefault(step.change, []).append(step)
    done, failed, dropped = [], [], []
    saved = Decimal(0)
    for index, group in sorted(by_change.items()):
        change = Change.from_json(action.plan["changes"][index])
        statuses = {s.status for s in group}
        if statuses == {"done"}:
            done.append(change.resource_id)
            saved += change.saving_monthly or Decimal(0)
        elif "dropped" in statuses:
            dropped.append(change.resource_id)
        else:
            failed.append(change.resource_id)
    status = "done" if not failed else ("partial" if done else "failed")
    return {
        "status": status,
        "done": done,
        "failed": failed,
        "dropped": dropped,
        "saving_monthly": str(cents(saved)),
    }


def summary_text(result: dict[str, Any], changes: int) -> str:
    """The outcome of `summary` for people: the thread's last line, and `remediate apply`'s."""
    parts = [f"{len(result['done'])} of {changes} changes made"]
    if result["failed"]:
        parts.append(f"{len(result['failed'])} failed ({', '.join(result['failed'][:10])})")
    if result["dropped"]:
        parts.append(f"{len(result['dropped'])} dropped ({', '.join(result['dropped'][:10])})")
    saved = f"{result['saving_monthly']} {CURRENCY}"
    return f"Finished: {'; '.join(parts)}. Monthly saving from what was made: {saved}."


async def _claim(engine: AsyncEngine, settings: Settings, action_id: int, now: datetime) -> Action:
    """The plan, taken for execution (or finished already); `NotRunnable` says why it cannot be."""
    async with unit_of_work(engine) as session:
        action = await session.get(Action, action_id)
        refusal = _refusal(settings, action, action_id, now)
        if action is not None and refusal is None:
            lease = timedelta(seconds=settings.remediation.lease_seconds)
            if action.status in actions.FINISHED:
                return action
            if not await actions.claim(session, action_id, now, lease):
                refusal = f"Plan #{action_id} was taken by another executor just now; nothing was done here."
            else:
                claimed = await session.get(Action, action_id)
                assert claimed is not None
                if claimed.started_at is None:
                    claimed.started_at = now
                    await _tell(session, action_id, "started", f"Executing plan #{action_id}…", True)
                else:
                    said = "Resuming after an interruption; finished steps are not made again."
                    await _tell(session, action_id, f"resumed:{now.isoformat()}", said)
                return claimed
        elif action is not None and action.status == "approved" and _expired(action, now):
            reason = "approved, not executed in time"
            if await actions.close(session, action_id, "expired", reason, "approved"):
                said = "Expired before it could be executed; nothing was changed."
                await _tell(session, action_id, "expired", said, True)
    raise NotRunnable(refusal)  # after the commit: an expiry is kept


def _expired(action: Action, now: datetime) -> bool:
    return action.expires_at is not None and action.expires_at <= now


def _refusal(settings: Settings, action: Action | None, action_id: int, now: datetime) -> str | None:
    """Why `action` may not be executed now; None when it may (or it is finished)."""
    if action is None or action.playbook not in remediation.PLAYBOOKS:
        raise UserError(f"There is no remediation plan #{action_id}; `finops-bot remediate list` shows them.")
    if action.status in actions.FINISHED:
        return None
    if action.status == "executing" and action.lease_until and action.lease_until > now:
        since = f" (since {action.started_at:%Y-%m-%d %H:%M} UTC)" if action.started_at else ""
        return f"Plan #{action_id} is being executed{since}; its results come in its thread."
    if action.status == "approved" and _expired(action, now):
        assert action.expires_at is not None
        return (
            f"Plan #{action_id} expired at {action.expires_at:%Y-%m-%d %H:%M} UTC before it was "
            "executed; nothing was changed. Make a fresh one: "
            f"finops-bot remediate plan --playbook {action.playbook}"
        )
    if action.status not in ("approved", "executing"):
        return not_approved(settings, action, now)
    if not settings.remediation.execute:
        return (
            f"Plan #{action_id} is approved, but execution is switched off ([remediation] execute = "
            "false in the config). Nothing was changed; it runs once execution is switched back on."
        )
    return None


def not_approved(settings: Settings, action: Action, now: datetime) -> str:
    role = settings.remediation.approver_role
    who = f"someone with the {role} role (or higher) other than the requester ({action.requested_by})"
    where = (
        f"click Approve on the plan's message in <#{action.slack_channel}>"
        if action.slack_channel
        else "click Approve on the plan's message in Slack (it is posted to the remediation channel)"
    )
    if action.status == actions.OPEN and action.expires_at and _expired(action, now):
        return (
            f"Plan #{action.id} expired at {action.expires_at:%Y-%m-%d %H:%M} UTC without an approval; "
            f"nothing was changed. Make a fresh one: finops-bot remediate plan --playbook {action.playbook}"
        )
    if action.status == actions.OPEN:
        return f"Plan #{action.id} is not approved; nothing was changed. It needs {who}: {where}."
    why = f': "{action.decision_reason}"' if action.decision_reason else ""
    by = f" by {action.decided_by}" if action.decided_by else ""
    return f"Plan #{action.id} was {action.status}{by}{why}; nothing was changed."


async def execute(
    engine: AsyncEngine,
    settings: Settings,
    action_id: int,
    *,
    actor: str = BOT,
    channel: str = "job",
    aws: Aws | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome:
    """Run the approved plan `action_id` once (or resume it); `NotRunnable` when it may not run."""
    action = await _claim(engine, settings, action_id, clock())
    async with unit_of_work(engine) as session:
        found = await actions.steps(session, action_id)
    if action.status in actions.FINISHED:
        return Outcome(action, found, ran=False)
    aws = aws or Aws()
    book = remediation.get(action.playbook)
    params = book.params(action.params)
    run = _Run(engine, settings, action, aws, actor, channel, clock)
    scan = scan_for(settings, aws, clock())
    groups: dict[int, list[ActionStep]] = {}
    for step in found:
        groups.setdefault(step.change, []).append(step)
    for group in groups.values():
        await run.change(group, book, params, scan)
    result = summary(action, found)
    async with unit_of_work(engine) as session:
        row = await session.get(Action, action_id)
        assert row is not None
        row.status, row.result, row.executed_at, row.lease_until = result["status"], result, clock(), None
        await audit.record(
            session,
            actor=actor,
            channel=channel,
            action="remediation.finished",
            subject_type="action",
            subject_id=str(action_id),
            details=result,
        )
        said = summary_text(result, len(row.plan["changes"]))
        await _tell(session, action_id, "finished", said, True)
    return Outcome(row, found, ran=True)


async def expire(engine: AsyncEngine, now: datetime) -> list[int]:
    """Proposals past their time: closed, and their messages say so."""
    async with unit_of_work(engine) as session:
        done = []
        for action_id in await actions.expired(session, now):
            if await actions.close(session, action_id, "expired", "not approved in time"):
                done.append(action_id)
                await _tell(
                    session, action_id, "expired", "Expired without an approval; nothing was changed.", True
                )
    return done


async def run_due(engine: AsyncEngine, settings: Settings, aws: Aws | None = None) -> list[int]:
    """The scheduler's pass: expire proposals, then run approved plans and resume dead executions."""
    now = utcnow()
    await expire(engine, now)
    if not settings.remediation.execute:
        return []
    async with unit_of_work(engine) as session:
        due = await actions.runnable(session, now, sorted(remediation.PLAYBOOKS))
    ran = []
    for action_id in due:
        try:
            await execute(engine, settings, action_id, aws=aws)
        except NotRunnable as why:
            log.info("remediation plan not run", action=action_id, why=str(why))
            continue
        ran.append(action_id)
    return ran
