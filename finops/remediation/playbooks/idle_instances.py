"""`stop-idle-instances`: stop running EC2 instances whose CPU stayed low for days."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
    day,
    first_or_none,
    opted_out,
    paginate,
    price,
    settings,
    tags_of,
    window,
    with_name,
)

RESOURCE_TYPE = "ec2:instance"
ASG_TAG = "aws:autoscaling:groupName"
RISK_NOTE = (
    "Stopping loses data on instance-store volumes and, without an Elastic IP, its public IP "
    "address changes. Undo: start the instance again."
)


class StopIdleInstancesParams(Params):
    """`[remediation.playbooks.stop-idle-instances]`: an instance is idle when every daily
    average of its CloudWatch CPUUtilization over the last `days` days is below `cpu_percent`."""

    cpu_percent: float = Field(default=5.0, gt=0, le=100)  # threshold for the highest daily average CPU
    days: int = Field(default=14, ge=2, le=455)  # days of CloudWatch data looked at (needs days - 1)


@dataclass(frozen=True)
class Cpu:
    """The daily averages found and what they say: idle (True), busy (False) or unknown (None)."""

    idle: bool | None
    text: str


def cpu(scan: Scan, region: str, instance_id: str, params: StopIdleInstancesParams) -> Cpu:
    cloudwatch = scan.aws.client("cloudwatch", region)
    response = cloudwatch.get_metric_statistics(
        Namespace="AWS/EC2",
        MetricName="CPUUtilization",
        Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
        Statistics=["Average"],
        **window(scan.now, params.days),
    )
    averages = [float(p["Average"]) for p in response.get("Datapoints", []) if "Average" in p]
    needed = params.days - 1
    if len(averages) < needed:
        return Cpu(
            None,
            f"CPU unknown: {len(averages)} daily CloudWatch datapoints in the last {params.days} days "
            f"(needs {needed}); not treated as idle",
        )
    peak = max(averages)
    text = (
        f"highest daily average {peak:.1f}% over {len(averages)} days (CloudWatch AWS/EC2 "
        f"CPUUtilization, daily Average; idle below {params.cpu_percent:g}%)"
    )
    return Cpu(peak < params.cpu_percent, text)


def why_not_stoppable(instance: dict[str, Any], tags: dict[str, str]) -> str | None:
    if tags.get(ASG_TAG):
        return f"in Auto Scaling group {tags[ASG_TAG]}: it would replace a stopped instance"
    if instance.get("RootDeviceType") == "instance-store":
        return "instance-store root device: the instance cannot be stopped"
    if instance.get("InstanceLifecycle") == "spot":
        return "spot instance: left alone (only persistent spot requests can be stopped)"
    return None


def saving(scan: Scan, instance: dict[str, Any], region: str) -> Saving:
    platform = instance.get("PlatformDetails") or (
        "Windows" if instance.get("Platform") == "windows" else "Linux/UNIX"
    )
    if platform != "Linux/UNIX":
        return Saving(
            None,
            f"not priced: {platform} instances are not in price table {scan.prices.version} "
            "(Linux on-demand prices only)",
        )
    values = {
        "instance_type": instance.get("InstanceType"),
        "tenancy": (instance.get("Placement") or {}).get("Tenancy"),
    }
    result = price(scan, "aws_instance", values, region)
    if result.monthly is None:
        return result
    # The estimator prices Terraform plans; its note about the root volume does not apply here.
    parts = [part for part in result.basis.split("; ") if not part.startswith("root volume")]
    parts.append("its EBS volumes keep costing while it is stopped (not counted)")
    return Saving(result.monthly, "; ".join(parts))


def _launched(instance: dict[str, Any]) -> datetime | None:
    launched = instance.get("LaunchTime")
    return launched if isinstance(launched, datetime) else None


def describe(scan: Scan, region: str, instance_id: str) -> dict[str, Any] | None:
    """The instance, or None when it no longer exists."""
    ec2 = scan.aws.client("ec2", region)

    def instances() -> Iterator[dict[str, Any]]:
        for reservation in paginate(ec2, "describe_instances", "Reservations", InstanceIds=[instance_id]):
            yield from reservation.get("Instances", [])

    return first_or_none(instances, "InvalidInstanceID.NotFound")


class StopIdleInstances(RegionalPlaybook):
    name: ClassVar[str] = "stop-idle-instances"
    title: ClassVar[str] = "Stop idle EC2 instances"
    Params: ClassVar[type[Params]] = StopIdleInstancesParams

    def look(self, scan: Scan, params: AnyParams, region: str) -> Iterator[Change | Skipped]:
        p = settings(params, StopIdleInstancesParams)
        ec2 = scan.aws.client("ec2", region)
        filters = [{"Name": "instance-state-name", "Values": ["running"]}]
        for reservation in paginate(ec2, "describe_instances", "Reservations", Filters=filters):
            for instance in reservation.get("Instances", []):
                found = self._look(scan, p, region, instance)
                if found is not None:
                    yield found

    def _look(
        self, scan: Scan, p: StopIdleInstancesParams, region: str, instance: dict[str, Any]
    ) -> Change | Skipped | None:
        instance_id = instance["InstanceId"]
        tags = tags_of(instance)
        reason = opted_out(scan, tags) or why_not_stoppable(instance, tags)
        if reason:
            return Skipped(instance_id, region, reason)
        usage = cpu(scan, region, instance_id, p)
        if usage.idle is None:
            return Skipped(instance_id, region, usage.text)
        if not usage.idle:
            return None
        cost = saving(scan, instance, region)
        facts = {
            "CPU": usage.text,
            "instance_type": str(instance.get("InstanceType")),
            "launched": day(_launched(instance)),
        }
        return Change(
            resource_id=instance_id,
            resource_type=RESOURCE_TYPE,
            region=region,
            calls=(Call("ec2", "stop_instances", region, {"InstanceIds": [instance_id]}),),
            saving_monthly=cost.monthly,
            saving_basis=cost.basis,
            risk="medium",
            risk_note=RISK_NOTE,
            facts=with_name(facts, tags),
        )

    def recheck(self, scan: Scan, params: AnyParams, change: Change) -> str | None:
        p = settings(params, StopIdleInstancesParams)
        with aws_errors(change.region):
            instance = describe(scan, change.region, change.resource_id)
            if instance is None:
                return "gone: the instance no longer exists"
            state = instance.get("State", {}).get("Name")
            if state != "running":
                return f"changed state: the instance is {state}, not running"
            tags = tags_of(instance)
            reason = opted_out(scan, tags) or why_not_stoppable(instance, tags)
            if reason:
                return reason
            planned = change.facts.get("instance_type")
            if planned and instance.get("InstanceType") != planned:
                return f"changed: instance type is now {instance.get('InstanceType')}, was {planned}"
            usage = cpu(scan, change.region, change.resource_id, p)
            if usage.idle is None:
                return usage.text
            if not usage.idle:
                return f"in use now: {usage.text}"
        return None


register(StopIdleInstances())
