"""One moto server per test module, emptied before each test, and helpers to seed it.

boto3 reaches moto through AWS_ENDPOINT_URL, as the bot reaches AWS. Moto stamps creation times
with the real clock, so tests age resources by scanning at a later `now`.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from finops.remediation.base import Aws, Scan
from tests.fakes.aws import CREDENTIALS, moto_server

REGION = "us-east-1"
OPT_OUT = [{"Key": "finops:skip", "Value": "true"}]


def _post(url: str, body: bytes = b"") -> None:
    # A local moto server; text/plain keeps the body raw (moto reads reset-auth's count from it).
    request = urllib.request.Request(url, body, {"Content-Type": "text/plain"}, method="POST")  # noqa: S310
    urllib.request.urlopen(request).close()  # noqa: S310


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def boto_session() -> Any:
    """One boto3 session per module: it loads each service's model once (clients come quicker).
    It resolves credentials from the environment when a test first makes a client."""
    return boto3.session.Session()


@pytest.fixture
def fake_aws(moto_endpoint: str, boto_session: Any, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """An empty fake AWS, and the `Aws` client factory the bot uses, pointed at it."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # Moto's ~1300 public AMIs come with snapshots it lists as the account's own: leave them out.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    _post(f"{moto_endpoint}/moto-api/reset")
    return Aws(boto_session)


@pytest.fixture
def restricted(moto_endpoint: str, fake_aws: Aws) -> Iterator[Callable[[], Aws]]:
    """Call it, once the test's resources are made, for an `Aws` whose identity may only
    describe EC2: moto checks IAM from then on, until the test ends."""

    def make() -> Aws:
        iam = fake_aws.client("iam", REGION)
        iam.create_user(UserName="read-only")
        statement = {"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}
        document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        policy = iam.create_policy(PolicyName="read-only", PolicyDocument=document)["Policy"]
        iam.attach_user_policy(UserName="read-only", PolicyArn=policy["Arn"])
        key = iam.create_access_key(UserName="read-only")["AccessKey"]
        session = boto3.session.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
        )
        _post(f"{moto_endpoint}/moto-api/reset-auth", b"0")
        return Aws(session)

    try:
        yield make
    finally:
        _post(f"{moto_endpoint}/moto-api/reset-auth", b"inf")


def scan_at(aws: Aws, days_later: float = 0, regions: tuple[str, ...] = (REGION,)) -> Scan:
    """A scan `days_later` days from now (moto's resources are created now)."""
    return Scan(aws=aws, regions=regions, now=datetime.now(UTC) + timedelta(days=days_later))


class Seed:
    """Makes resources in the fake AWS."""

    def __init__(self, aws: Aws, region: str = REGION) -> None:
        self.aws = aws
        self.region = region
        self.ec2 = aws.client("ec2", region)

    def instance(self, instance_type: str = "m5.large", tags: list[dict[str, str]] | None = None) -> str:
        extra: dict[str, Any] = {}
        if tags:
            extra["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
        response = self.ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType=instance_type, **extra
        )
        return str(response["Instances"][0]["InstanceId"])

    def cpu(self, instance_id: str, daily: list[float], now: datetime | None = None) -> None:
        """One CPUUtilization datapoint a day, `daily[0]` for the day before `now`, then back."""
        now = now or datetime.now(UTC)
        data = [
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                "Timestamp": now - timedelta(days=index, hours=1),
                "Value": value,
                "Unit": "Percent",
            }
            for index, value in enumerate(daily)
        ]
        self.aws.client("cloudwatch", self.region).put_metric_data(Namespace="AWS/EC2", MetricData=data)

    def volume(self, size: int = 100, tags: list[dict[str, str]] | None = None, **kwargs: Any) -> str:
        extra: dict[str, Any] = {"VolumeType": "gp3", **kwargs}
        if tags:
            extra["TagSpecifications"] = [{"ResourceType": "volume", "Tags": tags}]
        response = self.ec2.create_volume(AvailabilityZone=f"{self.region}a", Size=size, **extra)
        return str(response["VolumeId"])

    def attach(self, volume_id: str, instance_id: str) -> None:
        self.ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")

    def address(self, tags: list[dict[str, str]] | None = None) -> str:
        extra: dict[str, Any] = {}
        if tags:
            extra["TagSpecifications"] = [{"ResourceType": "elastic-ip", "Tags": tags}]
        return str(self.ec2.allocate_address(Domain="vpc", **extra)["AllocationId"])

    def snapshot(self, volume_id: str, tags: list[dict[str, str]] | None = None) -> str:
        extra: dict[str, Any] = {}
        if tags:
            extra["TagSpecifications"] = [{"ResourceType": "snapshot", "Tags": tags}]
        return str(self.ec2.create_snapshot(VolumeId=volume_id, **extra)["SnapshotId"])

    def image(self) -> tuple[str, str]:
        """An AMI of the account and the snapshot its root device uses."""
        image_id = self.ec2.register_image(Name="app-image", RootDeviceName="/dev/sda1")["ImageId"]
        image = self.ec2.describe_images(ImageIds=[image_id])["Images"][0]
        return str(image_id), str(image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])

    def tag(self, resource_id: str, tags: list[dict[str, str]]) -> None:
        self.ec2.create_tags(Resources=[resource_id], Tags=tags)

    # -------------------------------------------------------------------------------- load balancers

    def load_balancer(
        self, name: str, kind: str = "application", tags: list[dict[str, str]] | None = None
    ) -> str:
        subnets = [s["SubnetId"] for s in self.ec2.describe_subnets()["Subnets"]][:2]
        elb = self.aws.client("elbv2", self.region)
        extra: dict[str, Any] = {"Tags": tags} if tags else {}
        response = elb.create_load_balancer(Name=name, Subnets=subnets, Type=kind, **extra)
        return str(response["LoadBalancers"][0]["LoadBalancerArn"])

    def target(self, lb_arn: str, instance_id: str | None = None) -> str:
        """A target group forwarded to by a listener of the load balancer; with a target when given."""
        elb = self.aws.client("elbv2", self.region)
        vpc_id = self.ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        name = f"tg-{lb_arn.rsplit('/', 1)[-1][:8]}"
        group = elb.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc_id)["TargetGroups"][0]
        arn = str(group["TargetGroupArn"])
        elb.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}],
        )
        if instance_id:
            self.register(arn, instance_id)
        return arn

    def register(self, target_group_arn: str, instance_id: str) -> None:
        elb = self.aws.client("elbv2", self.region)
        elb.register_targets(TargetGroupArn=target_group_arn, Targets=[{"Id": instance_id, "Port": 80}])

    def requests(self, lb_arn: str, count: float, when: datetime, metric: str = "RequestCount") -> None:
        namespace = "AWS/ApplicationELB" if metric == "RequestCount" else "AWS/NetworkELB"
        dimension = lb_arn.split(":loadbalancer/", 1)[1]
        self.aws.client("cloudwatch", self.region).put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "LoadBalancer", "Value": dimension}],
                    "Timestamp": when,
                    "Value": count,
                    "Unit": "Count",
                }
            ],
        )


@pytest.fixture
def seed(fake_aws: Aws) -> Seed:
    return Seed(fake_aws)
