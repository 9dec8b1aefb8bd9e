"""Azure Cost Management for tests: a local HTTP server replaying recorded Query API answers.

The real azure-mgmt-costmanagement client talks to it (`Access(azure_endpoint=fake.endpoint)` or
FINOPS_AZURE_ENDPOINT). Each request takes the next scripted reply; every request is kept so a
test can check what was sent (path with the scope, api-version, bearer token, body).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes.http import serving

RECORDED = Path(__file__).parent.parent / "fixtures" / "azure" / "query"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class FakeCostManagement:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[Seen] = []
        self.endpoint = ""
        self._lock = threading.Lock()

    def reply(self, recording: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Answer the next request with a recorded body (tests/fixtures/azure/query/<recording>)."""
        self.replies.append(Reply(status, (RECORDED / recording).read_text(), headers or {}))

    def reply_text(self, body: str, status: int = 200) -> None:
        self.replies.append(Reply(status, body))

    def answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            if not self.replies:
                return Reply(500, json.dumps({"error": {"code": "NoScript", "message": "no reply scripted"}}))
            return self.replies.pop(0)


def _handler(fake: FakeCostManagement) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            url = urlparse(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen = Seen(
                method="POST",
                path=url.path,
                query={key: values[-1] for key, values in parse_qs(url.query).items()},
                headers={key.lower(): value for key, value in self.headers.items()},
                body=json.loads(raw) if raw else {},
            )
            reply = fake.answer(seen)
            body = reply.body.replace("{endpoint}", fake.endpoint).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-ms-request-id", f"fake-{len(fake.requests)}")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def cost_management() -> Iterator[FakeCostManagement]:
    """A running fake on a free local port, stopped afterwards."""
    fake = FakeCostManagement()
    with serving(_handler(fake)) as endpoint:
        fake.endpoint = endpoint
        yield fake
