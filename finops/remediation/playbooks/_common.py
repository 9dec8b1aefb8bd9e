"""What the playbooks share: tags, paging, ages, prices and the opt-out check."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from finops.policy.prices import estimate
from finops.remediation.base import AnyParams, Params, Playbook, Scan
from finops.remediation.model import Change, Discovery, Skipped
from finops.remediation.operations import aws_errors, error_code

P = TypeVar("P", bound=Params)

DAY = 86400  # seconds: CloudWatch Period for daily statistics


def settings(params: Params, kind: type[P]) -> P:
    """`params` as the playbook's own settings class (a plain `Params` gets the defaults)."""
    if isinstance(params, kind):
        return params
    return kind.model_validate(params.model_dump())


def tags_of(resource: Mapping[str, Any], key: str = "Tags") -> dict[str, str]:
    """AWS's `[{"Key": k, "Value": v}]` as a dict."""
    return {str(t["Key"]): str(t.get("Value", "")) for t in resource.get(key) or [] if "Key" in t}


def opted_out(scan: Scan, tags: Mapping[str, str]) -> str | None:
    """Why the resource is left alone when it carries the opt-out tag, else None."""
    return f"opted out: tagged {scan.opt_out}" if scan.opt_out.matches(tags) else None


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item under `key` in every page of `operation`."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key) or []


def first_or_none(fetch: Callable[[], Iterable[dict[str, Any]]], not_found: str) -> dict[str, Any] | None:
    """The first item `fetch` describes, or None when there is none or AWS answers `not_found`
    (the resource no longer exists); other AWS errors are raised."""
    from botocore.exceptions import ClientError

    try:
        first = next(iter(fetch()), None)
    except ClientError as exc:
        if error_code(exc) == not_found:
            return None
        raise
    return dict(first) if first is not None else None


def age_days(created: datetime | None, now: datetime) -> int | None:
    """Whole days from `created` to `now` (None when AWS gave no time)."""
    if created is None:
        return None
    return (now - created).days


def day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "unknown"


def with_name(facts: dict[str, str], tags: Mapping[str, str]) -> dict[str, str]:
    if tags.get("Name"):
        facts = {"name": tags["Name"], **facts}
    return facts


@dataclass(frozen=True)
class Saving:
    monthly: Decimal | None
    basis: str


def price(scan: Scan, resource_type: str, values: Mapping[str, Any], region: str, *notes: str) -> Saving:
    """The monthly price of the resource from the price table, with `notes` added to the basis;
    unknown (None, with the reason) when the table cannot price it."""
    result = estimate(resource_type, values, region, scan.prices)
    if result.monthly is None:
        return Saving(None, f"not priced: {result.basis}")
    return Saving(result.monthly, "; ".join([result.basis, *notes]))


def window(now: datetime, days: int) -> dict[str, Any]:
    """CloudWatch statistics arguments for the last `days` days, one datapoint a day."""
    return {"StartTime": now - timedelta(days=days), "EndTime": now, "Period": DAY}


class RegionalPlaybook(Playbook):
    """A playbook that looks region by region: `look` yields what one region holds, a `Change` to
    make or a `Skipped` resource with why; AWS errors are worded for people, naming the region."""

    def discover(self, scan: Scan, params: AnyParams) -> Discovery:
        found = Discovery([], [])
        for region in scan.regions:
            with aws_errors(region):
                for item in self.look(scan, params, region):
                    if isinstance(item, Change):
                        found.changes.append(item)
                    else:
                        found.skipped.append(item)
        return found

    @abstractmethod
    def look(self, scan: Scan, params: AnyParams, region: str) -> Iterator[Change | Skipped]:
        """What `region` holds for this playbook."""
