"""A policy check of one or more plans: the tag rules per resource, then the cost rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from finops.policy import costs, tags
from finops.policy.costs import BudgetRoom, Pricer
from finops.policy.findings import Verdict
from finops.policy.plan import Plan
from finops.policy.spec import Policy


def check(
    plans: Sequence[Plan],
    policy: Policy,
    pricer: Pricer,
    price_source: str,
    rooms: Sequence[BudgetRoom] | None,
    aliases: Mapping[str, Sequence[str]],
) -> Verdict:
    """`rooms`: where the budgets stand (None when there is no database to ask)."""
    changes = [change for plan in plans for change in plan.changes]
    findings = [finding for change in changes for finding in tags.check(change, policy.tags)]
    scoped = [change for change in changes if tags.in_scope(change, policy.tags)]
    exempt = sum(1 for change in scoped if tags.exempt(change, policy.tags))
    priced = costs.priced(changes, pricer)
    first = plans[0].path if plans else ""
    currency = policy.cost.currency
    findings += costs.limit_findings(priced, policy.cost.max_monthly_increase, currency, first)
    notes = []
    if policy.cost.budgets:
        if rooms is None:
            notes.append("budget headroom not checked: no database configured (set FINOPS_DATABASE_URL)")
        else:
            findings += costs.budget_findings(changes, priced, rooms, aliases, currency)
            if not rooms:
                notes.append("budget headroom not checked: no budgets are defined")
    return Verdict(
        plans=[plan.path for plan in plans],
        findings=findings,
        costs=priced,
        currency=currency,
        price_source=price_source,
        checked=len(scoped) - exempt,
        exempt=exempt,
        notes=notes,
    )
