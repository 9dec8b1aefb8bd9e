"""manifest.yml against the app: what it declares has a handler, what is handled is declared,
and the bot scopes are exactly those the Web API calls in the code need."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from commands import alerts, budget_alerts, ids, slack

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

# The bot scope each Web API method the code calls needs (None: no scope).
METHOD_SCOPES = {
    "auth_test": None,
    "chat_postEphemeral": "chat:write",
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_getPermalink": None,
    "files_upload_v2": "files:write",
    "usergroups_users_list": "usergroups:read",
    "views_open": None,
    "views_publish": None,
    "views_update": None,
}


class Recorder:
    """Stands in for the Bolt app to see what `register` wires."""

    def __init__(self) -> None:
        self.wired: dict[str, list[str]] = defaultdict(list)

    def _record(self, kind: str, key: str) -> Any:
        self.wired[kind].append(key)
        return lambda *args, **kwargs: None

    def command(self, name: str) -> Any:
        return self._record("command", name)

    def action(self, action_id: str) -> Any:
        return self._record("action", action_id)

    def view(self, callback_id: str) -> Any:
        return self._record("view", callback_id)

    def event(self, event: str) -> Any:
        return self._record("event", event)


def _registered() -> dict[str, list[str]]:
    recorder = Recorder()
    slack.register(recorder)
    return recorder.wired


def _templates() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "templates").rglob("*.json.j2")))


def test_every_slash_command_is_declared_and_handled() -> None:
    declared = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
    assert sorted(declared) == sorted(_registered()["command"])
    for command in MANIFEST["features"]["slash_commands"]:
        assert command["description"] and len(command["description"]) <= 100
        assert command["command"].startswith("/") and len(command["command"]) <= 32


def test_every_event_is_declared_and_handled() -> None:
    assert sorted(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == sorted(_registered()["event"])
    if "app_home_opened" in _registered()["event"]:
        assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_every_button_has_a_handler_and_every_handler_a_button() -> None:
    templates = _templates()
    buttons = set(re.findall(r'"type": "button", "action_id": "([A-Za-z0-9_.:-]+)"', templates))
    assert buttons, "no buttons found in templates: has their layout changed?"
    # Buttons whose ids the code passes in (the anomaly alert's) are listed with their labels.
    assert '"action_id": {{ b.action_id | tojson }}' in templates
    buttons |= set(alerts.LABELS) | set(budget_alerts.LABELS)
    assert buttons == set(_registered()["action"])
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True


def test_every_modal_has_a_submission_handler_and_the_other_way_round() -> None:
    callbacks = set(re.findall(r'"callback_id": "([A-Za-z0-9_.:-]+)"', _templates()))
    # The snooze modal's callback id is passed in (it serves anomalies and budget alerts).
    assert '"callback_id": {{ callback_id | tojson }}' in _templates()
    callbacks |= {ids.ANOMALY_SNOOZE_MODAL, ids.BUDGET_ALERT_SNOOZE_MODAL}
    assert callbacks == set(_registered()["view"])


def test_bot_scopes_are_exactly_what_the_web_api_calls_need() -> None:
    code = "\n".join(p.read_text() for d in ("bot", "commands", "jobs") for p in (ROOT / d).rglob("*.py"))
    called = set(re.findall(r"\bclient\.([a-z]+_[A-Za-z0-9_]+)\(", code))
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add the scope of {unknown} to METHOD_SCOPES (and to manifest.yml)"
    needed = {METHOD_SCOPES[m] for m in called} - {None}
    if _registered()["command"]:
        needed.add("commands")
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed


def test_socket_mode_and_urls_agree() -> None:
    settings = MANIFEST["settings"]
    if settings["socket_mode_enabled"]:
        return
    for command in MANIFEST["features"]["slash_commands"]:
        assert command["url"].endswith("/slack/events")
    assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert settings["interactivity"]["request_url"].endswith("/slack/events")
