"""Remediation plans against moto's server: proposed once with every call dry-run proven, run once
after an approval, resources checked again before they are touched, the kill switch, expiry, a
partial failure said exactly, and a restart in the middle of execution that resumes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Remediation, Settings, load_settings
from jobs import remediate
from storage import actions, audit
from storage.db import connect, unit_of_work
from storage.migrate import upgrade
from storage.models import Action, OutboxItem
from storage.types import utcnow
from tests import aws_seed
from tests.fakes.aws import Hold, Network, network

CHANNEL = "C0REMEDY"
REQUESTER, APPROVER = "U0ENG", "U0ADMIN"
PLAYBOOKS = ["stop-idle-instances", "delete-unattached-volumes", "release-unassociated-eips"]


def settings(**changes: Any) -> Settings:
    options: dict[str, Any] = {
        "channel": CHANNEL,
        "regions": [aws_seed.REGION],
        "playbooks": {"delete-unattached-volumes": {"min_age_days": 0}},
    } | changes
    return load_settings(remediation=Remediation(**options))


async def propose(engine: AsyncEngine, config: Settings | None = None, **kwargs: Any) -> dict[str, Action]:
    """The plans made, by playbook."""
    kwargs.setdefault("playbooks", PLAYBOOKS)
    found = await remediate.propose(engine, config or settings(), requested_by=REQUESTER, **kwargs)
    return {p.playbook: p.action for p in found if p.action is not None}


async def approve(engine: AsyncEngine, action_id: int, now: Any = None) -> None:
    async with unit_of_work(engine) as session:
        assert await actions.decide(session, action_id, "approved", APPROVER, now=now)


async def steps(engine: AsyncEngine, action_id: int) -> list[tuple[str, str, str]]:
    async with unit_of_work(engine) as session:
        return [(s.api, s.resource_id, s.status) for s in await actions.steps(session, action_id)]


async def thread(engine: AsyncEngine, action_id: int) -> list[str]:
    """What the plan's Slack thread is told (the outbox, in order)."""
    async with unit_of_work(engine) as session:
        items = await session.scalars(
            select(OutboxItem).where(OutboxItem.kind != "slack.approval.root").order_by(OutboxItem.id)
        )
        return [i.payload.get("text", "") for i in items if i.payload.get("action_id") == action_id]


async def fetch(engine: AsyncEngine, action_id: int) -> Action:
    async with unit_of_work(engine) as session:
        found = await session.get(Action, action_id)
    assert found is not None
    return found


@pytest.fixture
def account(aws: str) -> aws_seed.Account:
    return aws_seed.account()


