"""Jinja2 templates: Slack Block Kit (`*.json.j2`) rendered to Python objects.

One environment, `StrictUndefined` (a missing value is an error, not an empty string), values
through `| tojson`; the output is parsed as JSON, so a template that is not valid JSON fails loudly.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

HERE = Path(__file__).parent


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - JSON output; every value goes through | tojson
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": False}
    return env


def render_text(template: str, /, **context: Any) -> str:
    """Render a text template (a Jira description)."""
    return environment().get_template(template).render(**context).strip() + "\n"


def render(template: str, /, **context: Any) -> dict[str, Any]:
    """Render `template` (e.g. "slack/cost.json.j2") and parse it as a JSON object."""
    text = environment().get_template(template).render(**context)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"template {template} did not render valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"template {template} rendered {type(document).__name__}, not an object")
    return document
