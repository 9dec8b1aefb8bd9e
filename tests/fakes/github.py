"""A fake GitHub REST API for issue comments: list (paged), create, update; token checked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http import serving

TOKEN = "ghs_test_token"


@dataclass
class FakeGitHub:
    url: str = ""
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue -> comments
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer with first
    next_id: int = 1000

    def add(self, issue: int, body: str) -> None:
        self.next_id += 1
        self.comments.setdefault(issue, []).append(
            {"id": self.next_id, "body": body, "user": {"login": "someone"}}
        )


@contextmanager
def fake_github() -> Iterator[FakeGitHub]:
    state = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _answer(self, status: int, body: Any = None) -> None:
            raw = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            state.requests.append((method, parts.path))
            if state.fail_next:
                self._answer(state.fail_next.pop(0), {"message": "fake failure"})
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"message": "Bad credentials"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            listed = re.fullmatch(r"/repos/acme/infra/issues/(\d+)/comments", parts.path)
            edited = re.fullmatch(r"/repos/acme/infra/issues/comments/(\d+)", parts.path)
            if listed and method == "GET":
                query = parse_qs(parts.query)
                size, page = int(query["per_page"][0]), int(query["page"][0])
                items = state.comments.get(int(listed.group(1)), [])
                self._answer(200, items[(page - 1) * size : page * size])
            elif listed and method == "POST":
                state.add(int(listed.group(1)), body["body"])
                self._answer(201, state.comments[int(listed.group(1))][-1])
            elif edited and method == "PATCH":
                for comment in (c for items in state.comments.values() for c in items):
                    if comment["id"] == int(edited.group(1)):
                        comment["body"] = body["body"]
                        self._answer(200, comment)
                        return
                self._answer(404, {"message": "Not Found"})
            else:
                self._answer(404, {"message": "Not Found"})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    with serving(Handler) as url:
        state.url = url
        yield state