async def test_a_plan_is_proven_stored_once_and_posted_and_changes_nothing(
    engine: AsyncEngine, account: aws_seed.Account
) -> None:
    plans = await propose(engine)
    assert set(plans) == set(PLAYBOOKS)
    stop = plans["stop-idle-instances"]
    assert [c["resource_id"] for c in stop.plan["changes"]] == [account.idle]  # the busy one is left
    assert stop.status == "proposed" and stop.estimated_savings == Decimal("70.08")
    assert stop.expires_at is not None and stop.expires_at - stop.created_at == timedelta(hours=72)
    volumes = plans["delete-unattached-volumes"]
    assert [c["resource_id"] for c in volumes.plan["changes"]] == [account.volume]
    assert any(
        s["resource_id"] == account.kept_volume and "finops:skip" in s["reason"]
        for s in volumes.plan["skipped"]
    )
    assert await steps(engine, volumes.id) == [
        ("ec2:CreateSnapshot", account.volume, "pending"),
        ("ec2:DeleteVolume", account.volume, "pending"),
    ]
    assert await steps(engine, plans["release-unassociated-eips"].id) == [
        ("ec2:ReleaseAddress", account.address, "pending")
    ]
    # Nothing changed in AWS: a plan is a dry run.
    assert aws_seed.state(account.idle) == "running"
    assert account.volume in aws_seed.volumes() and account.address in aws_seed.addresses()
    assert aws_seed.snapshots_of(account.volume) == []
    async with unit_of_work(engine) as session:
        posts = list(
            await session.scalars(select(OutboxItem).where(OutboxItem.kind == "slack.approval.root"))
        )
        proposed = [a.action for a in await audit.entries(session, "action", str(stop.id))]
    assert sorted(p.payload["action_id"] for p in posts) == sorted(a.id for a in plans.values())
    assert {p.payload["channel"] for p in posts} == {CHANNEL}
    assert proposed == ["remediation.proposed"]

    again = await propose(engine)  # the same findings: the same plans, not posted twice
    assert {k: a.id for k, a in again.items()} == {k: a.id for k, a in plans.items()}
    async with unit_of_work(engine) as session:
        assert len(list(await session.scalars(select(OutboxItem)))) == 3

    second = aws_seed.address()  # something new: a fresh plan replaces the waiting one
    newer = (await propose(engine, playbooks=["release-unassociated-eips"]))["release-unassociated-eips"]
    assert newer.id != plans["release-unassociated-eips"].id
    assert {c["resource_id"] for c in newer.plan["changes"]} == {account.address, second}
    older = await fetch(engine, plans["release-unassociated-eips"].id)
    assert older.status == "superseded"
    assert f"Superseded by plan #{newer.id}." in await thread(engine, older.id)

    for allocation in (account.address, second):  # released by hand: nothing left to propose
        aws_seed.client("ec2").release_address(AllocationId=allocation)
    assert await propose(engine, playbooks=["release-unassociated-eips"]) == {}
    assert (await fetch(engine, newer.id)).status == "superseded"


async def test_an_approved_plan_runs_once_with_every_step_audited_and_told(
    engine: AsyncEngine, account: aws_seed.Account
) -> None:
    plans = await propose(engine)
    volumes = plans["delete-unattached-volumes"]
    await approve(engine, volumes.id)
    outcome = await remediate.execute(engine, settings(), volumes.id)
    assert outcome.ran and outcome.action.status == "done"
    assert account.volume not in aws_seed.volumes() and account.kept_volume in aws_seed.volumes()
    [snapshot] = aws_seed.snapshots_of(account.volume)
    assert {"Key": "finops:remediation-step", "Value": f"action-{volumes.id}-step-1"} in snapshot["Tags"]
    assert await steps(engine, volumes.id) == [
        ("ec2:CreateSnapshot", account.volume, "done"),
        ("ec2:DeleteVolume", account.volume, "done"),
    ]
    assert outcome.action.result == {
        "status": "done",
        "done": [account.volume],
        "failed": [],
        "dropped": [],
        "saving_monthly": volumes.plan["saving_monthly"],
    }
    said = await thread(engine, volumes.id)
    assert said[0] == f"Executing plan #{volumes.id}…"
    assert said[1].startswith(f":white_check_mark: `ec2:CreateSnapshot` {account.volume} (us-east-1): done")
    assert said[-1].startswith("Finished: 1 of 1 changes made.")
    async with unit_of_work(engine) as session:
        trail = [e.action for e in await audit.entries(session, "action", str(volumes.id))]
    assert trail == ["remediation.proposed", *["remediation.step_done"] * 2, "remediation.finished"]

    # A second run (a double click, a retry, the scheduler) does nothing.
    again = await remediate.execute(engine, settings(), volumes.id)
    assert not again.ran and len(aws_seed.snapshots_of(account.volume)) == 1
    async with unit_of_work(engine) as session:
        attempts = [s.attempts for s in await actions.steps(session, volumes.id)]
    assert attempts == [1, 1]
    # Other plans are untouched until they are approved.
    assert aws_seed.state(account.idle) == "running" and account.address in aws_seed.addresses()


