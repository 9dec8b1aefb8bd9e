"""The five playbooks against moto's server: what they find, what they skip and why, the exact
calls and savings of each change, and the rechecks that drop a change before it runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from finops.errors import UserError
from finops.remediation import PLAYBOOKS, get
from finops.remediation.base import Aws, Playbook
from finops.remediation.model import Call, Change, Discovery, Skipped
from tests.finops.remediation.conftest import OPT_OUT, REGION, Seed, scan_at

IDLE = [1.0, 2.0, 0.5, 1.5, 1.2, 0.8, 2.0, 1.0, 1.1, 0.9, 1.4, 1.3, 0.7, 1.0]  # 14 days, peak 2.0%


def _discover(playbook: Playbook, aws: Aws, days_later: float = 0, **settings: object) -> Discovery:
    return playbook.discover(scan_at(aws, days_later), playbook.params(settings))


def _recheck(playbook: Playbook, aws: Aws, change: Change, days_later: float = 0) -> str | None:
    return playbook.recheck(scan_at(aws, days_later), playbook.params({}), change)


def _ids(found: Discovery) -> list[str]:
    return [change.resource_id for change in found.changes]


def _only(found: Discovery) -> Change:
    assert len(found.changes) == 1, found.changes
    return found.changes[0]


# ------------------------------------------------------------------------------------------- registry


def test_the_five_playbooks_are_registered_when_the_package_is_imported() -> None:
    assert sorted(PLAYBOOKS) == [
        "delete-idle-load-balancers",
        "delete-old-snapshots",
        "delete-unattached-volumes",
        "release-unassociated-eips",
        "stop-idle-instances",
    ]
    assert get("stop-idle-instances").title == "Stop idle EC2 instances"
    with pytest.raises(UserError, match="Unknown playbook 'stop-idle'; the playbooks are: delete-idle-load"):
        get("stop-idle")


def test_settings_have_defaults_and_a_wrong_key_is_named() -> None:
    assert get("stop-idle-instances").params({}).model_dump() == {"cpu_percent": 5.0, "days": 14}
    assert get("delete-unattached-volumes").params(None).model_dump() == {
        "min_age_days": 7,
        "snapshot_first": True,
    }
    assert get("delete-old-snapshots").params({}).model_dump() == {"older_than_days": 90}
    assert get("delete-idle-load-balancers").params({}).model_dump() == {"days": 14}
    with pytest.raises(UserError, match=r"\[remediation.playbooks.stop-idle-instances\] in the config: cpu"):
        get("stop-idle-instances").params({"cpu": 3})
    with pytest.raises(UserError, match="days"):
        get("stop-idle-instances").params({"days": 1})


# ------------------------------------------------------------------------------------------- stop-idle-instances


def test_idle_instances_are_found_and_unknown_or_opted_out_ones_skipped(fake_aws: Aws, seed: Seed) -> None:
    idle = seed.instance("m5.large", tags=[{"Key": "Name", "Value": "batch"}])
    busy = seed.instance()
    silent = seed.instance()
    short = seed.instance()
    opted = seed.instance(tags=OPT_OUT)
    scaled = seed.instance(tags=[{"Key": "aws:autoscaling:groupName", "Value": "web-asg"}])
    stopped = seed.instance()
    for instance_id in (idle, opted, scaled, stopped):
        seed.cpu(instance_id, IDLE)
    seed.cpu(busy, [*IDLE[:13], 40.0])
    seed.cpu(short, IDLE[:5])
    seed.ec2.stop_instances(InstanceIds=[stopped])

    found = _discover(PLAYBOOKS["stop-idle-instances"], fake_aws)

    change = _only(found)
    assert change.resource_id == idle and change.resource_type == "ec2:instance" and change.region == REGION
    assert change.calls == (Call("ec2", "stop_instances", REGION, {"InstanceIds": [idle]}),)
    assert change.saving_monthly == Decimal("70.08")
    assert change.saving_basis.startswith("m5.large in us-east-1: 0.096 USD/h x 730 h")
    assert "EBS volumes keep costing" in change.saving_basis and "root volume" not in change.saving_basis
    assert change.risk == "medium" and "start the instance again" in change.risk_note
    assert change.facts["name"] == "batch" and change.facts["instance_type"] == "m5.large"
    assert change.facts["CPU"].startswith("highest daily average 2.0% over 14 days")
    assert "daily Average" in change.facts["CPU"]
    assert sorted((s.resource_id, s.reason) for s in found.skipped) == sorted(
        [
            (
                silent,
                "CPU unknown: 0 daily CloudWatch datapoints in the last 14 days (needs 13); not treated as idle",
            ),
            (
                short,
                "CPU unknown: 5 daily CloudWatch datapoints in the last 14 days (needs 13); not treated as idle",
            ),
            (opted, "opted out: tagged finops:skip=true"),
            (scaled, "in Auto Scaling group web-asg: it would replace a stopped instance"),
        ]
    )
    assert Change.from_json(change.to_json()) == change


def test_the_cpu_threshold_and_window_come_from_the_settings(fake_aws: Aws, seed: Seed) -> None:
    instance_id = seed.instance()
    seed.cpu(instance_id, IDLE)
    playbook = PLAYBOOKS["stop-idle-instances"]
    assert _ids(_discover(playbook, fake_aws, cpu_percent=2)) == []  # 2.0% is not below 2
    assert _ids(_discover(playbook, fake_aws, cpu_percent=2.5)) == [instance_id]
    found = _discover(playbook, fake_aws, days=30)  # 14 days of data are too few for 30
    assert found.changes == [] and found.skipped[0].reason.startswith("CPU unknown: 14 daily")


def test_an_instance_type_missing_from_the_price_table_is_unpriced_not_zero(
    fake_aws: Aws, seed: Seed
) -> None:
    instance_id = seed.instance("c5n.18xlarge")
    seed.cpu(instance_id, IDLE)
    change = _only(_discover(PLAYBOOKS["stop-idle-instances"], fake_aws))
    assert change.saving_monthly is None
    assert (
        change.saving_basis
        == "not priced: instance type c5n.18xlarge not in price table 2026.11 for us-east-1"
    )


def test_instances_are_found_in_every_scanned_region(fake_aws: Aws) -> None:
    east, west = Seed(fake_aws, "us-east-1"), Seed(fake_aws, "us-west-2")
    east_id, west_id = east.instance(), west.instance("t3.micro")
    east.cpu(east_id, IDLE)
    west.cpu(west_id, IDLE)
    playbook = PLAYBOOKS["stop-idle-instances"]
    found = playbook.discover(scan_at(fake_aws, regions=("us-east-1", "us-west-2")), playbook.params({}))
    assert [(c.resource_id, c.region, c.saving_monthly) for c in found.changes] == [
        (east_id, "us-east-1", Decimal("70.08")),
        (west_id, "us-west-2", Decimal("7.592")),
    ]
    assert found.changes[1].calls[0].region == "us-west-2"


def test_recheck_drops_an_instance_that_was_stopped_opted_out_or_got_busy(fake_aws: Aws, seed: Seed) -> None:
    playbook = PLAYBOOKS["stop-idle-instances"]
    ids = [seed.instance() for _ in range(4)]
    for instance_id in ids:
        seed.cpu(instance_id, IDLE)
    changes = {c.resource_id: c for c in _discover(playbook, fake_aws).changes}
    assert set(changes) == set(ids)
    still, stopped, opted, busy = ids

    seed.ec2.stop_instances(InstanceIds=[stopped])
    seed.tag(opted, OPT_OUT)
    seed.cpu(busy, [30.0])  # yesterday's average becomes (1.0 + 30.0) / 2

    assert _recheck(playbook, fake_aws, changes[still]) is None
    assert (
        _recheck(playbook, fake_aws, changes[stopped])
        == "changed state: the instance is stopped, not running"
    )
    assert _recheck(playbook, fake_aws, changes[opted]) == "opted out: tagged finops:skip=true"
    reason = _recheck(playbook, fake_aws, changes[busy])
    assert reason is not None and reason.startswith("in use now: highest daily average 15.5% over 14 days")
    gone = Change.from_json({**changes[still].to_json(), "resource_id": "i-0123456789abcdef0"})
    assert _recheck(playbook, fake_aws, gone) == "gone: the instance no longer exists"


# ------------------------------------------------------------------------------------------- delete-unattached-volumes


def test_unattached_volumes_old_enough_are_found_with_a_snapshot_first(fake_aws: Aws, seed: Seed) -> None:
    volume = seed.volume(size=100, Iops=4000, Throughput=200, tags=[{"Key": "Name", "Value": "scratch"}])
    attached = seed.volume()
    seed.attach(attached, seed.instance())
    opted = seed.volume(tags=OPT_OUT)
    playbook = PLAYBOOKS["delete-unattached-volumes"]

    assert _discover(playbook, fake_aws, days_later=6) == Discovery([], [])  # younger than 7 days
    found = _discover(playbook, fake_aws, days_later=8)

    change = _only(found)
    assert change.resource_id == volume and change.resource_type == "ec2:volume"
    assert change.calls == (
        Call(
            "ec2",
            "create_snapshot",
            REGION,
            {"VolumeId": volume, "Description": f"finops-bot: {volume} before deleting it (unattached)"},
        ),
        Call("ec2", "delete_volume", REGION, {"VolumeId": volume}),
    )
    assert change.saving_monthly == Decimal("16")  # 100 GB x 0.08 + 1000 IOPS x 0.005 + 75 MB/s x 0.04
    assert change.saving_basis.startswith("volume gp3 in us-east-1: 0.08 USD/GB-month x 100 GB + volume IOPS")
    assert "the snapshot kept costs up to 5 USD/month (100 GB snapshot" in change.saving_basis
    assert "not subtracted" in change.saving_basis
    assert change.risk == "medium" and "create a volume from the snapshot" in change.risk_note
    assert change.facts["name"] == "scratch" and change.facts["size"] == "100 GB gp3"
    assert change.facts["created"].endswith("(8 days ago)")
    assert found.skipped == [Skipped(opted, REGION, "opted out: tagged finops:skip=true")]
    assert attached not in _ids(found)


def test_without_snapshot_first_a_volume_is_only_deleted_and_the_risk_is_high(
    fake_aws: Aws, seed: Seed
) -> None:
    volume = seed.volume(size=20, VolumeType="gp2")
    playbook = PLAYBOOKS["delete-unattached-volumes"]
    change = _only(_discover(playbook, fake_aws, days_later=1, snapshot_first=False, min_age_days=0))
    assert change.calls == (Call("ec2", "delete_volume", REGION, {"VolumeId": volume}),)
    assert change.saving_monthly == Decimal("2")
    assert "snapshot" not in change.saving_basis
    assert change.risk == "high" and "lost for good" in change.risk_note


def test_recheck_drops_a_volume_attached_deleted_or_opted_out_since(fake_aws: Aws, seed: Seed) -> None:
    playbook = PLAYBOOKS["delete-unattached-volumes"]
    still, attached, deleted, opted = (seed.volume(size=10) for _ in range(4))
    changes = {c.resource_id: c for c in _discover(playbook, fake_aws, days_later=8).changes}
    assert set(changes) == {still, attached, deleted, opted}
    instance_id = seed.instance()
    seed.attach(attached, instance_id)
    seed.ec2.delete_volume(VolumeId=deleted)
    seed.tag(opted, OPT_OUT)

    assert _recheck(playbook, fake_aws, changes[still], days_later=8) is None
    assert _recheck(playbook, fake_aws, changes[attached]) == f"attached now: in use by {instance_id}"
    assert _recheck(playbook, fake_aws, changes[deleted]) == "gone: the volume no longer exists"
    assert _recheck(playbook, fake_aws, changes[opted]) == "opted out: tagged finops:skip=true"


# ------------------------------------------------------------------------------------------- release-unassociated-eips


def test_unassociated_addresses_are_found_and_associated_ones_left(fake_aws: Aws, seed: Seed) -> None:
    free = seed.address(tags=[{"Key": "Name", "Value": "old-nat"}])
    used = seed.address()
    seed.ec2.associate_address(AllocationId=used, InstanceId=seed.instance())
    opted = seed.address(tags=OPT_OUT)

    found = _discover(PLAYBOOKS["release-unassociated-eips"], fake_aws)

    change = _only(found)
    assert change.resource_id == free and change.resource_type == "ec2:elastic-ip"
    assert change.calls == (Call("ec2", "release_address", REGION, {"AllocationId": free}),)
    assert change.saving_monthly == Decimal("3.65")
    assert change.saving_basis == "public IPv4 address in us-east-1: 0.005 USD/h x 730 h"
    assert change.risk == "medium" and "cannot be got back" in change.risk_note
    assert change.facts["name"] == "old-nat" and change.facts["public_ip"]
    assert found.skipped == [Skipped(opted, REGION, "opted out: tagged finops:skip=true")]


def test_recheck_drops_an_address_associated_or_released_since(fake_aws: Aws, seed: Seed) -> None:
    playbook = PLAYBOOKS["release-unassociated-eips"]
    still, associated, released = (seed.address() for _ in range(3))
    changes = {c.resource_id: c for c in _discover(playbook, fake_aws).changes}
    instance_id = seed.instance()
    seed.ec2.associate_address(AllocationId=associated, InstanceId=instance_id)
    seed.ec2.release_address(AllocationId=released)

    assert _recheck(playbook, fake_aws, changes[still]) is None
    assert _recheck(playbook, fake_aws, changes[associated]) == f"associated now: with instance {instance_id}"
    assert _recheck(playbook, fake_aws, changes[released]) == "gone: the address was released"


# ------------------------------------------------------------------------------------------- delete-old-snapshots


def test_old_snapshots_are_found_and_those_of_an_ami_skipped(fake_aws: Aws, seed: Seed) -> None:
    volume = seed.volume(size=100)
    old = seed.snapshot(volume, tags=[{"Key": "Name", "Value": "nightly"}])
    opted = seed.snapshot(volume, tags=OPT_OUT)
    kept = seed.snapshot(volume, tags=[{"Key": "aws:dlm:lifecycle-policy-id", "Value": "policy-0a1"}])
    image_id, of_image = seed.image()
    playbook = PLAYBOOKS["delete-old-snapshots"]

    assert _discover(playbook, fake_aws, days_later=80) == Discovery([], [])
    found = _discover(playbook, fake_aws, days_later=91)

    change = _only(found)
    assert change.resource_id == old and change.resource_type == "ec2:snapshot"
    assert change.calls == (Call("ec2", "delete_snapshot", REGION, {"SnapshotId": old}),)
    assert change.saving_monthly == Decimal("5")
    assert change.saving_basis.startswith(
        "100 GB snapshot in us-east-1: 0.05 USD/GB-month x 100 GB; an upper bound"
    )
    assert "incremental" in change.saving_basis
    assert change.risk == "high" and "Irreversible" in change.risk_note
    assert change.facts["name"] == "nightly" and change.facts["volume"] == f"{volume} (100 GB)"
    assert sorted(found.skipped, key=lambda s: s.reason) == [
        Skipped(kept, REGION, "kept by Data Lifecycle Manager policy policy-0a1"),
        Skipped(opted, REGION, "opted out: tagged finops:skip=true"),
        Skipped(of_image, REGION, f"used by AMI {image_id}"),
    ]


def test_recheck_drops_a_snapshot_deleted_opted_out_or_now_used_by_an_ami(fake_aws: Aws, seed: Seed) -> None:
    playbook = PLAYBOOKS["delete-old-snapshots"]
    volume = seed.volume(size=10)
    still, deleted, opted = (seed.snapshot(volume) for _ in range(3))
    changes = {c.resource_id: c for c in _discover(playbook, fake_aws, days_later=91).changes}
    assert set(changes) == {still, deleted, opted}
    seed.ec2.delete_snapshot(SnapshotId=deleted)
    seed.tag(opted, OPT_OUT)
    # Moto cannot point a new AMI at an existing snapshot: plan the AMI's own snapshot instead.
    image_id, of_image = seed.image()
    used = Change.from_json({**changes[still].to_json(), "resource_id": of_image})

    assert _recheck(playbook, fake_aws, changes[still]) is None
    assert _recheck(playbook, fake_aws, changes[deleted]) == "gone: the snapshot no longer exists"
    assert _recheck(playbook, fake_aws, changes[opted]) == "opted out: tagged finops:skip=true"
    assert _recheck(playbook, fake_aws, used) == f"now used by AMI {image_id}"


# ------------------------------------------------------------------------------------------- delete-idle-load-balancers


def test_idle_load_balancers_are_found_and_busy_or_protected_ones_left(fake_aws: Aws, seed: Seed) -> None:
    scan = scan_at(fake_aws, days_later=15)
    empty = seed.load_balancer("empty", tags=[{"Key": "team", "Value": "web"}])
    quiet = seed.load_balancer("quiet")
    seed.target(quiet, seed.instance())
    busy = seed.load_balancer("busy")
    seed.target(busy, seed.instance())
    seed.requests(busy, 120, scan.now - timedelta(days=2))
    network = seed.load_balancer("tcp", kind="network")
    opted = seed.load_balancer("keep", tags=OPT_OUT)
    protected = seed.load_balancer("protected")
    seed.aws.client("elbv2", REGION).modify_load_balancer_attributes(
        LoadBalancerArn=protected, Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]
    )
    playbook = PLAYBOOKS["delete-idle-load-balancers"]

    assert _discover(playbook, fake_aws, days_later=13) == Discovery([], [])  # younger than 14 days
    found = playbook.discover(scan, playbook.params({}))

    changes = {c.facts["name"]: c for c in found.changes}
    assert sorted(changes) == ["empty", "quiet", "tcp"]
    first = changes["empty"]
    assert first.resource_id == empty and first.resource_type == "elbv2:loadbalancer"
    assert first.calls == (Call("elbv2", "delete_load_balancer", REGION, {"LoadBalancerArn": empty}),)
    assert first.saving_monthly == Decimal("16.425")
    assert first.saving_basis.startswith("application load balancer in us-east-1: 0.0225 USD/h x 730 h")
    assert first.risk == "medium" and "DNS name" in first.risk_note
    assert first.facts["idle"] == "no registered targets (0 target groups)"
    assert (
        changes["quiet"]
        .facts["idle"]
        .startswith("0 RequestCount in 14 days (AWS/ApplicationELB RequestCount")
    )
    assert changes["quiet"].facts["targets"] == "1 registered in 1 target groups"
    assert changes["tcp"].resource_id == network and changes["tcp"].saving_basis.startswith(
        "network load balancer"
    )
    assert sorted((s.resource_id, s.reason) for s in found.skipped) == sorted(
        [
            (opted, "opted out: tagged finops:skip=true"),
            (protected, "deletion protection is on: turn it off to let the bot delete it"),
        ]
    )
    assert busy not in [c.resource_id for c in found.changes]


def test_recheck_drops_a_load_balancer_used_deleted_or_opted_out_since(fake_aws: Aws, seed: Seed) -> None:
    playbook = PLAYBOOKS["delete-idle-load-balancers"]
    scan = scan_at(fake_aws, days_later=15)
    still, used, deleted, opted = (seed.load_balancer(name) for name in ("still", "used", "deleted", "opted"))
    changes = {c.resource_id: c for c in playbook.discover(scan, playbook.params({})).changes}
    assert set(changes) == {still, used, deleted, opted}
    seed.target(used, seed.instance())
    seed.requests(used, 5, scan.now - timedelta(days=1))
    elb = seed.aws.client("elbv2", REGION)
    elb.delete_load_balancer(LoadBalancerArn=deleted)
    elb.add_tags(ResourceArns=[opted], Tags=OPT_OUT)

    def recheck(arn: str) -> str | None:
        return playbook.recheck(scan, playbook.params({}), changes[arn])

    assert recheck(still) is None
    assert (
        recheck(used)
        == "in use now: 1 registered targets and 5 RequestCount in 14 days (AWS/ApplicationELB RequestCount, daily Sum)"
    )
    assert recheck(deleted) == "gone: the load balancer no longer exists"
    assert recheck(opted) == "opted out: tagged finops:skip=true"
