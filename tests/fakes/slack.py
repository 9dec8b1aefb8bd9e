"""Slack for tests: a local HTTP server faking the Web API, reached by the real slack_sdk clients.

Point `AsyncWebClient(base_url=fake.api_url)` (or SLACK_API_URL) at it. It records every request
in `calls`, checks Block Kit and views against Slack's limits (every failure lands in `problems` and
is answered ok:false), keeps messages, published Home views and uploaded files, and can answer
429s or server errors on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import threading
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

JSON_FIELDS = ("blocks", "view", "files", "attachments")
BLOCK_TYPES = {"section", "header", "divider", "context", "actions", "image", "input", "rich_text"}
BLOCK_TYPES |= {"markdown", "table", "file", "video"}
BLOCK_LIMITS = {"message": 50, "modal": 100, "home": 100}
TEAM = {"url": "https://finops-test.slack.com/", "team": "FinOps Test", "team_id": "T0001"}
BOT = {"user": "finops-bot", "user_id": "U0BOT", "bot_id": "B0BOT"}
PREFIXES = (("/api/", None), ("/upload/", "upload"), ("/response/", "response_url"))
Answer: TypeAlias = tuple[dict[str, Any], list[str]]  # (result fields or {"error": ...}, problems)
Reply: TypeAlias = tuple[int, dict[str, Any] | str, dict[str, str]]  # (HTTP status, body, headers)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    path: str


def _long(obj: dict[str, Any], key: str, limit: int, where: str) -> list[str]:
    value = obj.get(key)
    if isinstance(value, str) and len(value) > limit:
        return [f"{where}.{key}: {len(value)} characters, limit {limit}"]
    return []


def _text_problems(obj: Any, where: str, limit: int | None = None, *, plain: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: a text object is required, got {obj!r:.60}"]
    allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        return [f"{where}: type must be {' or '.join(allowed)}, got {obj.get('type')!r}"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: text must be a non-empty string"]
    return _long(obj, "text", limit, where) if limit else []


def _image_problems(obj: dict[str, Any], where: str) -> list[str]:
    out = [] if obj.get("alt_text") else [f"{where}: alt_text is required"]
    if ("image_url" in obj) == ("slack_file" in obj):
        out.append(f"{where}: exactly one of image_url / slack_file is required")
    return out + _long(obj, "image_url", 3000, where)


def _element_problems(el: Any, where: str) -> list[str]:
    if not isinstance(el, dict):
        return [f"{where}: an element object is required"]
    kind = el.get("type")
    if kind in ("plain_text", "mrkdwn"):
        return _text_problems(el, where)
    if kind == "image":
        return _image_problems(el, where)
    out = _long(el, "action_id", 255, where)
    if kind == "button":
        out += _text_problems(el.get("text"), f"{where}.text", 75, plain=True)
        out += _long(el, "value", 2000, where) + _long(el, "url", 3000, where)
    groups = el.get("option_groups") or []
    options = list(el.get("options") or []) + [o for g in groups for o in g.get("options") or []]
    if len(options) > 100:
        out.append(f"{where}: {len(options)} options, limit 100")
    for i, option in enumerate(options):
        out += _text_problems(option.get("text"), f"{where}.options[{i}].text", 75)
        out += _long(option, "value", 150, f"{where}.options[{i}]")
    return out


def _block_problems(block: dict[str, Any], where: str, surface: str) -> list[str]:
    kind, out = block["type"], _long(block, "block_id", 255, where)
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            out.append(f"{where}: a section needs text or fields")
        if text is not None:
            out += _text_problems(text, f"{where}.text", 3000)
        if fields is not None and (not isinstance(fields, list) or len(fields) > 10):
            out.append(f"{where}.fields: at most 10 text objects")
        elif fields:
            out += [p for i, f in enumerate(fields) for p in _text_problems(f, f"{where}.fields[{i}]", 2000)]
        if "accessory" in block:
            out += _element_problems(block["accessory"], f"{where}.accessory")
    elif kind == "header":
        out += _text_problems(block.get("text"), f"{where}.text", 150, plain=True)
    elif kind in ("context", "actions"):
        elements, most = block.get("elements"), 10 if kind == "context" else 25
        if not isinstance(elements, list) or not 1 <= len(elements) <= most:
            return [*out, f"{where}.elements: a list of 1 to {most} elements is required"]
        out += [p for i, el in enumerate(elements) for p in _element_problems(el, f"{where}.elements[{i}]")]
        ids = [str(el["action_id"]) for el in elements if isinstance(el, dict) and el.get("action_id")]
        out += [f"{where}: duplicate action_id {a!r}" for a in sorted(set(ids)) if ids.count(a) > 1]
    elif kind == "image":
        out += _image_problems(block, where) + _long(block, "title", 2000, where)
    elif kind == "input":
        if surface != "modal":
            out.append(f"{where}: input blocks are only allowed in modals, not in a {surface}")
        out += _text_problems(block.get("label"), f"{where}.label", 2000, plain=True)
        if "element" not in block:
            out.append(f"{where}.element: is required")
        else:
            out += _element_problems(block["element"], f"{where}.element")
    return out


def block_kit_problems(blocks: Any, *, surface: str = "message") -> list[str]:
    """Everything in `blocks` that Slack would reject (or that breaks its documented limits)."""
    if not isinstance(blocks, list):
        return [f"blocks must be a list, got {type(blocks).__name__}"]
    limit = BLOCK_LIMITS[surface]
    out = [f"{len(blocks)} blocks, limit {limit} for a {surface}"] if len(blocks) > limit else []
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            kind = block.get("type") if isinstance(block, dict) else block
            out.append(f"{where}: unknown block type {kind!r:.60}")
            continue
        where = f"{where} ({block['type']})"
        block_id = block.get("block_id")
        if block_id is not None:
            out += [f"{where}: duplicate block_id {block_id!r}"] if block_id in seen else []
            seen.add(block_id)
        out += _block_problems(block, where, surface)
    return out


def view_problems(view: Any) -> list[str]:
    """Everything wrong with a modal or Home tab view, blocks included."""
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        return [f"view: an object of type modal or home is required, got {view!r:.80}"]
    out: list[str] = []
    if view["type"] == "modal":
        out += _text_problems(view.get("title"), "view.title", 24, plain=True)
    for key in ("submit", "close"):
        if key in view:
            out += _text_problems(view[key], f"view.{key}", 24, plain=True)
    inputs = [b for b in view.get("blocks") or [] if isinstance(b, dict) and b.get("type") == "input"]
    if view["type"] == "modal" and inputs and "submit" not in view:
        out.append("view.submit: is required when the modal has input blocks")
    out += _long(view, "callback_id", 255, "view") + _long(view, "private_metadata", 3000, "view")
    out += _long(view, "external_id", 255, "view")
    out += [f"view.{p}" for p in block_kit_problems(view.get("blocks"), surface=view["type"])]
    size = len(json.dumps(view).encode())
    return out + ([f"view: {size} bytes of JSON, limit 250000"] if size > 250_000 else [])


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        status, body, headers = self.server.fake._handle(self)  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeSlack:
    """A Slack Web API on 127.0.0.1 for tests; use as a context manager (or start()/stop())."""

    def __init__(self, *, bot_token: str = "xoxb-test-token") -> None:  # noqa: S107
        self.bot_token, self.url, self.api_url = bot_token, "", ""
        self.calls: list[Call] = []
        self.problems: list[str] = []
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {}  # user id -> fields merged into users.info's user
        self.channels: dict[str, str] = {}  # channel id -> name for conversations.info
        self.files: dict[str, bytes] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.published: dict[str, dict[str, Any]] = {}
        self.app_token = "xapp-test-token"  # Socket Mode's app-level token
        self.socket_url = ""  # what apps.connections.open answers (a test's WebSocket server)
        self._declared: dict[str, dict[str, Any]] = {}  # file id -> filename and length announced
        self._faults: defaultdict[str, list[Reply]] = defaultdict(list)
        self._lock = threading.Lock()
        self._seq = 0
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> FakeSlack:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self.api_url = f"{self.url}api/"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # returns once serve_forever has stopped
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests use -------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in list(self.calls) if c.method == method]

    def response_url(self, name: str = "r") -> str:
        return f"{self.url}response/{name}"

    def responses(self, name: str | None = None) -> list[Call]:
        return [c for c in self.calls_to("response_url") if name is None or c.path == f"/response/{name}"]

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            reply = (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
            self._faults[method] += [reply] * times

    def fail(self, method: str, *, error: str = "internal_error", times: int = 1, status: int = 200) -> None:
        with self._lock:
            self._faults[method] += [(status, {"ok": False, "error": error}, {})] * times

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:  # noqa: ASYNC109
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found := self.calls_to(method)) < count:
            if asyncio.get_running_loop().time() >= deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(
                    f"waited {timeout}s for {count} call(s) to {method}, saw {len(found)}; calls: {seen}"
                )
            await asyncio.sleep(0.01)
        return found

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.problems.clear()

    # --- the server side ------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> tuple[int, bytes, dict[str, str]]:
        path, _, query = req.path.partition("?")
        raw = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        headers = {name.title(): value for name, value in req.headers.items()}  # "Content-Type", always
        method = next((m or path[5:] for p, m in PREFIXES if path.startswith(p)), path)
        with self._lock:
            call = Call(method, {}, headers, path)
            self.calls.append(call)
            try:
                status, answer, extra = self._answer(call, query, raw)
            except Exception as exc:  # a bug in the fake or a body it cannot read: show it, never hang
                self.problems.append(f"{method}: the fake failed on this request: {exc!r}")
                status, answer, extra = 500, {"ok": False, "error": "fatal_error"}, {}
        text = answer if isinstance(answer, str) else json.dumps(answer)
        ctype = "text/plain" if isinstance(answer, str) else "application/json"
        return status, text.encode(), {"Content-Type": f"{ctype}; charset=utf-8", **extra}

    def _parse(self, call: Call, query: str, raw: bytes) -> None:
        ctype = call.headers.get("Content-Type", "")
        call.args.update(parse_qsl(query, keep_blank_values=True))
        if raw and "json" in ctype:
            call.args.update(json.loads(raw))
        elif raw and "x-www-form-urlencoded" in ctype:
            call.args.update(parse_qsl(raw.decode(), keep_blank_values=True))
        elif raw:
            self.problems.append(f"{call.method}: unsupported body of type {ctype!r}")
        for key in JSON_FIELDS:  # form bodies carry these JSON-encoded; left as text when not JSON
            if isinstance(call.args.get(key), str):
                with contextlib.suppress(ValueError):
                    call.args[key] = json.loads(call.args[key])

    def _answer(self, call: Call, query: str, raw: bytes) -> Reply:
        if call.method == "upload":
            call.args.update(file_id=call.path.removeprefix("/upload/"), length=len(raw))
        else:
            self._parse(call, query, raw)
        if self._faults.get(call.method):
            return self._faults[call.method].pop(0)
        if call.method == "upload":
            return self._upload(call, raw)
        if call.method == "response_url":
            found = block_kit_problems(call.args["blocks"]) if "blocks" in call.args else []
            return self._reply(call, ({"error": "invalid_blocks"} if found else {}, found), status=400)
        handler = getattr(self, "_api_" + call.method.replace(".", "_"), None)
        if handler is None:
            return self._reply(call, ({"error": "unknown_method"}, ["not served by the fake"]))
        auth = call.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else call.args.pop("token", None)
        if token != (self.app_token if call.method == "apps.connections.open" else self.bot_token):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        return self._reply(call, handler(call.args))

    def _reply(self, call: Call, answer: Answer, status: int = 200) -> Reply:
        result, found = answer
        self.problems += [f"{call.method}: {p}" for p in found]
        if "error" not in result:
            return 200, {"ok": True, **result}, {}
        body = {"ok": False, "response_metadata": {"messages": found}, **result}
        return (status if found else 200), body, {}

    def _next(self, prefix: str = "") -> str:
        """A fresh id ("F00000003") or message ts ("1700000000.000300"); both share one counter."""
        self._seq += 1
        seconds, fraction = divmod(self._seq, 10000)
        return f"{prefix}{self._seq:08d}" if prefix else f"{1700000000 + seconds}.{fraction:04d}00"

    @staticmethod
    def _check(found: list[str], result: dict[str, Any] | None = None) -> Answer:
        return ({"error": "invalid_arguments"}, found) if found else (result or {}, [])

    def _api_auth_test(self, args: dict[str, Any]) -> Answer:
        return {**TEAM, **BOT}, []

    def _api_apps_connections_open(self, args: dict[str, Any]) -> Answer:
        """Socket Mode: the WebSocket URL a test serves (`socket_url`), for the app-level token."""
        if not self.socket_url:
            return {"error": "not_allowed_token_type"}, ["socket_url is not set by the test"]
        return {"url": self.socket_url}, []

    def _message_problems(self, args: dict[str, Any], *needs: str) -> list[str]:
        found = [f"{name} is required" for name in ("channel", *needs) if not args.get(name)]
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            found.append("one of text / blocks / attachments is required")
        return found + (block_kit_problems(args["blocks"]) if "blocks" in args else [])

    def _api_chat_postMessage(self, args: dict[str, Any]) -> Answer:
        if found := self._message_problems(args):
            return self._check(found)
        ts, channel = self._next(), args["channel"]
        self.messages[(channel, ts)] = dict(args)
        message = {"type": "message", "user": BOT["user_id"], "bot_id": BOT["bot_id"], "ts": ts}
        message |= {k: v for k, v in args.items() if k != "channel"}
        return {"channel": channel, "ts": ts, "message": message}, []

    def _api_chat_update(self, args: dict[str, Any]) -> Answer:
        if found := self._message_problems(args, "ts"):
            return self._check(found)
        key = (args["channel"], args["ts"])
        if key not in self.messages:
            return {"error": "message_not_found"}, []
        thread = {k: v for k, v in self.messages[key].items() if k == "thread_ts"}
        self.messages[key] = {**args, **thread}
        return {"channel": key[0], "ts": key[1], "text": args.get("text", ""), "message": dict(args)}, []

    def _api_chat_getPermalink(self, args: dict[str, Any]) -> Answer:
        found = [f"{name} is required" for name in ("channel", "message_ts") if not args.get(name)]
        if found:
            return self._check(found)
        if (args["channel"], args["message_ts"]) not in self.messages:
            return {"error": "message_not_found"}, []
        link = f"{TEAM['url']}archives/{args['channel']}/p{args['message_ts'].replace('.', '')}"
        return {"channel": args["channel"], "permalink": link}, []

    def _api_chat_postEphemeral(self, args: dict[str, Any]) -> Answer:
        return self._check(self._message_problems(args, "user"), {"message_ts": self._next()})

    def _api_chat_delete(self, args: dict[str, Any]) -> Answer:
        key = (args.get("channel", ""), args.get("ts", ""))
        found = self.messages.pop(key, None) is not None
        return ({"channel": key[0], "ts": key[1]} if found else {"error": "message_not_found"}), []

    def _view(self, args: dict[str, Any], *needs: str) -> Answer:
        found = [f"{name} is required" for name in needs if not args.get(name)]
        found += view_problems(args.get("view"))
        view = {"id": self._next("V"), "team_id": TEAM["team_id"], "state": {"values": {}}}
        return self._check(found, {"view": {**view, **(args.get("view") or {})}})

    def _api_views_open(self, args: dict[str, Any]) -> Answer:
        return self._view(args, "trigger_id")

    _api_views_push = _api_views_open

    def _api_views_update(self, args: dict[str, Any]) -> Answer:
        if args.get("view_id") or args.get("external_id"):
            return self._view(args)
        return self._check(["view_id or external_id is required"])

    def _api_views_publish(self, args: dict[str, Any]) -> Answer:
        result, found = self._view(args, "user_id")
        if not found:
            self.published[args["user_id"]] = args["view"]
        return result, found

    def _api_usergroups_users_list(self, args: dict[str, Any]) -> Answer:
        users = self.usergroups.get(args.get("usergroup", ""))
        return ({"users": list(users)} if users is not None else {"error": "no_such_subteam"}), []

    def _api_users_info(self, args: dict[str, Any]) -> Answer:
        uid = args.get("user", "")
        user = {"id": uid, "name": uid.lower(), "real_name": uid, "tz": "UTC", "tz_offset": 0}
        return ({"user": {**user, **self.users.get(uid, {})}} if uid else {"error": "user_not_found"}), []

    def _api_conversations_info(self, args: dict[str, Any]) -> Answer:
        cid = args.get("channel", "")
        channel = {"id": cid, "name": self.channels.get(cid, cid.lower()), "is_channel": True}
        return ({"channel": channel} if cid else {"error": "channel_not_found"}), []

    def _api_files_getUploadURLExternal(self, args: dict[str, Any]) -> Answer:
        if found := [f"{name} is required" for name in ("filename", "length") if not args.get(name)]:
            return self._check(found)
        file_id = self._next("F")
        self._declared[file_id] = {"filename": args["filename"], "length": int(args["length"])}
        return {"upload_url": f"{self.url}upload/{file_id}", "file_id": file_id}, []

    def _upload(self, call: Call, raw: bytes) -> Reply:
        """The bytes themselves, posted raw like slack_sdk does; Slack answers in plain text."""
        file_id = call.args["file_id"]
        declared = self._declared.get(file_id)
        if declared is None or declared["length"] != len(raw):
            self.problems.append(f"upload: {file_id}: got {len(raw)} bytes, declared {declared}")
            return 400, "invalid upload", {}
        self.files[file_id] = raw
        return 200, f"OK - {len(raw)}", {}

    def _api_files_completeUploadExternal(self, args: dict[str, Any]) -> Answer:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            return self._check(["files must be a non-empty JSON list"])
        missing = [f.get("id") for f in files if f.get("id") not in self.files]
        if missing:
            return self._check([f"file {file_id!r} was never uploaded" for file_id in missing])
        out = []
        for f in files:
            name = self._declared[f["id"]]["filename"]
            url, kind = f"{self.url}files/{f['id']}/{name}", mimetypes.guess_type(name)[0]
            out.append({"id": f["id"], "title": f.get("title") or name, "name": name, "url_private": url})
            out[-1] |= {"permalink": url, "mimetype": kind or "application/octet-stream"}
        return {"files": out}, []