async def test_what_changed_since_the_plan_is_dropped_and_said(
    engine: AsyncEngine, account: aws_seed.Account
) -> None:
    other = aws_seed.address()
    plan = (await propose(engine))["release-unassociated-eips"]
    await approve(engine, plan.id)
    ec2 = aws_seed.client("ec2")
    ec2.create_tags(Resources=[other], Tags=[{"Key": "finops:skip", "Value": "TRUE"}])
    outcome = await remediate.execute(engine, settings(), plan.id)
    assert account.address not in aws_seed.addresses() and other in aws_seed.addresses()
    assert outcome.action.status == "done"
    assert outcome.action.result["dropped"] == [other] and outcome.action.result["done"] == [account.address]
    said = "\n".join(await thread(engine, plan.id))
    assert f"{other} dropped, nothing done to it" in said and "finops:skip" in said


async def test_nothing_runs_without_an_approval_or_with_the_kill_switch(
    engine: AsyncEngine, account: aws_seed.Account
) -> None:
    plan = (await propose(engine))["stop-idle-instances"]
    with pytest.raises(remediate.NotRunnable) as refused:
        await remediate.execute(engine, settings(), plan.id)
    assert "is not approved" in str(refused.value) and "admin role" in str(refused.value)
    assert REQUESTER in str(refused.value)
    await approve(engine, plan.id)
    with pytest.raises(remediate.NotRunnable) as off:
        await remediate.execute(engine, settings(execute=False), plan.id)
    assert "switched off" in str(off.value)
    assert await remediate.run_due(engine, settings(execute=False)) == []
    assert aws_seed.state(account.idle) == "running"
    assert (await fetch(engine, plan.id)).status == "approved"
    assert await remediate.run_due(engine, settings()) == [plan.id]  # switched back on: it runs
    assert aws_seed.state(account.idle) in ("stopping", "stopped")


async def test_a_plan_expires_and_can_then_be_neither_approved_nor_run(
    engine: AsyncEngine, account: aws_seed.Account
) -> None:
    plans = await propose(engine, config=settings(expire_hours=1))
    stop, eips = plans["stop-idle-instances"], plans["release-unassociated-eips"]
    later = utcnow() + timedelta(hours=2)
    async with unit_of_work(engine) as session:
        assert not await actions.decide(session, stop.id, "approved", APPROVER, now=later)
    await approve(engine, eips.id)  # approved in time, but not executed before it expired
    waiting = sorted(a.id for a in plans.values() if a.id != eips.id)
    assert sorted(await remediate.expire(engine, later)) == waiting
    assert (await fetch(engine, stop.id)).status == "expired"
    with pytest.raises(remediate.NotRunnable, match="expired"):
        await remediate.execute(engine, settings(), eips.id, clock=lambda: later)
    assert (await fetch(engine, eips.id)).status == "expired"
    assert account.address in aws_seed.addresses()


@pytest.fixture
def net(aws: str, clean_env: pytest.MonkeyPatch) -> Iterator[Network]:
    with network(aws) as proxy:
        clean_env.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


async def test_a_partial_failure_says_exactly_what_was_and_was_not_done(
    engine: AsyncEngine, net: Network
) -> None:
    first, second, third = aws_seed.volume(), aws_seed.volume(size=20), aws_seed.volume(size=30)
    plan = (await propose(engine, playbooks=["delete-unattached-volumes"]))["delete-unattached-volumes"]
    await approve(engine, plan.id)
    net.refuse = [
        (b"Action=CreateSnapshot", f"VolumeId={second}".encode()),  # the snapshot is refused
        (b"Action=DescribeVolumes", f"VolumeId.1={third}".encode()),  # it cannot be checked again
    ]
    outcome = await remediate.execute(engine, settings(), plan.id)
    assert outcome.action.status == "partial"
    assert outcome.action.result["done"] == [first]
    assert sorted(outcome.action.result["failed"]) == sorted([second, third])
    assert {second, third} <= aws_seed.volumes() and first not in aws_seed.volumes()
    assert aws_seed.snapshots_of(third) == []  # not checked again: not touched at all
    by_resource = {(api, rid): status for api, rid, status in await steps(engine, plan.id)}
    assert by_resource[("ec2:CreateSnapshot", second)] == "failed"
    assert by_resource[("ec2:DeleteVolume", second)] == "skipped"
    assert by_resource[("ec2:CreateSnapshot", third)] == "failed"
    assert by_resource[("ec2:DeleteVolume", third)] == "skipped"
    said = "\n".join(await thread(engine, plan.id))
    assert (
        "UnauthorizedOperation" in said and "not made: the step before it (ec2:CreateSnapshot) failed" in said
    )
    assert "could not check it again first" in said
    assert "2 failed (" in said and "1 of 3 changes made" in said


