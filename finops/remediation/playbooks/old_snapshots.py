"""`delete-old-snapshots`: delete the account's old EBS snapshots that no AMI of its uses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

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

RESOURCE_TYPE = "ec2:snapshot"
RISK_NOTE = "Irreversible: the snapshot and the data only it holds are gone for good."
INCREMENTAL = (
    "an upper bound: snapshots are incremental, so deleting one frees only the blocks no other "
    "snapshot of the volume shares"
)


class DeleteOldSnapshotsParams(Params):
    """`[remediation.playbooks.delete-old-snapshots]`."""

    older_than_days: int = Field(default=90, ge=1)  # only snapshots started at least this many days ago


def _started(snapshot: dict[str, Any]) -> datetime | None:
    started = snapshot.get("StartTime")
    return started if isinstance(started, datetime) else None


def ami_snapshots(scan: Scan, region: str) -> dict[str, list[str]]:
    """Snapshot id -> the account's AMIs whose block devices use it (disabled AMIs included)."""
    ec2 = scan.aws.client("ec2", region)
    used: dict[str, list[str]] = {}
    for image in paginate(ec2, "describe_images", "Images", Owners=["self"], IncludeDisabled=True):
        for mapping in image.get("BlockDeviceMappings") or []:
            snapshot_id = (mapping.get("Ebs") or {}).get("SnapshotId")
            if snapshot_id:
                used.setdefault(snapshot_id, []).append(image["ImageId"])
    return used


def saving(scan: Scan, snapshot: dict[str, Any], region: str) -> Saving:
    if snapshot.get("StorageTier", "standard") != "standard":
        return Saving(
            None,
            f"not priced: {snapshot.get('StorageTier')}-tier snapshots are not in price table "
            f"{scan.prices.version}",
        )
    result = price(scan, "aws_ebs_snapshot", {"size": snapshot.get("VolumeSize")}, region)
    if result.monthly is None:
        return result
    first = result.basis.split("; ")[0]  # drop the table's own note: the basis says it below
    return Saving(result.monthly, f"{first}; {INCREMENTAL}")


def describe(scan: Scan, region: str, snapshot_id: str) -> dict[str, Any] | None:
    """The snapshot, or None when it no longer exists."""
    ec2 = scan.aws.client("ec2", region)
    return first_or_none(
        lambda: ec2.describe_snapshots(SnapshotIds=[snapshot_id]).get("Snapshots", []),
        "InvalidSnapshot.NotFound",
    )


def _used_by(amis: list[str]) -> str:
    return f"used by AMI {', '.join(sorted(amis))}"


def managed(tags: dict[str, str]) -> str | None:
    """Why a snapshot another AWS service keeps is left to that service, else None."""
    if tags.get("aws:backup:source-resource"):
        return "made by AWS Backup: its backup plan's retention deletes it"
    if tags.get("aws:dlm:lifecycle-policy-id"):
        return f"kept by Data Lifecycle Manager policy {tags['aws:dlm:lifecycle-policy-id']}"
    return None


class DeleteOldSnapshots(RegionalPlaybook):
    name: ClassVar[str] = "delete-old-snapshots"
    title: ClassVar[str] = "Delete old EBS snapshots"
    Params: ClassVar[type[Params]] = DeleteOldSnapshotsParams

    def look(self, scan: Scan, params: AnyParams, region: str) -> Iterator[Change | Skipped]:
        p = settings(params, DeleteOldSnapshotsParams)
        used = ami_snapshots(scan, region)
        ec2 = scan.aws.client("ec2", region)
        for snapshot in paginate(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"]):
            age = age_days(_started(snapshot), scan.now)
            if snapshot.get("State") != "completed" or age is None or age < p.older_than_days:
                continue
            snapshot_id = snapshot["SnapshotId"]
            tags = tags_of(snapshot)
            reason = opted_out(scan, tags) or managed(tags)
            if snapshot_id in used:
                reason = _used_by(used[snapshot_id])
            if reason:
                yield Skipped(snapshot_id, region, reason)
            else:
                yield self._change(scan, region, snapshot, age)

    def _change(self, scan: Scan, region: str, snapshot: dict[str, Any], age: int) -> Change:
        snapshot_id = snapshot["SnapshotId"]
        cost = saving(scan, snapshot, region)
        facts = {
            "started": f"{day(_started(snapshot))} ({age} days ago)",
            "volume": f"{snapshot.get('VolumeId')} ({snapshot.get('VolumeSize')} GB)",
            "description": str(snapshot.get("Description") or ""),
            "used_by_ami": "no (checked the account's AMIs)",
        }
        return Change(
            resource_id=snapshot_id,
            resource_type=RESOURCE_TYPE,
            region=region,
            calls=(Call("ec2", "delete_snapshot", region, {"SnapshotId": snapshot_id}),),
            saving_monthly=cost.monthly,
            saving_basis=cost.basis,
            risk="high",
            risk_note=RISK_NOTE,
            facts=with_name(facts, tags_of(snapshot)),
        )

    def recheck(self, scan: Scan, params: AnyParams, change: Change) -> str | None:
        with aws_errors(change.region):
            snapshot = describe(scan, change.region, change.resource_id)
            if snapshot is None:
                return "gone: the snapshot no longer exists"
            tags = tags_of(snapshot)
            reason = opted_out(scan, tags) or managed(tags)
            if reason:
                return reason
            amis = ami_snapshots(scan, change.region).get(change.resource_id)
        if amis:
            return f"now {_used_by(amis)}"
        return None


register(DeleteOldSnapshots())
