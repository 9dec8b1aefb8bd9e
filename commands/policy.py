"""How a policy verdict is shown: text for people, one JSON document, GitHub annotations, and the
Markdown of the job summary and the pull request comment."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from finops.policy.costs import money
from finops.policy.findings import SEVERITIES, Cost, Finding, Verdict
from templates import render_text

MAX_ANNOTATIONS = 10  # GitHub shows 10 per step; the rest are counted in a summary line
MARKER = "<!-- finops-bot:policy-check -->"  # finds our pull request comment again
SYMBOL = {"error": "✗", "warning": "!", "notice": "·"}


def counts(verdict: Verdict) -> dict[str, int]:
    return {severity: sum(1 for f in verdict.findings if f.severity == severity) for severity in SEVERITIES}


def headline(verdict: Verdict) -> str:
    found = counts(verdict)
    said = ", ".join(f"{n} {severity}{'s' if n != 1 else ''}" for severity, n in found.items() if n)
    state = "passed" if verdict.passed else "FAILED"
    where = ", ".join(verdict.plans)
    scope = f"{verdict.checked} resource{'s' if verdict.checked != 1 else ''} checked for tags"
    if verdict.exempt:
        scope += f", {verdict.exempt} exempt"
    return f"policy check {state} for {where}: {said or 'no findings'} ({scope})"


def _signed(value: Decimal | None, currency: str) -> str:
    if value is None:
        return "unknown"
    return ("+" if value > 0 else "") + money(value, currency)


def cost_lines(verdict: Verdict) -> list[str]:
    shown = [c for c in verdict.costs if c.monthly is None or c.monthly != 0]
    total = _signed(verdict.increase, verdict.currency)
    unpriced = len(verdict.unpriced)
    lines = [
        f"Monthly cost ({verdict.price_source}): {total}/month"
        + (f", {unpriced} not priced" if unpriced else "")
    ]
    for cost in sorted(shown, key=_biggest):
        lines.append(
            f"  {_signed(cost.monthly, verdict.currency):>16}  {cost.address} ({cost.action}): {cost.basis}"
        )
    return lines


def _biggest(cost: Cost) -> tuple[int, Decimal]:
    return (1, Decimal(0)) if cost.monthly is None else (0, -cost.monthly)


def text(verdict: Verdict) -> str:
    lines = [headline(verdict), ""]
    for finding in sorted(verdict.findings, key=lambda f: SEVERITIES.index(f.severity)):
        lines.append(f"{SYMBOL[finding.severity]} {finding.severity}: {finding.message}")
    if verdict.findings:
        lines.append("")
    lines += cost_lines(verdict)
    lines += [f"note: {note}" for note in verdict.notes]
    return "\n".join(lines) + "\n"


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity,
        "title": f.title,
        "message": f.message,
        "plan": f.plan,
        "address": f.address,
    }


def document(verdict: Verdict) -> dict[str, Any]:
    """The `policy check --format json` contract."""
    return {
        "passed": verdict.passed,
        "plans": verdict.plans,
        "summary": {**counts(verdict), "checked": verdict.checked, "exempt": verdict.exempt},
        "findings": [_finding(f) for f in verdict.findings],
        "cost": {
            "currency": verdict.currency,
            "source": verdict.price_source,
            "monthly_increase": format(verdict.increase, "f"),
            "unpriced": len(verdict.unpriced),
            "changes": [
                {
                    "address": c.address,
                    "type": c.type,
                    "action": c.action,
                    "plan": c.plan,
                    "monthly": None if c.monthly is None else format(c.monthly, "f"),
                    "basis": c.basis,
                }
                for c in verdict.costs
            ],
        },
        "notes": verdict.notes,
    }


def _data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_commands(verdict: Verdict) -> str:
    """Workflow commands: an `::error` / `::warning` per finding, at most MAX_ANNOTATIONS, then a
    summary line (also an annotation, so the count is seen on the pull request)."""
    shown = [f for f in verdict.findings if f.severity != "notice"]
    shown.sort(key=lambda f: SEVERITIES.index(f.severity))
    lines = [
        f"::{f.severity} file={_property(f.plan)},title={_property(f.title)}::{_data(f.message)}"
        for f in shown[:MAX_ANNOTATIONS]
    ]
    rest = len(shown) - MAX_ANNOTATIONS
    level = "error" if not verdict.passed else "notice"
    more = f"; {rest} more not shown as annotations, see the job summary" if rest > 0 else ""
    lines.append(f"::{level} title=finops-bot policy check::{_data(headline(verdict) + more)}")
    return "\n".join(lines) + "\n"


def markdown(verdict: Verdict) -> str:
    """The job summary and the pull request comment (with the hidden marker)."""
    ordered = sorted(verdict.findings, key=lambda f: SEVERITIES.index(f.severity))
    changes = sorted((c for c in verdict.costs if c.monthly is None or c.monthly != 0), key=_biggest)
    return render_text(
        "github/policy.md.j2",
        marker=MARKER,
        headline=headline(verdict),
        passed=verdict.passed,
        findings=ordered,
        changes=[(c, _signed(c.monthly, verdict.currency)) for c in changes],
        total=_signed(verdict.increase, verdict.currency),
        unpriced=len(verdict.unpriced),
        source=verdict.price_source,
        notes=verdict.notes,
        cell=_cell,
    )


def _cell(value: str) -> str:
    """Text fit for a Markdown table cell."""
    return value.replace("|", "\\|").replace("\n", " ")