@pytest.mark.parametrize("after_aws", [False, True], ids=["call-lost", "answer-lost"])
async def test_a_restart_in_the_middle_resumes_and_makes_no_call_twice(
    database_url: str, net: Network, after_aws: bool
) -> None:
    """The executor dies while AWS is deleting the second of three volumes (before or after AWS
    made the call). A new process, once the lease is over, resumes: finished steps are not made
    again, the interrupted one only if its effect is not there."""
    first, second, third = aws_seed.volume(), aws_seed.volume(), aws_seed.volume()
    config = settings(playbooks={"delete-unattached-volumes": {"min_age_days": 0, "snapshot_first": False}})
    engine = connect(database_url)
    await upgrade(engine)
    plan = (await propose(engine, config, playbooks=["delete-unattached-volumes"]))[
        "delete-unattached-volumes"
    ]
    order = [c["resource_id"] for c in plan.plan["changes"]]
    dry_runs = [net.calls(b"Action=DeleteVolume", f"VolumeId={v}".encode()) for v in order]
    await approve(engine, plan.id)
    net.hold = Hold((b"Action=DeleteVolume", f"VolumeId={order[1]}".encode()), after_aws=after_aws)
    running = asyncio.create_task(remediate.execute(engine, config, plan.id))
    assert await asyncio.to_thread(net.hold.held.wait, 30)  # the call is in flight...
    running.cancel()  # ...and the process dies
    with pytest.raises(asyncio.CancelledError):
        await running
    await engine.dispose()
    net.hold = None

    restarted = connect(database_url)
    try:
        assert await steps(restarted, plan.id) == [
            ("ec2:DeleteVolume", order[0], "done"),
            ("ec2:DeleteVolume", order[1], "running"),
            ("ec2:DeleteVolume", order[2], "pending"),
        ]
        with pytest.raises(remediate.NotRunnable, match="being executed"):  # its lease still holds
            await remediate.execute(restarted, config, plan.id)
        after_lease = utcnow() + timedelta(seconds=config.remediation.lease_seconds + 1)
        outcome = await remediate.execute(restarted, config, plan.id, clock=lambda: after_lease)
        assert outcome.ran and outcome.action.status == "done"
        assert not ({first, second, third} & aws_seed.volumes())
        # Each delete reached AWS exactly once: the lost call was made on resume, the call whose
        # answer was lost was found made and not made again.
        made = [net.calls(b"Action=DeleteVolume", f"VolumeId={v}".encode()) for v in order]
        assert [m - d for m, d in zip(made, dry_runs, strict=True)] == [1, 1, 1]
        async with unit_of_work(restarted) as session:
            middle = next(s for s in await actions.steps(session, plan.id) if s.resource_id == order[1])
        assert middle.status == "done"
        assert (middle.result == {"verified": "after a restart"}) is after_aws
        assert "Resuming after an interruption" in "\n".join(await thread(restarted, plan.id))
    finally:
        await restarted.dispose()


async def test_without_a_channel_nothing_is_queued_for_slack(engine: AsyncEngine, aws: str) -> None:
    address = aws_seed.address()
    config = settings(channel=None)
    plan = (await propose(engine, config, playbooks=["release-unassociated-eips"]))[
        "release-unassociated-eips"
    ]
    await approve(engine, plan.id)
    outcome = await remediate.execute(engine, config, plan.id)
    assert outcome.action.status == "done" and address not in aws_seed.addresses()
    async with unit_of_work(engine) as session:
        assert list(await session.scalars(select(OutboxItem))) == []  # no post that could never be made
