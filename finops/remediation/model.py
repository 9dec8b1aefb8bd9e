"""What a remediation plan is made of: API calls, grouped per resource into changes.

Plain data, JSON in and out (the plan is stored in `actions.plan` and its steps in `action_steps`):
the executor in `jobs/remediate.py` runs each call once, in order, and checks its effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

Risk = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class Call:
    """One AWS API call: `service` and `operation` as boto3 names them (`ec2`, `stop_instances`)."""

    service: str
    operation: str
    region: str
    params: dict[str, Any]

    @property
    def api(self) -> str:
        """As people and IAM policies name it: `ec2:StopInstances`."""
        return f"{self.service}:{''.join(part.capitalize() for part in self.operation.split('_'))}"

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "operation": self.operation,
            "region": self.region,
            "params": self.params,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Call:
        return cls(data["service"], data["operation"], data["region"], dict(data["params"]))


@dataclass(frozen=True)
class Change:
    """What one playbook would do to one resource: its calls in order, the monthly saving and how
    it was computed, the risk, and the facts that made the resource a candidate."""

    resource_id: str
    resource_type: (
        str  # e.g. "ec2:instance", "ec2:volume", "ec2:elastic-ip", "ec2:snapshot", "elbv2:loadbalancer"
    )
    region: str
    calls: tuple[Call, ...]
    saving_monthly: Decimal | None  # None: not priced (the basis says why); never a guess
    saving_basis: str  # e.g. "m5.large in us-east-1: 0.096/h x 730 h"
    risk: Risk
    risk_note: str  # what could go wrong, and how to undo it if it can be undone
    facts: dict[str, str] = field(default_factory=dict)  # e.g. {"CPU": "max 1.2% a day over 14 days"}

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_id": self.resource_id,
            "resource_type": self.resource_type,
            "region": self.region,
            "calls": [c.to_json() for c in self.calls],
            "saving_monthly": None if self.saving_monthly is None else str(self.saving_monthly),
            "saving_basis": self.saving_basis,
            "risk": self.risk,
            "risk_note": self.risk_note,
            "facts": self.facts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        saving = data.get("saving_monthly")
        return cls(
            resource_id=data["resource_id"],
            resource_type=data["resource_type"],
            region=data["region"],
            calls=tuple(Call.from_json(c) for c in data["calls"]),
            saving_monthly=None if saving is None else Decimal(saving),
            saving_basis=data["saving_basis"],
            risk=data["risk"],
            risk_note=data["risk_note"],
            facts=dict(data.get("facts") or {}),
        )


@dataclass(frozen=True)
class Skipped:
    """A resource discovery looked at and left alone, and why (opt-out tag, used by an AMI...)."""

    resource_id: str
    region: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"resource_id": self.resource_id, "region": self.region, "reason": self.reason}


@dataclass(frozen=True)
class Discovery:
    changes: list[Change]
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class DryRun:
    """The outcome of proving a call before it is approved: `ok`, and what was checked or what failed."""

    ok: bool
    detail: str  # e.g. "DryRun: permitted", "UnauthorizedOperation: ...", "no DryRun form; it exists"
