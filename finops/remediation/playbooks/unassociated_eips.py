"""`release-unassociated-eips`: release Elastic IP addresses associated with nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from finops.remediation import register
from finops.remediation.base import AnyParams, Params, Scan
from finops.remediation.model import Call, Change, Skipped
from finops.remediation.operations import aws_errors
from finops.remediation.playbooks._common import (
    RegionalPlaybook,
    first_or_none,
    opted_out,
    price,
    tags_of,
    with_name,
)

RESOURCE_TYPE = "ec2:elastic-ip"
RISK_NOTE = (
    "The address goes back to AWS and usually cannot be got back: DNS records and allow-lists "
    "naming it stop working. Undo: allocate a new address (a different IP)."
)


class ReleaseUnassociatedEipsParams(Params):
    """`[remediation.playbooks.release-unassociated-eips]`: no settings yet."""


def in_use(address: dict[str, Any]) -> str | None:
    """What the address is associated with, else None."""
    for key, what in (("InstanceId", "instance"), ("NetworkInterfaceId", "network interface")):
        if address.get(key):
            return f"{what} {address[key]}"
    return f"association {address['AssociationId']}" if address.get("AssociationId") else None


def describe(scan: Scan, region: str, allocation_id: str) -> dict[str, Any] | None:
    """The address, or None when it was released."""
    ec2 = scan.aws.client("ec2", region)
    return first_or_none(
        lambda: ec2.describe_addresses(AllocationIds=[allocation_id]).get("Addresses", []),
        "InvalidAllocationID.NotFound",
    )


class ReleaseUnassociatedEips(RegionalPlaybook):
    name: ClassVar[str] = "release-unassociated-eips"
    title: ClassVar[str] = "Release unassociated Elastic IP addresses"
    Params: ClassVar[type[Params]] = ReleaseUnassociatedEipsParams

    def look(self, scan: Scan, params: AnyParams, region: str) -> Iterator[Change | Skipped]:
        ec2 = scan.aws.client("ec2", region)
        response = ec2.describe_addresses(Filters=[{"Name": "domain", "Values": ["vpc"]}])
        for address in response.get("Addresses", []):
            allocation_id = address.get("AllocationId")
            if not allocation_id or in_use(address):
                continue
            reason = opted_out(scan, tags_of(address))
            if reason:
                yield Skipped(allocation_id, region, reason)
            else:
                yield self._change(scan, region, address)

    def _change(self, scan: Scan, region: str, address: dict[str, Any]) -> Change:
        allocation_id = address["AllocationId"]
        cost = price(scan, "aws_eip", {}, region)
        facts = {"public_ip": str(address.get("PublicIp")), "association": "none"}
        return Change(
            resource_id=allocation_id,
            resource_type=RESOURCE_TYPE,
            region=region,
            calls=(Call("ec2", "release_address", region, {"AllocationId": allocation_id}),),
            saving_monthly=cost.monthly,
            saving_basis=cost.basis,
            risk="medium",
            risk_note=RISK_NOTE,
            facts=with_name(facts, tags_of(address)),
        )

    def recheck(self, scan: Scan, params: AnyParams, change: Change) -> str | None:
        with aws_errors(change.region):
            address = describe(scan, change.region, change.resource_id)
        if address is None:
            return "gone: the address was released"
        used = in_use(address)
        if used:
            return f"associated now: with {used}"
        return opted_out(scan, tags_of(address))


register(ReleaseUnassociatedEips())
