"""Events API subscriptions; `register(app)` wires each."""

from __future__ import annotations

from typing import Any

from commands import ids
from commands.events.home import handle_app_home_opened

EVENTS = {ids.APP_HOME_OPENED: handle_app_home_opened}


def register(app: Any) -> None:
    for event, handler in EVENTS.items():
        app.event(event)(handler)
