"""What a policy check found, and its verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

SEVERITIES = ("error", "warning", "notice")  # only errors fail the check


@dataclass(frozen=True)
class Finding:
    rule: str  # tags.required, tags.case, tags.allowed, tags.unknown, cost.max_monthly_increase, cost.budget…
    severity: str  # error | warning | notice
    title: str  # short, for annotation titles
    message: str  # the whole story: what, where, what is allowed
    plan: str  # the plan file
    address: str | None = None  # the resource, when it is about one


@dataclass(frozen=True)
class Cost:
    """What one resource change adds to the monthly bill."""

    address: str
    type: str
    action: str
    plan: str
    monthly: Decimal | None  # the change per month; None: unknown
    basis: str  # how it was priced, or why it could not be


@dataclass(frozen=True)
class Verdict:
    plans: list[str]
    findings: list[Finding]
    costs: list[Cost]
    currency: str
    price_source: str  # "price table 2026.11" or "Infracost (file)"
    checked: int  # resources the tag rules looked at
    exempt: int
    notes: list[str] = field(default_factory=list)  # what was not checked and why

    @property
    def passed(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def increase(self) -> Decimal:
        """The known part of the monthly change the plans make."""
        return sum((c.monthly for c in self.costs if c.monthly is not None), Decimal(0))

    @property
    def unpriced(self) -> list[Cost]:
        return [c for c in self.costs if c.monthly is None]
