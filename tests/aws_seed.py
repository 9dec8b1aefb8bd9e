"""An AWS account to remediate, built in moto through the real boto3 client: idle and busy
instances with their CPU metrics, an unattached volume, an unassociated Elastic IP."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

REGION = "us-east-1"


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


@functools.cache
def _linux_image() -> str:
    """One of moto's built-in Linux AMIs (priced: the price table is Linux on-demand). They are the
    same after every reset; listing them takes seconds, so it is done once."""
    images = client("ec2").describe_images(Owners=["amazon"])["Images"]
    return str(next(i["ImageId"] for i in images if i.get("Platform") != "windows"))


def instance(instance_type: str = "m5.large", tags: dict[str, str] | None = None) -> str:
    ec2 = client("ec2")
    spec = (
        [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        if tags
        else []
    )
    made = ec2.run_instances(
        ImageId=_linux_image(), InstanceType=instance_type, MinCount=1, MaxCount=1, TagSpecifications=spec
    )
    return str(made["Instances"][0]["InstanceId"])


def cpu(instance_id: str, percent: float, days: int = 14) -> None:
    """A CPUUtilization datapoint every 6 hours over the last `days` days."""
    now = datetime.now(UTC)
    data = [
        {
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
            "Timestamp": now - timedelta(hours=6 * i),
            "Value": percent,
            "Unit": "Percent",
        }
        for i in range(1, days * 4 + 1)
    ]
    cloudwatch = client("cloudwatch")
    for start in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=data[start : start + 20])


def volume(size: int = 100, kind: str = "gp3", tags: dict[str, str] | None = None) -> str:
    spec = (
        [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        if tags
        else []
    )
    made = client("ec2").create_volume(
        AvailabilityZone=f"{REGION}a", Size=size, VolumeType=kind, TagSpecifications=spec
    )
    return str(made["VolumeId"])


def address() -> str:
    return str(client("ec2").allocate_address(Domain="vpc")["AllocationId"])


@dataclass
class Account:
    idle: str
    busy: str
    volume: str
    kept_volume: str  # carries the opt-out tag
    address: str


def account() -> Account:
    idle, busy = instance(), instance()
    cpu(idle, 1.0)
    cpu(busy, 60.0)
    return Account(idle, busy, volume(), volume(tags={"finops:skip": "true"}), address())


def state(instance_id: str) -> str:
    found = client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(found["Reservations"][0]["Instances"][0]["State"]["Name"])


def volumes() -> set[str]:
    return {v["VolumeId"] for v in client("ec2").describe_volumes()["Volumes"]}


def addresses() -> set[str]:
    return {a["AllocationId"] for a in client("ec2").describe_addresses()["Addresses"]}


def snapshots_of(volume_id: str) -> list[dict[str, Any]]:
    found = client("ec2").describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume_id]}])
    return list(found["Snapshots"])
