"""`delete-idle-load-balancers`: delete application and network load balancers that have no
registered targets, or served no requests (ALB) / new flows (NLB) for days."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from finops.remediation import register
from finops.remediation.base import AnyParams, Params, Scan
from finops.remediation.model import Call, Change, Skipped
from finops.remediation.operations import aws_errors, error_code
from finops.remediation.playbooks._common import (
    RegionalPlaybook,
    age_days,
    day,
    first_or_none,
    opted_out,
    paginate,
    price,
    settings,
    tags_of,
    window,
)

RESOURCE_TYPE = "elbv2:loadbalancer"
RISK_NOTE = (
    "Its DNS name is lost for good, with its listeners and rules (target groups stay). "
    "Not reversible: a new load balancer gets a new DNS name."
)
# Type -> (CloudWatch namespace, metric counting its use)
TRAFFIC = {
    "application": ("AWS/ApplicationELB", "RequestCount"),
    "network": ("AWS/NetworkELB", "NewFlowCount"),
}
TAGS_PER_CALL = 20  # elbv2 describe_tags takes at most 20 ARNs


class DeleteIdleLoadBalancersParams(Params):
    """`[remediation.playbooks.delete-idle-load-balancers]`."""

    days: int = Field(default=14, ge=1, le=455)  # minimum age, and the days of traffic looked at


@dataclass(frozen=True)
class Usage:
    targets: int
    groups: int
    traffic: Decimal  # requests (ALB) or new flows (NLB) over the days looked at
    traffic_text: str

    @property
    def idle(self) -> str | None:
        """Why the load balancer is idle, else None."""
        if self.targets == 0:
            return f"no registered targets ({self.groups} target groups)"
        if self.traffic == 0:
            return self.traffic_text
        return None


def arn_suffix(arn: str) -> str:
    """CloudWatch's LoadBalancer dimension: `app/name/id` from the ARN."""
    return arn.split(":loadbalancer/", 1)[-1]


def _targets(elb: Any, arn: str) -> tuple[int, int]:
    """(registered targets, target groups) of the load balancer."""
    from botocore.exceptions import ClientError

    try:
        groups = list(paginate(elb, "describe_target_groups", "TargetGroups", LoadBalancerArn=arn))
    except ClientError as exc:
        if error_code(exc) == "TargetGroupNotFound":  # some implementations say so for none
            return 0, 0
        raise
    targets = 0
    for group in groups:
        health = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        targets += len(health.get("TargetHealthDescriptions") or [])
    return targets, len(groups)


def usage(scan: Scan, region: str, lb: dict[str, Any], days: int) -> Usage:
    elb = scan.aws.client("elbv2", region)
    targets, groups = _targets(elb, lb["LoadBalancerArn"])
    namespace, metric = TRAFFIC[lb["Type"]]
    cloudwatch = scan.aws.client("cloudwatch", region)
    response = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": "LoadBalancer", "Value": arn_suffix(lb["LoadBalancerArn"])}],
        Statistics=["Sum"],
        **window(scan.now, days),
    )
    points = response.get("Datapoints") or []
    total = sum((Decimal(str(p.get("Sum", 0))) for p in points), Decimal(0))
    text = f"{total.normalize():f} {metric} in {days} days ({namespace} {metric}, daily Sum"
    text += "; no datapoints: ELB reports the metric only when there is traffic)" if not points else ")"
    return Usage(targets, groups, total, text)


def _tags(elb: Any, arns: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), TAGS_PER_CALL):
        response = elb.describe_tags(ResourceArns=arns[start : start + TAGS_PER_CALL])
        for description in response.get("TagDescriptions") or []:
            found[description["ResourceArn"]] = tags_of(description)
    return found


def _protected(elb: Any, arn: str) -> bool:
    attributes = elb.describe_load_balancer_attributes(LoadBalancerArn=arn).get("Attributes") or []
    return any(a.get("Key") == "deletion_protection.enabled" and a.get("Value") == "true" for a in attributes)


