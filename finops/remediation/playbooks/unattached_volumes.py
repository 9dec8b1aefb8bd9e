"""`delete-unattached-volumes`: delete EBS volumes left `available` (attached to nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from finops.policy.prices import estimate
from finops.remediation import register
from finops.remediation.base import AnyParams, Params, Scan
from finops.remediation.model import Call, Change, Skipped
from finops.remediation.operations import aws_errors
from finops.remediation.playbooks._common import (
    RegionalPlaybook,
    Saving,
    age_days,
    day,
    first_or_none,
    opted_out,
    paginate,
    price,
    settings,
    tags_of,
    with_name,
)

RESOURCE_TYPE = "ec2:volume"


class DeleteUnattachedVolumesParams(Params):
    """`[remediation.playbooks.delete-unattached-volumes]`."""

    min_age_days: int = Field(default=7, ge=0)  # only volumes created at least this many days ago
    snapshot_first: bool = True  # snapshot each volume before deleting it (restorable, costs a little)


def _created(volume: dict[str, Any]) -> datetime | None:
    created = volume.get("CreateTime")
    return created if isinstance(created, datetime) else None


def saving(scan: Scan, volume: dict[str, Any], region: str, snapshot_first: bool) -> Saving:
    size = volume.get("Size")
    values = {
        "type": volume.get("VolumeType"),
        "size": size,
        "iops": volume.get("Iops"),
        "throughput": volume.get("Throughput"),
    }
    notes: list[str] = []
    if snapshot_first:
        snapshot = estimate("aws_ebs_snapshot", {"size": size}, region, scan.prices)
        if snapshot.monthly is None:
            notes.append(f"the snapshot kept costs extra (not priced: {snapshot.basis}); not subtracted")
        else:
            notes.append(
                f"the snapshot kept costs up to {snapshot.monthly.normalize():f} {scan.prices.currency}"
                f"/month ({snapshot.basis.split(';')[0]}); not subtracted"
            )
    return price(scan, "aws_ebs_volume", values, region, *notes)


def describe(scan: Scan, region: str, volume_id: str) -> dict[str, Any] | None:
    """The volume, or None when it no longer exists."""
    ec2 = scan.aws.client("ec2", region)
    return first_or_none(
        lambda: ec2.describe_volumes(VolumeIds=[volume_id]).get("Volumes", []), "InvalidVolume.NotFound"
    )


class DeleteUnattachedVolumes(RegionalPlaybook):
    name: ClassVar[str] = "delete-unattached-volumes"
    title: ClassVar[str] = "Delete unattached EBS volumes"
    Params: ClassVar[type[Params]] = DeleteUnattachedVolumesParams

    def look(self, scan: Scan, params: AnyParams, region: str) -> Iterator[Change | Skipped]:
        p = settings(params, DeleteUnattachedVolumesParams)
        ec2 = scan.aws.client("ec2", region)
        filters = [{"Name": "status", "Values": ["available"]}]
        for volume in paginate(ec2, "describe_volumes", "Volumes", Filters=filters):
            age = age_days(_created(volume), scan.now)
            if volume.get("State") != "available" or age is None or age < p.min_age_days:
                continue
            reason = opted_out(scan, tags_of(volume))
            if reason:
                yield Skipped(volume["VolumeId"], region, reason)
            else:
                yield self._change(scan, p, region, volume, age)

    def _change(
        self, scan: Scan, p: DeleteUnattachedVolumesParams, region: str, volume: dict[str, Any], age: int
    ) -> Change:
        volume_id = volume["VolumeId"]
        calls: list[Call] = []
        if p.snapshot_first:
            description = f"finops-bot: {volume_id} before deleting it (unattached)"
            calls.append(
                Call("ec2", "create_snapshot", region, {"VolumeId": volume_id, "Description": description})
            )
        calls.append(Call("ec2", "delete_volume", region, {"VolumeId": volume_id}))
        cost = saving(scan, volume, region, p.snapshot_first)
        if p.snapshot_first:
            risk_note = (
                "The volume's data is kept in a snapshot taken first. Undo: create a volume from the "
                "snapshot (a new volume id; attach it again where needed)."
            )
        else:
            risk_note = "No snapshot is taken: the volume's data is lost for good. Not reversible."
        facts = {
            "size": f"{volume.get('Size')} GB {volume.get('VolumeType')}",
            "state": "available (attached to nothing)",
            "created": f"{day(_created(volume))} ({age} days ago)",
            "availability_zone": str(volume.get("AvailabilityZone")),
        }
        return Change(
            resource_id=volume_id,
            resource_type=RESOURCE_TYPE,
            region=region,
            calls=tuple(calls),
            saving_monthly=cost.monthly,
            saving_basis=cost.basis,
            risk="medium" if p.snapshot_first else "high",
            risk_note=risk_note,
            facts=with_name(facts, tags_of(volume)),
        )

    def recheck(self, scan: Scan, params: AnyParams, change: Change) -> str | None:
        with aws_errors(change.region):
            volume = describe(scan, change.region, change.resource_id)
        if volume is None:
            return "gone: the volume no longer exists"
        state = volume.get("State")
        if state != "available":
            attached = [a.get("InstanceId") for a in volume.get("Attachments") or [] if a.get("InstanceId")]
            if attached:
                return f"attached now: in use by {', '.join(attached)}"
            return f"changed state: the volume is {state}, not available"
        return opted_out(scan, tags_of(volume))


register(DeleteUnattachedVolumes())
