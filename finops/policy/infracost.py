"""Monthly cost changes read from Infracost's JSON output, instead of the shipped price table.

`infracost breakdown --format json` and `infracost diff --format json` (output version 0.2) write:

    {"version": "0.2", "currency": "USD",
     "projects": [{"name": "...",
                   "pastBreakdown": {"resources": [...]},    # the state before; empty or null for breakdown
                   "breakdown": {"resources": [...], "freeResources": [...]},
                   "diff": {"resources": [...]},             # changed resources only, monthlyCost = delta
                   "summary": {"noPriceResourceCounts": {"aws_security_group": 2},
                               "unsupportedResourceCounts": {"aws_foo": 1}}}],
     "summary": {...}}

Every resource has `name` (its Terraform address, e.g. `module.app.aws_instance.web[0]`) and
`monthlyCost`: a decimal string, or null (or absent) when the cost depends on usage. A resource's
`monthlyCost` already includes its `subresources` (volumes and the like).

Infracost's diff counts a null (usage-based) cost as zero, so a usage-based resource is reported
unknown here from its breakdown entries before the diff is consulted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from finops.errors import UserError
from finops.policy.prices import Estimate

USAGE_REASON = "usage-based in Infracost; give it a usage file (infracost --usage-file)"
FREE_REASON = "no charge (Infracost)"


@dataclass(frozen=True)
class _Breakdown:
    monthly: Mapping[str, Decimal | None]  # address -> monthly cost (None: usage-based)
    free: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Project:
    name: str
    past: _Breakdown
    now: _Breakdown
    diff: Mapping[str, Decimal | None] | None  # None: the output has no diff for this project


@dataclass(frozen=True)
class InfracostCosts:
    """Per-address monthly cost changes from one Infracost JSON file."""

    currency: str
    projects: tuple[_Project, ...] = ()
    no_price_types: frozenset[str] = frozenset()
    unsupported_types: frozenset[str] = frozenset()
    source: str = field(default="", compare=False)

    def change(self, address: str, resource_type: str) -> Estimate:
        """The monthly change the plan makes to the resource at `address`."""
        for project in self.projects:
            found = _change(project, address, self.currency)
            if found is not None:
                if len(self.projects) > 1:
                    return Estimate(found.monthly, f"project {project.name}: {found.basis}")
                return found
        if resource_type in self.no_price_types:
            return Estimate(Decimal(0), FREE_REASON)
        if resource_type in self.unsupported_types:
            return Estimate(None, f"Infracost does not price {resource_type} yet")
        return Estimate(None, "not in the Infracost output")


def _change(project: _Project, address: str, currency: str) -> Estimate | None:
    if address in project.now.free or address in project.past.free:
        return Estimate(Decimal(0), FREE_REASON)
    in_diff = project.diff is not None and address in project.diff
    if address not in project.now.monthly and address not in project.past.monthly and not in_diff:
        return None
    new = project.now.monthly.get(address)
    old = project.past.monthly.get(address)
    if (address in project.now.monthly and new is None) or (address in project.past.monthly and old is None):
        return Estimate(None, USAGE_REASON)
    if project.diff is not None and in_diff:
        delta = project.diff[address]
        if delta is None:
            return Estimate(None, USAGE_REASON)
    else:
        delta = (new or Decimal(0)) - (old or Decimal(0))
    return Estimate(
        delta, _basis(address in project.past.monthly, old, address in project.now.monthly, new, currency)
    )


def _basis(had: bool, old: Decimal | None, has: bool, new: Decimal | None, currency: str) -> str:
    if had and has:
        if old == new:
            return f"Infracost: unchanged at {old} {currency}/month"
        return f"Infracost: {old} -> {new} {currency}/month"
    if has:
        return f"Infracost: added, {new} {currency}/month"
    if had:
        return f"Infracost: removed, was {old} {currency}/month"
    return "Infracost diff"


def read(path: Path) -> InfracostCosts:
    """The costs in an Infracost JSON file (`--format json`)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(
            f"Infracost file {path} does not exist: write it with "
            f"`infracost breakdown --path plan.json --format json --out-file {path}`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read Infracost file {path}: {exc}") from None
    try:
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"Infracost file {path} is not valid JSON ({exc}): pass `--format json` output"
        ) from None
    return parse(document, f"Infracost file {path}")


def parse(document: Any, where: str) -> InfracostCosts:
    """The costs in a parsed Infracost JSON document; `where` names it in errors."""
    if not isinstance(document, dict) or not isinstance(document.get("projects"), list):
        raise UserError(f"{where}: not Infracost JSON output (no `projects` list); use `--format json`")
    version = document.get("version")
    if not isinstance(version, str) or not version.startswith("0."):
        raise UserError(f"{where}: output version {version!r} is not supported (expected 0.2)")
    currency = document.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise UserError(f"{where}: `currency` {currency!r} is not a three-letter code such as USD")
    projects = []
    no_price: set[str] = set()
    unsupported: set[str] = set()
    for index, project in enumerate(document["projects"]):
        if not isinstance(project, dict):
            raise UserError(f"{where}: projects[{index}] is not an object")
        name = str(project.get("name") or f"projects[{index}]")
        at = f"{where}, project {name}"
        projects.append(
            _Project(
                name=name,
                past=_breakdown(project.get("pastBreakdown"), f"{at}, pastBreakdown"),
                now=_breakdown(project.get("breakdown"), f"{at}, breakdown"),
                diff=None
                if project.get("diff") is None
                else _breakdown(project["diff"], f"{at}, diff").monthly,
            )
        )
        _summary(project.get("summary"), at, no_price, unsupported)
    _summary(document.get("summary"), where, no_price, unsupported)
    return InfracostCosts(
        currency=currency.upper(),
        projects=tuple(projects),
        no_price_types=frozenset(no_price),
        unsupported_types=frozenset(unsupported),
        source=where,
    )


def _breakdown(section: Any, where: str) -> _Breakdown:
    if section is None:
        return _Breakdown({})
    if not isinstance(section, dict):
        raise UserError(f"{where} is not an object")
    monthly = {name: cost for name, cost in _resources(section.get("resources"), f"{where}.resources")}
    free = frozenset(name for name, _ in _resources(section.get("freeResources"), f"{where}.freeResources"))
    return _Breakdown(monthly, free)


def _resources(items: Any, where: str) -> list[tuple[str, Decimal | None]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise UserError(f"{where} is not a list")
    found = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise UserError(f"{where}[{index}] is not a resource with a `name`")
        found.append((item["name"], _money(item.get("monthlyCost"), f"{where}[{index}] ({item['name']})")))
    return found


def _money(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise UserError(f"{where}: monthlyCost {value!r} is not a decimal string")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise UserError(f"{where}: monthlyCost {value!r} is not a decimal string") from None
    if not amount.is_finite():
        raise UserError(f"{where}: monthlyCost {value!r} is not a finite number")
    return amount


def _summary(summary: Any, where: str, no_price: set[str], unsupported: set[str]) -> None:
    if summary is None:
        return
    if not isinstance(summary, dict):
        raise UserError(f"{where}: `summary` is not an object")
    for key, into in (("noPriceResourceCounts", no_price), ("unsupportedResourceCounts", unsupported)):
        counts = summary.get(key)
        if counts is None:
            continue
        if not isinstance(counts, dict):
            raise UserError(f"{where}: summary.{key} is not an object")
        into.update(name for name, count in counts.items() if count)