def _created(lb: dict[str, Any]) -> datetime | None:
    created = lb.get("CreatedTime")
    return created if isinstance(created, datetime) else None


def _candidates(lbs: Iterable[dict[str, Any]], scan: Scan, days: int) -> list[dict[str, Any]]:
    """Application and network load balancers at least `days` old."""
    old = []
    for lb in lbs:
        age = age_days(_created(lb), scan.now)
        if lb.get("Type") in TRAFFIC and age is not None and age >= days:
            old.append(lb)
    return old


def describe(scan: Scan, region: str, arn: str) -> dict[str, Any] | None:
    """The load balancer, or None when it no longer exists."""
    elb = scan.aws.client("elbv2", region)
    return first_or_none(
        lambda: elb.describe_load_balancers(LoadBalancerArns=[arn]).get("LoadBalancers", []),
        "LoadBalancerNotFound",
    )


class DeleteIdleLoadBalancers(RegionalPlaybook):
    name: ClassVar[str] = "delete-idle-load-balancers"
    title: ClassVar[str] = "Delete idle load balancers"
    Params: ClassVar[type[Params]] = DeleteIdleLoadBalancersParams

    def look(self, scan: Scan, params: AnyParams, region: str) -> Iterator[Change | Skipped]:
        p = settings(params, DeleteIdleLoadBalancersParams)
        elb = scan.aws.client("elbv2", region)
        lbs = _candidates(paginate(elb, "describe_load_balancers", "LoadBalancers"), scan, p.days)
        tags = _tags(elb, [lb["LoadBalancerArn"] for lb in lbs])
        for lb in lbs:
            arn = lb["LoadBalancerArn"]
            reason = opted_out(scan, tags.get(arn, {}))
            if reason is None and _protected(elb, arn):
                reason = "deletion protection is on: turn it off to let the bot delete it"
            if reason:
                yield Skipped(arn, region, reason)
                continue
            use = usage(scan, region, lb, p.days)
            idle = use.idle
            if idle:
                yield self._change(scan, region, lb, use, idle)

    def _change(self, scan: Scan, region: str, lb: dict[str, Any], use: Usage, idle: str) -> Change:
        arn, kind = lb["LoadBalancerArn"], lb["Type"]
        cost = price(scan, "aws_lb", {"load_balancer_type": kind}, region)
        facts = {
            "name": str(lb.get("LoadBalancerName")),
            "type": kind,
            "dns_name": str(lb.get("DNSName")),
            "created": f"{day(_created(lb))} ({age_days(_created(lb), scan.now)} days ago)",
            "idle": idle,
            "targets": f"{use.targets} registered in {use.groups} target groups",
            "traffic": use.traffic_text,
        }
        return Change(
            resource_id=arn,
            resource_type=RESOURCE_TYPE,
            region=region,
            calls=(Call("elbv2", "delete_load_balancer", region, {"LoadBalancerArn": arn}),),
            saving_monthly=cost.monthly,
            saving_basis=cost.basis,
            risk="medium",
            risk_note=RISK_NOTE,
            facts=facts,
        )

    def recheck(self, scan: Scan, params: AnyParams, change: Change) -> str | None:
        p = settings(params, DeleteIdleLoadBalancersParams)
        with aws_errors(change.region):
            lb = describe(scan, change.region, change.resource_id)
            if lb is None:
                return "gone: the load balancer no longer exists"
            elb = scan.aws.client("elbv2", change.region)
            reason = opted_out(scan, _tags(elb, [change.resource_id]).get(change.resource_id, {}))
            if reason:
                return reason
            if _protected(elb, change.resource_id):
                return "deletion protection was turned on"
            use = usage(scan, change.region, lb, p.days)
        if use.idle is None:
            return f"in use now: {use.targets} registered targets and {use.traffic_text}"
        return None


register(DeleteIdleLoadBalancers())
