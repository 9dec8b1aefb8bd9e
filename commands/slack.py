"""Every Slack surface of the app; `register(app)` wires them all."""

from __future__ import annotations

from typing import Any

from commands import actions, events, slash, views

SURFACES = (slash, actions, views, events)


def register(app: Any) -> None:
    for surface in SURFACES:
        surface.register(app)
