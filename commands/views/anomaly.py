"""The snooze modal's submission: 1 day, 1 week or until a date (within a week), with a reason."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from commands import ids
from commands.actions.anomaly import move
from commands.context import Deps, deps
from commands.roles import PermissionDenied

MAX_SNOOZE = timedelta(days=7)


def _selected(values: dict[str, Any], block: str) -> Any:
    return values.get(block, {}).get("value", {})


def parse_snooze(values: dict[str, Any], now: datetime) -> tuple[datetime | None, str, dict[str, str]]:
    """Until when and why, or the errors to show beside the inputs."""
    errors: dict[str, str] = {}
    duration = (_selected(values, "duration").get("selected_option") or {}).get("value", "1d")
    picked = _selected(values, "until").get("selected_date")
    reason = str(_selected(values, "reason").get("value") or "").strip()
    until: datetime | None = None
    if duration == "1d":
        until = now + timedelta(days=1)
    elif duration == "1w":
        until = now + MAX_SNOOZE
    elif not picked:
        errors["until"] = "Pick the day to snooze until."
    else:
        try:
            day = date.fromisoformat(picked)
        except ValueError:
            errors["until"] = "That is not a date."
        else:
            until = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)  # to the end of that day
            if day <= now.date():
                errors["until"] = "Pick a day after today."
            elif until - now > MAX_SNOOZE + timedelta(days=1):
                errors["until"] = "Snooze for a week at most; mark it expected if it will last."
    if not reason:
        errors["reason"] = "Say why, for whoever looks at it next."
    return (None if errors else until), reason, errors


async def snoozed(
    ack: Any, d: Deps, user: str, view: dict[str, Any], permission: str
) -> tuple[datetime, str] | None:
    """Until when and why, acked; or None, the errors shown beside the inputs (a bad value, or a
    user without `permission`)."""
    until, reason, errors = parse_snooze(view["state"]["values"], d.now())
    if errors or until is None:
        await ack(response_action="errors", errors=errors)
        return None
    try:
        await d.roles.require(user, permission)
    except PermissionDenied as denied:
        await ack(response_action="errors", errors={"reason": str(denied)[:150]})
        return None
    await ack()
    return until, reason


async def handle_snooze_submission(
    ack: Any, body: dict[str, Any], view: dict[str, Any], context: Any
) -> None:
    d, user = deps(context), body["user"]["id"]
    if (found := await snoozed(ack, d, user, view, "anomaly.act")) is not None:
        fingerprint = json.loads(view.get("private_metadata") or "{}")["fingerprint"]
        await move(d, user, fingerprint, "snoozed", reason=found[1], snoozed_until=found[0])


def register(app: Any) -> None:
    app.view(ids.ANOMALY_SNOOZE_MODAL)(handle_snooze_submission)
