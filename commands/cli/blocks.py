"""Block Kit messages for the terminal: what a Slack message would show, as lines of text.

Slack mrkdwn becomes readable text: `*bold*` is bold (the asterisks go), `_italic_` italic,
`<url|label>` its label, `<@U123>` `@U123`, `<#C123|general>` `#general`, entities (`&amp;`)
their characters and the project's emoji codes their emoji. Buttons show as `[ Label ]`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from rich.text import Text

EMOJI = {
    ":red_circle:": "🔴",
    ":eyes:": "👀",
    ":zzz:": "💤",
    ":white_check_mark:": "✅",
    ":white_circle:": "⚪",
    ":warning:": "⚠️",
    ":grey_question:": "❔",
    ":large_green_circle:": "🟢",
    ":large_yellow_circle:": "🟡",
    ":chart_with_upwards_trend:": "📈",
    ":moneybag:": "💰",
}
# <...> entities Slack puts in mrkdwn: links, user/channel/group mentions, special mentions.
_ANGLED = re.compile(r"<([^<>]+)>")
_EMOJI = re.compile(r":[a-z0-9_+-]+:")
# *bold*, _italic_, ~strike~ and `code`, each within a line, not touching a word on the outside.
_STYLED = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)\*(?![\w*])|(?<!\w)_(?=\S)([^_\n]+?)_(?!\w)|`([^`\n]+)`")
_STYLES = ("bold", "italic", "cyan")


def _angled(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return f"@{label}" if label else target
    if target.startswith("#"):
        return f"#{label}" if label else target
    if target.startswith("!"):
        name = label or target[1:].split("^")[0]
        return name if name.startswith("@") else f"@{name}"
    return label or target


def plain(text: str) -> str:
    """Slack mrkdwn without its markup for links, mentions, entities and emoji codes (styles kept)."""
    text = _ANGLED.sub(_angled, text)
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(0), m.group(0)), text)
    return html.unescape(text)


def mrkdwn(text: str, style: str = "") -> Text:
    """Slack mrkdwn as styled terminal text."""
    converted = plain(text)
    out = Text(style=style)
    at = 0
    for match in _STYLED.finditer(converted):
        out.append(converted[at : match.start()])
        index = next(i for i in range(3) if match.group(i + 1) is not None)
        out.append(match.group(index + 1), style=_STYLES[index])
        at = match.end()
    out.append(converted[at:])
    return out


def _text(obj: Any, style: str = "") -> Text:
    """A Block Kit text object (plain_text or mrkdwn)."""
    if not isinstance(obj, Mapping):
        return Text(str(obj or ""), style=style)
    if obj.get("type") == "mrkdwn":
        return mrkdwn(str(obj.get("text", "")), style)
    return Text(html.unescape(str(obj.get("text", ""))), style=style)


def _field(obj: Any) -> Text:
    """A section field: a `*Label*` line then a one-line value reads `Label: value`."""
    text = str(obj.get("text", "")) if isinstance(obj, Mapping) else str(obj)
    head, newline, rest = text.partition("\n")
    if newline and "\n" not in rest and re.fullmatch(r"\*[^*\n]+\*", head):
        return Text.assemble((plain(head[1:-1]), "bold"), ": ", mrkdwn(rest))
    return _text(obj)


def element(obj: Any) -> Text:
    """An interactive or context element: a button as `[ Label ]`, a menu as `[ Placeholder ▾ ]`."""
    kind = obj.get("type") if isinstance(obj, Mapping) else None
    if kind == "button":
        style = {"primary": "bold green", "danger": "bold red"}.get(str(obj.get("style")), "bold")
        return Text(f"[ {_text(obj.get('text')).plain} ]", style=style)
    if kind == "image":
        return Text(f"[image: {obj.get('alt_text', '')}]", style="dim")
    if kind in ("plain_text", "mrkdwn"):
        return _text(obj)
    if isinstance(kind, str) and ("select" in kind or kind == "overflow"):
        placeholder = _text(obj.get("placeholder")).plain or kind.replace("_", " ")
        return Text(f"[ {placeholder} ▾ ]", style="bold")
    if isinstance(kind, str) and "picker" in kind:
        return Text(f"[ {kind.replace('_', ' ')} ]", style="bold")
    return Text(f"[{kind or 'element'}]", style="dim")


def _joined(parts: Iterable[Text], separator: str) -> Text:
    return Text(separator).join(list(parts))


def block(obj: Mapping[str, Any]) -> list[Text]:
    """One block as lines."""
    kind = obj.get("type")
    if kind == "header":
        return [_text(obj.get("text"), "bold underline")]
    if kind == "section":
        lines = list(_text(obj["text"]).split("\n")) if obj.get("text") else []
        for field in obj.get("fields") or []:
            lines += list(_field(field).split("\n"))
        if obj.get("accessory"):
            lines.append(element(obj["accessory"]))
        return lines
    if kind == "context":
        return [_joined((element(e) for e in obj.get("elements") or []), "  ·  ")]
    if kind == "actions":
        return [_joined((element(e) for e in obj.get("elements") or []), "  ")]
    if kind == "divider":
        return [Text("─" * 40, style="dim")]
    if kind == "image":
        return [element(obj)]
    if kind == "input":
        return [Text.assemble(_text(obj.get("label"), "bold"), " ", element(obj.get("element") or {}))]
    return [Text(f"[{kind} block]", style="dim")]


def render(message: Mapping[str, Any]) -> list[Text]:
    """A message (`text` and `blocks`, as chat.postMessage takes them) as terminal lines; a
    message without blocks is its text."""
    blocks = message.get("blocks") or []
    if not blocks:
        return list(mrkdwn(str(message.get("text", ""))).split("\n"))
    return [line for one in blocks for line in block(one)]


def to_plain(message: Mapping[str, Any]) -> str:
    """The message as plain text (no styles), one line per rendered line."""
    return "\n".join(line.plain for line in render(message))
