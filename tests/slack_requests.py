"""Requests as Slack sends them to /slack/events: bodies, and the v0 HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


def signature_headers(
    body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{stamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def command(name: str, text: str, *, user: str, response_url: str, channel: str = "C0FINOPS") -> str:
    return urlencode(
        {
            "token": "legacy-unused",
            "team_id": "T0001",
            "team_domain": "finops-test",
            "channel_id": channel,
            "channel_name": "finops",
            "user_id": user,
            "user_name": user.lower(),
            "command": name,
            "text": text,
            "api_app_id": "A0FINOPS",
            "response_url": response_url,
            "trigger_id": f"trigger-{time.monotonic_ns()}",
        }
    )


def _interaction(user: str) -> dict[str, Any]:
    """What every interaction payload carries: who, where, and a fresh trigger id."""
    return {
        "team": {"id": "T0001", "domain": "finops-test"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0FINOPS",
        "token": "legacy-unused",
        "trigger_id": f"trigger-{time.monotonic_ns()}",
    }


def _interactive(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def block_action(
    action_id: str, value: str, *, user: str, response_url: str, channel: str = "C0FINOPS"
) -> str:
    return _interactive(
        {
            "type": "block_actions",
            **_interaction(user),
            "container": {
                "type": "message",
                "message_ts": "1700000000.000100",
                "channel_id": channel,
                "is_ephemeral": True,
            },
            "channel": {"id": channel, "name": "finops"},
            "response_url": response_url,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b1",
                    "value": value,
                    "action_ts": "1700000001.000200",
                }
            ],
        }
    )


def view_submission(
    callback_id: str, values: dict[str, Any], *, user: str, private_metadata: str = ""
) -> str:
    return _interactive(
        {
            "type": "view_submission",
            **_interaction(user),
            "view": {
                "id": "V0MODAL",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "state": {"values": values},
                "hash": "1700000000.abc",
            },
        }
    )


def event(payload: dict[str, Any]) -> str:
    return json.dumps(
        {
            "token": "legacy-unused",
            "team_id": "T0001",
            "api_app_id": "A0FINOPS",
            "event": payload,
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
        }
    )
