"""Snapshots of every Slack message and view the app renders, so a change in a message is a
visible diff. After an intended change: UPDATE_SNAPSHOTS=1 pytest tests/commands/test_snapshots.py."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from commands import alerts, approvals, budget_alerts, messages, tagging
from finops.remediation.model import Call, Change
from storage.models import Action, Anomaly, Budget, BudgetAlert
from storage.status import SourceFreshness, Status
from tests.commands.test_messages import NOW, _budget, _report
from tests.commands.test_tagging import _report as _tag_report
from tests.fakes.slack import block_kit_problems, view_problems

HERE = Path(__file__).parent / "snapshots"
AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def _anomaly(status: str = "open", **changes: Any) -> Anomaly:
    fields: dict[str, Any] = {
        "fingerprint": "4f" * 32,
        "scope": {"provider": "aws", "service": "Amazon EC2"},
        "usage_date": date(2026, 11, 20),
        "last_date": date(2026, 11, 21),
        "currency": "USD",
        "kind": "spike",
        "confidence": "high",
        "actual": Decimal("2180.00"),
        "expected": Decimal("1090.50"),
        "lower": Decimal("1010.00"),
        "upper": Decimal("1170.00"),
        "impact": Decimal("1089.50"),
        "pct": 99.9,
        "severity": "high",
        "root_cause": [{"scope": {"region": "us-east-1"}, "impact": "980.55", "share": 0.9}],
        "status": status,
        "updated_at": AT,
    }
    return Anomaly(**(fields | changes))


def _change(resource: str, *calls: tuple[str, str, dict[str, Any]], saving: str | None = "70.08") -> Change:
    return Change(
        resource_id=resource,
        resource_type="ec2:instance",
        region="us-east-1",
        calls=tuple(Call(service, operation, "us-east-1", params) for service, operation, params in calls),
        saving_monthly=None if saving is None else Decimal(saving),
        saving_basis="m5.large in us-east-1: 0.096/h x 730 h",
        risk="medium",
        risk_note="Undo: start the instance again.",
        facts={"CPU": "highest daily average 1.2% over 14 days"},
    )


CHANGES = [
    _change("i-0abc", ("ec2", "stop_instances", {"InstanceIds": ["i-0abc"]})),
    _change(
        "vol-0def",
        ("ec2", "create_snapshot", {"VolumeId": "vol-0def"}),
        ("ec2", "delete_volume", {"VolumeId": "vol-0def"}),
        saving=None,
    ),
]


def _action(status: str = "proposed", changes: list[Change] = CHANGES, **more: Any) -> Action:
    fields: dict[str, Any] = {
        "id": 7,
        "playbook": "stop-idle-instances",
        "target": {"regions": "us-east-1"},
        "plan": {
            "title": "Stop idle EC2 instances",
            "saving_monthly": "70.08",
            "unpriced": sum(c.saving_monthly is None for c in changes),
            "changes": [c.to_json() for c in changes],
            "skipped": [],
        },
        "status": status,
        "estimated_savings": Decimal("70.08"),
        "currency": "USD",
        "requested_by": "U0ENG",
        "expires_at": datetime(2026, 11, 28, 9, 30, tzinfo=UTC),
    }
    return Action(**(fields | more))


MANY = [_change(f"i-{n:04d}", ("ec2", "stop_instances", {"InstanceIds": [f"i-{n:04d}"]})) for n in range(14)]
DONE = {
    "status": "partial",
    "done": ["i-0abc"],
    "failed": ["vol-0def"],
    "dropped": [],
    "saving_monthly": "70.08",
}


BUDGET = Budget(
    id=3, name="payments", amount=Decimal(1000), currency="USD", period="monthly", owners=["U0OWNER", "S0PAY"]
)


def _budget_alert(status: str = "open", kind: str = "actual", **changes: Any) -> BudgetAlert:
    details = {
        "as_of": "2026-11-20",
        "start": "2026-11-01",
        "end": "2026-11-30",
        "period": "monthly",
        "currency": "USD",
        "amount": "1200",
        "carried": "200",
        "spent": "960.00",
        "pct_spent": "80.0",
        "forecast": "1440.00",
        "pct_forecast": "120.0",
        "days_left": 10,
        "burn_per_day": "48.00",
        "top": [["Amazon EC2", "700.00"], ["Amazon S3", "260.00"]],
        "daily": [],
        "rates": "EUR converted to USD at 1.1 (since 2026-01-01)",
        "parent": "engineering",
    }
    fields: dict[str, Any] = {"id": 11, "budget_id": 3, "kind": kind, "threshold_pct": 80, "status": status}
    return BudgetAlert(**(fields | {"details": details, "escalation_level": 0} | changes))


def _increase() -> Action:
    params = {
        "budget_id": 3,
        "from": "1000",
        "to": "1500",
        "currency": "USD",
        "period": "monthly",
        "reason": "Black Friday load tests",
        "approvers": ["U0APPROVER", "S0FINANCE"],
        "alert_id": 11,
    }
    return _action(
        playbook=approvals.INCREASE, target={"budget": "payments"}, params=params, plan={}, expires_at=None
    )


STATUS = Status([SourceFreshness("s3://bills/aws", AT, date(2026, 11, 24), None)], [], {"high": 1})

CASES: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
    "cost": ("message", lambda: messages.cost_message(_report(3), chart_file="F0001")),
    "cost_help": ("message", messages.cost_help),
    "error": ("message", lambda: messages.error_message('Sorry, I did not understand "x".')),
    "whoami": ("message", lambda: messages.whoami_message("U0ENG", "engineer")),
    "status": ("message", lambda: messages.status_message(STATUS, NOW)),
    "tags": ("message", lambda: tagging.tags_message(_tag_report(2, 3, months=6))),
    "budget_list": ("message", lambda: messages.budget_list_message([_budget("payments")], can_edit=True)),
    "budget": (
        "message",
        lambda: messages.budget_message(_budget("payments"), can_edit=True, chart_file="F2"),
    ),
    "budget_modal": ("modal", lambda: messages.budget_modal('{"original": null}')),
    "home": ("home", lambda: messages.home_view("viewer", STATUS, NOW, spend=["*1.00 USD* this month"])),
    "anomaly_open": ("message", lambda: alerts.anomaly_message(_anomaly(), chart_file="F3")),
    "anomaly_snoozed": (
        "message",
        lambda: alerts.anomaly_message(
            _anomaly(
                "snoozed",
                status_by="U0ENG",
                status_reason="load test",
                snoozed_until=datetime(2026, 12, 2, 9, 30, tzinfo=UTC),
            ),
            jira_requested=True,
        ),
    ),
    "anomaly_false_positive": (
        "message",
        lambda: alerts.anomaly_message(_anomaly("false_positive", status_by="U0ADMIN")),
    ),
    "anomaly_news": ("message", lambda: alerts.anomaly_news(_anomaly(), alerts.still_anomalous(_anomaly()))),
    "anomaly_snooze_modal": ("modal", lambda: alerts.snooze_modal("4f" * 32, alerts.headline(_anomaly()))),
    "approval_waiting": ("message", lambda: approvals.approval_message(_action())),
    "approval_rejected": (
        "message",
        lambda: approvals.approval_message(
            _action("rejected", decided_by="U0ADMIN", decision_reason="too risky", decided_at=AT)
        ),
    ),
    "remediation_many_changes": ("message", lambda: approvals.approval_message(_action(changes=MANY))),
    "remediation_partly_executed": (
        "message",
        lambda: approvals.approval_message(
            _action("partial", decided_by="U0ADMIN", decided_at=AT, result=DONE)
        ),
    ),
    "approval_reject_modal": ("modal", lambda: approvals.reject_modal("action:7", "Approval needed")),
    "budget_alert": ("message", lambda: budget_alerts.alert_message(_budget_alert(), BUDGET, "F4")),
    "budget_alert_forecast": (
        "message",
        lambda: budget_alerts.alert_message(_budget_alert(kind="forecast"), BUDGET),
    ),
    "budget_alert_acknowledged": (
        "message",
        lambda: budget_alerts.alert_message(
            _budget_alert("acknowledged", acknowledged_by="U0ENG", acknowledged_at=AT, escalation_level=1),
            BUDGET,
        ),
    ),
    "budget_alert_snooze_modal": ("modal", lambda: budget_alerts.snooze_modal(_budget_alert(), BUDGET)),
    "budget_increase_modal": ("modal", lambda: budget_alerts.increase_modal(BUDGET, 11, "C0ALERTS")),
    "budget_increase_request": ("message", lambda: approvals.approval_message(_increase())),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendered_message_matches_its_snapshot(name: str) -> None:
    surface, build = CASES[name]
    rendered = build()
    problems = block_kit_problems(rendered["blocks"]) if surface == "message" else view_problems(rendered)
    assert not problems
    path = HERE / f"{name}.json"
    text = json.dumps(rendered, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        HERE.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(), f"{name} changed: review the diff, then UPDATE_SNAPSHOTS=1"
