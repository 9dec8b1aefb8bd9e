"""GitHub: one pull request comment per check, found again by a hidden marker and updated in place.

A re-run of the check edits its comment (or leaves it when nothing changed) instead of adding
another one. Plain REST over urllib: the CLI runs in CI jobs that need nothing else.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from finops.errors import UserError

PER_PAGE = 100
ATTEMPTS = 3  # 5xx, 429 and connection errors are tried again, with a growing pause
TIMEOUT = 20.0


@dataclass(frozen=True)
class GitHub:
    api_url: str
    token: str
    repository: str  # owner/name

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.api_url.rstrip("/") + path
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise UserError(
                f"GITHUB_API_URL must be https (got {self.api_url}); the token is not sent in clear"
            )
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - scheme checked above
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "finops-bot")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
                    raw = answer.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                if exc.code in (429, 500, 502, 503, 504) and attempt < ATTEMPTS:
                    time.sleep(_pause(exc, attempt))
                    continue
                said = exc.read().decode(errors="replace")[:200]
                raise UserError(f"GitHub answered {exc.code} to {method} {path}: {said}") from None
            except (urllib.error.URLError, TimeoutError) as exc:
                if attempt < ATTEMPTS:
                    time.sleep(float(attempt))
                    continue
                raise UserError(f"cannot reach GitHub at {self.api_url}: {exc}") from None
        raise AssertionError("unreachable")

    def comments(self, number: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self._call("GET", f"{self._issue(number)}/comments?per_page={PER_PAGE}&page={page}")
            found += batch or []
            if not batch or len(batch) < PER_PAGE:
                return found
            page += 1

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Create the pull request's comment holding `marker`, or update it; returns what was
        done: created, updated or unchanged."""
        mine = next((c for c in self.comments(number) if marker in (c.get("body") or "")), None)
        if mine is None:
            self._call("POST", f"{self._issue(number)}/comments", {"body": body})
            return "created"
        if mine.get("body") == body:
            return "unchanged"
        repo = quote(self.repository, safe="/")
        self._call("PATCH", f"/repos/{repo}/issues/comments/{int(mine['id'])}", {"body": body})
        return "updated"

    def _issue(self, number: int) -> str:
        return f"/repos/{quote(self.repository, safe='/')}/issues/{int(number)}"


def _pause(error: urllib.error.HTTPError, attempt: int) -> float:
    after = error.headers.get("Retry-After") if error.headers else None
    try:
        return min(float(after), 30.0) if after else float(attempt)
    except ValueError:
        return float(attempt)


def pull_request_number(event_path: Path | None) -> int | None:
    """The pull request of the GitHub Actions event (GITHUB_EVENT_PATH), if it is one."""
    if event_path is None:
        return None
    try:
        event = json.loads(event_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    for holder in ("pull_request", "issue"):
        number = (event.get(holder) or {}).get("number") if isinstance(event, dict) else None
        if isinstance(number, int):
            return number
    return None
