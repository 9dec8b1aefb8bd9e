"""The generic call layer against moto's server: dry runs, repeatable calls, and verification."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from finops.errors import UserError
from finops.remediation.base import Aws
from finops.remediation.model import Call, DryRun
from finops.remediation.operations import STEP_TAG, CallFailed, dry_run, perform, snapshots_of_step, verify
from tests.finops.remediation.conftest import REGION, Seed


def _call(operation: str, service: str = "ec2", **params: object) -> Call:
    return Call(service, operation, REGION, dict(params))


def _volume_state(seed: Seed, volume_id: str) -> str:
    return str(seed.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"])


# ------------------------------------------------------------------------------------------- dry runs


def test_ec2_dry_runs_are_permitted_and_change_nothing(fake_aws: Aws, seed: Seed) -> None:
    instance_id = seed.instance()
    volume_id = seed.volume()
    snapshot_id = seed.snapshot(volume_id)
    allocation_id = seed.address()
    calls = [
        _call("stop_instances", InstanceIds=[instance_id]),
        _call("create_snapshot", VolumeId=volume_id, Description="before delete"),
        _call("delete_volume", VolumeId=volume_id),
        _call("release_address", AllocationId=allocation_id),
        _call("delete_snapshot", SnapshotId=snapshot_id),
    ]

    for call in calls:
        assert dry_run(fake_aws, call) == DryRun(True, "DryRun: permitted"), call.api

    reservations = seed.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert reservations[0]["Instances"][0]["State"]["Name"] == "running"
    assert _volume_state(seed, volume_id) == "available"
    assert [s["SnapshotId"] for s in seed.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]] == [
        snapshot_id
    ]
    assert len(seed.ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]) == 1


def test_a_dry_run_for_a_resource_that_does_not_exist_fails_with_the_aws_error(fake_aws: Aws) -> None:
    result = dry_run(fake_aws, _call("delete_volume", VolumeId="vol-0123456789abcdef0"))
    assert not result.ok
    assert result.detail.startswith("InvalidVolume.NotFound")
    assert "checking that the volume exists" in result.detail

    result = dry_run(fake_aws, _call("stop_instances", InstanceIds=["i-0123456789abcdef0"]))
    assert not result.ok and result.detail.startswith("InvalidInstanceID.NotFound")


def test_a_dry_run_the_identity_may_not_make_is_reported_with_the_code(
    restricted: Callable[[], Aws], seed: Seed
) -> None:
    volume_id = seed.volume()
    result = dry_run(restricted(), _call("delete_volume", VolumeId=volume_id))
    assert not result.ok
    assert result.detail.startswith("AccessDenied")  # real EC2 says UnauthorizedOperation
    assert "ec2:DeleteVolume" in result.detail


def test_a_load_balancer_has_no_dry_run_form_so_its_existence_is_checked(fake_aws: Aws, seed: Seed) -> None:
    arn = seed.load_balancer("web")
    result = dry_run(fake_aws, _call("delete_load_balancer", "elbv2", LoadBalancerArn=arn))
    assert result == DryRun(True, f"no DryRun form in the API; checked that the load balancer {arn} exists")

    missing = dry_run(fake_aws, _call("delete_load_balancer", "elbv2", LoadBalancerArn=arn + "0"))
    assert not missing.ok and missing.detail.startswith("LoadBalancerNotFound")


def test_an_unknown_operation_is_a_clear_error(fake_aws: Aws) -> None:
    call = _call("terminate_instances", InstanceIds=["i-1"])
    for attempt in (
        lambda: dry_run(fake_aws, call),
        lambda: perform(fake_aws, call, "t"),
        lambda: verify(fake_aws, call, "t"),
    ):
        with pytest.raises(
            UserError, match=r"ec2\.terminate_instances \(ec2:TerminateInstances\) is not an operation"
        ):
            attempt()
    with pytest.raises(UserError, match=r"it runs: ec2\.create_snapshot, ec2\.delete_snapshot"):
        perform(fake_aws, call, "t")


# ------------------------------------------------------------------------------------------- perform and verify


def test_stopping_an_instance_is_verified_and_safe_to_repeat(fake_aws: Aws, seed: Seed) -> None:
    instance_id = seed.instance()
    call = _call("stop_instances", InstanceIds=[instance_id])
    assert verify(fake_aws, call, "action-1-step-1") is False

    assert perform(fake_aws, call, "action-1-step-1") == {"instance_id": instance_id, "state": "stopping"}
    assert verify(fake_aws, call, "action-1-step-1") is True
    again = perform(fake_aws, call, "action-1-step-1")
    assert again["instance_id"] == instance_id
    assert verify(fake_aws, call, "action-1-step-1") is True


def test_stopping_an_instance_that_no_longer_exists_counts_as_done(fake_aws: Aws) -> None:
    call = _call("stop_instances", InstanceIds=["i-0123456789abcdef0"])
    result = perform(fake_aws, call, "t")
    assert result["already_done"] is True and result["detail"].startswith("InvalidInstanceID.NotFound")
    assert verify(fake_aws, call, "t") is True  # nothing runs


def test_create_snapshot_is_idempotent_through_its_token(fake_aws: Aws, seed: Seed) -> None:
    volume_id = seed.volume(size=20)
    call = _call("create_snapshot", VolumeId=volume_id, Description="finops-bot: before deleting")
    token = "action-12-step-3"
    assert dry_run(fake_aws, call).ok
    assert verify(fake_aws, call, token) is False  # a dry run makes no snapshot

    first = perform(fake_aws, call, token)
    second = perform(fake_aws, call, token)

    assert first["snapshot_id"].startswith("snap-") and "reused" not in first
    assert second == {"snapshot_id": first["snapshot_id"], "state": first["state"], "reused": True}
    snapshots = seed.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert [s["SnapshotId"] for s in snapshots] == [first["snapshot_id"]]
    assert {"Key": STEP_TAG, "Value": token} in snapshots[0]["Tags"]
    assert snapshots[0]["Description"] == "finops-bot: before deleting"
    assert verify(fake_aws, call, token) is True
    assert verify(fake_aws, call, "action-12-step-4") is False
    assert [s["SnapshotId"] for s in snapshots_of_step(seed.ec2, token)] == [first["snapshot_id"]]

    other = perform(fake_aws, call, "action-13-step-1")  # another step makes its own snapshot
    assert other["snapshot_id"] != first["snapshot_id"]


@pytest.mark.parametrize(
    "operation", ["delete_volume", "release_address", "delete_snapshot", "delete_load_balancer"]
)
def test_deletes_are_verified_and_count_already_gone_as_done(
    fake_aws: Aws, seed: Seed, operation: str
) -> None:
    if operation == "delete_volume":
        key, resource, service = "VolumeId", seed.volume(), "ec2"
    elif operation == "release_address":
        key, resource, service = "AllocationId", seed.address(), "ec2"
    elif operation == "delete_snapshot":
        key, resource, service = "SnapshotId", seed.snapshot(seed.volume()), "ec2"
    else:
        key, resource, service = "LoadBalancerArn", seed.load_balancer("old"), "elbv2"
    call = _call(operation, service, **{key: resource})
    verb = "released" if operation == "release_address" else "deleted"

    assert verify(fake_aws, call, "t") is False
    assert perform(fake_aws, call, "t") == {verb: resource}
    assert verify(fake_aws, call, "t") is True
    again = perform(fake_aws, call, "t")
    assert again in ({verb: resource}, {"already_done": True, "detail": again.get("detail")})
    assert verify(fake_aws, call, "t") is True
    assert dry_run(fake_aws, call).ok is False  # nothing left to act on


def test_deleting_a_volume_twice_reports_the_second_as_already_done(fake_aws: Aws, seed: Seed) -> None:
    volume_id = seed.volume()
    call = _call("delete_volume", VolumeId=volume_id)
    perform(fake_aws, call, "t")
    again = perform(fake_aws, call, "t")
    assert again["already_done"] is True and again["detail"].startswith("InvalidVolume.NotFound")


def test_a_refused_call_raises_call_failed_with_the_code(fake_aws: Aws, seed: Seed) -> None:
    volume_id = seed.volume()
    seed.attach(volume_id, seed.instance())
    with pytest.raises(
        CallFailed, match=rf"ec2:DeleteVolume on {volume_id} in us-east-1 failed: VolumeInUse"
    ) as failed:
        perform(fake_aws, _call("delete_volume", VolumeId=volume_id), "t")
    assert failed.value.code == "VolumeInUse"
    assert _volume_state(seed, volume_id) == "in-use"


def test_a_denied_call_says_which_permission_to_grant(restricted: Callable[[], Aws], seed: Seed) -> None:
    volume_id = seed.volume()
    with pytest.raises(CallFailed, match=r"allow ec2:DeleteVolume in the IAM policy") as failed:
        perform(restricted(), _call("delete_volume", VolumeId=volume_id), "t")
    assert failed.value.code == "AccessDenied"


def test_missing_credentials_say_how_to_set_them(fake_aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    call = _call("delete_volume", VolumeId="vol-0123456789abcdef0")
    with pytest.raises(UserError, match="no AWS credentials found; set AWS_PROFILE"):
        perform(Aws(), call, "t")
    with pytest.raises(UserError, match="no AWS credentials found"):
        dry_run(Aws(), call)


def test_a_volume_change_runs_end_to_end_as_the_executor_would(fake_aws: Aws, seed: Seed) -> None:
    volume_id = seed.volume(size=50)
    calls = [
        _call("create_snapshot", VolumeId=volume_id, Description="finops-bot"),
        _call("delete_volume", VolumeId=volume_id),
    ]
    assert all(dry_run(fake_aws, call).ok for call in calls)
    for number, call in enumerate(calls, start=1):
        token = f"action-7-step-{number}"
        if not verify(fake_aws, call, token):
            perform(fake_aws, call, token)
        assert verify(fake_aws, call, token)
    # A resume after a crash finds every step in place and makes nothing again.
    assert all(verify(fake_aws, call, f"action-7-step-{n}") for n, call in enumerate(calls, start=1))
    snapshots = seed.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    assert [(s["VolumeId"], s["VolumeSize"]) for s in snapshots] == [(volume_id, 50)]
    assert seed.ec2.describe_volumes()["Volumes"] == []
