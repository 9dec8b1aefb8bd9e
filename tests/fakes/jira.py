"""Jira for tests: a local HTTP server faking the Jira REST API v2, reached by the real `jira` client.

Point `jira.JIRA(server=fake.url, basic_auth=(fake.user, fake.token), max_retries=0)` (or JIRA_URL) at it;
for a Data Center personal access token use `FakeJira(deployment="Server")` and `token_auth=fake.token`.
It keeps projects, issues and comments, records every request in `calls`, checks request shapes (each
violation lands in `problems` and is answered 400 in Jira's shape `{"errorMessages": [...], "errors": {...}}`)
and fails or slows down on demand.

Served under /rest/api/2 (or /rest/api/latest): serverInfo, myself, field, project, project/KEY,
project/KEY/statuses, issuetype, priority, resolution, issue/createmeta/KEY/issuetypes, issue (POST),
issue/KEY (GET, PUT), issue/KEY/comment (GET, POST), issue/KEY/transitions (GET, POST), and search:
/search/jql (GET or POST) on Cloud, where the old /search answers 410 as Cloud does; /search (GET or POST) on
Server, where /search/jql does not exist. Anything else answers 404 and is a problem.

Configuration errors versus bugs: an unknown project, issue type, priority, component or resolution answers
400 with Jira's message and is *not* a problem (the app must report it); wrong types, missing required fields,
fields Jira would not accept and JQL outside the subset below are problems.

JQL subset (keywords case-insensitive, clauses joined by AND): `labels = x`, `labels in (a, "b")`,
`key = FIN-1`, `key in (...)`, `project = FIN` / `in`, `statusCategory` and `status` with = != in / not in,
`created` / `updated` / `resolutiondate` (alias `resolved`) with >= > <= < against `-30d`, `-5m`, `2h`, `1w`
or `2024-05-31[ 12:00]`, then optional `ORDER BY updated|created|resolutiondate|key [ASC|DESC], ...`.
Without ORDER BY results come in creation order. Anything else answers 400 "Error in the JQL Query: ...".

How jira 3.10.5 reacts to failures (jira.resilientsession.ResilientSession; `JIRA(max_retries=3)` default):
- It retries only 429 and 503 answers and connection errors; any other error status raises JIRAError at once.
- A 503 is retried only when it carries Retry-After; a bare 503 raises JIRAError(status_code=503) at once.
- A 429 is retried after 2 x Retry-After seconds, or without the header after 10 x 2**attempt seconds
  (20 s, 40 s, ...); every wait is capped at `session.max_retry_delay` (60 s), jittered to 50-100 % and
  slept in the calling thread. Connection errors wait 10 x 2**attempt too; read timeouts are never retried.
- `max_retries=N` allows N retries after the first try; with `max_retries=0` there is exactly one request
  and a 429/503 raises JIRAError carrying that status (`exc.status_code`, `exc.text`). The app uses 0 so
  its outbox owns retrying and no worker sleeps for a minute.

`fail()`, `slow()` and `calls_to()` match path prefixes by whole segments ("/rest/api/2/issue" matches
/rest/api/2/issue and /rest/api/2/issue/FIN-1/comment, not /rest/api/2/issuetype); a prefix without a
leading "/" is relative to /rest/api/2/. `slow()` applies the request first and then delays the answer, like
a Jira that does the work but answers late: a client timeout leaves the effect in place.
`clock` (a callable returning an aware datetime) stamps created/updated/resolutiondate and anchors relative
JQL dates; `jira_time(dt)` formats a datetime the way Jira does, to back-date `issues[key].fields`.

Which search the client uses: `search_issues()` looks at serverInfo's deploymentType. On Cloud it calls
`enhanced_search_issues()`: GET /search/jql (POST with use_post=True) with jql, fields (default "*all"),
maxResults, paging by nextPageToken/isLast (maxResults=0 fetches every page, 100 at a time; a startAt other
than 0 raises JIRAError in the client). On Server it calls GET /search (or POST) with startAt/maxResults and
reads `total`. `enhanced_search_issues()` on Server returns None without a request. With a fields list, the
client first GETs /field once to map JQL names to field ids. Note `issue.update(labels=[...])` sends the list
as "update" operations, which Jira (and the fake) refuses: use `fields={"labels": [...]}` or add_field_value.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import operator
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias
from urllib.parse import parse_qs

Reply: TypeAlias = tuple[int, Any, dict[str, str]]  # (HTTP status, JSON answer or None, headers)
API = "/rest/api/2/"
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")  # ids "1".."5", as in a new Jira
RESOLUTIONS = ("Done", "Won't Do", "Duplicate", "Cannot Reproduce")  # ids "10000".."10003"
CATEGORIES = {"new": (2, "To Do"), "indeterminate": (4, "In Progress"), "done": (3, "Done")}
STATUSES = {"To Do": ("10000", "new"), "In Progress": ("3", "indeterminate"), "Done": ("10001", "done")}
FIELDS = {  # the system fields /field lists: id -> (name, schema type, extra JQL clause names)
    "summary": ("Summary", "string", ()),
    "description": ("Description", "string", ()),
    "labels": ("Labels", "array", ()),
    "priority": ("Priority", "priority", ()),
    "issuetype": ("Issue Type", "issuetype", ("type",)),
    "project": ("Project", "project", ()),
    "components": ("Component/s", "array", ("component",)),
    "status": ("Status", "status", ()),
    "resolution": ("Resolution", "resolution", ()),
    "created": ("Created", "datetime", ("createdDate",)),
    "updated": ("Updated", "datetime", ("updatedDate",)),
    "resolutiondate": ("Resolved", "datetime", ("resolved",)),
}
EDITABLE = {"summary", "description", "labels", "priority", "components"}
CREATE_DEFAULTS: dict[str, Any] = {
    "summary": None,
    "description": None,
    "labels": [],
    "priority": {"id": "3"},
    "components": [],
}
PRIORITY_MESSAGES = (
    "Could not find valid 'id' or 'name' in priority object.",
    "The priority selected is invalid.",
)
ISSUETYPE_MESSAGES = ("Specify an issue type", "The issue type selected is invalid.")
COMPONENT_MESSAGES = (
    "Could not find valid 'id' or 'name' in component object.",
    "Component {0} '{1}' is not valid",
)
DATES = {"created": "created", "createddate": "created", "updated": "updated", "updateddate": "updated"}
DATES |= {"resolutiondate": "resolutiondate", "resolved": "resolutiondate"}
COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
NO_ISSUE = "Issue does not exist or you do not have permission to see it."
CLOUD_SEARCH_GONE = "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."
_TOKEN = re.compile(
    r"""\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(!=|>=|<=|!~|=|>|<|~)|([(),])|([^\s"'(),=!<>~]+))"""
)


@dataclass
class Call:
    method: str  # HTTP method
    path: str  # without query string, e.g. "/rest/api/2/issue"
    query: dict[str, str]  # a repeated parameter (fields=a&fields=b) is joined with ","
    body: Any  # parsed JSON, the text when it is not JSON, or None
    headers: dict[str, str]


@dataclass
class Issue:
    key: str
    id: str
    fields: dict[str, Any]
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Rule:
    method: str
    prefix: str
    times: int
    reply: Reply | None = None
    seconds: float = 0.0


class _Refusal(Exception):
    """An error answer in Jira's shape; `problem` when it shows a bug in the request, not in configuration."""

    def __init__(
        self,
        status: int,
        messages: list[str] | None = None,
        errors: dict[str, str] | None = None,
        *,
        problem: bool = True,
    ) -> None:
        self.status, self.problem = status, problem
        self.body = {"errorMessages": messages or [], "errors": errors or {}}
        super().__init__("; ".join([*(messages or []), *(f"{k}: {v}" for k, v in (errors or {}).items())]))


class _Invalid(ValueError):
    """A field's value Jira refuses; `config` when it names something that does not exist."""

    def __init__(self, message: str, *, config: bool = False) -> None:
        super().__init__(message)
        self.config = config


class JqlError(ValueError):
    pass


def jira_time(when: datetime) -> str:
    """Jira's timestamp format, e.g. "2024-05-31T12:00:00.000+0000" (tests use it to back-date issues)."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _prefix(prefix: str) -> str:
    return (prefix if prefix.startswith("/") else API + prefix).rstrip("/")


def _matches(method: str, prefix: str, call: Call) -> bool:
    return method.upper() == call.method and (call.path == prefix or call.path.startswith(prefix + "/"))


def _ref(value: Any, *attrs: str) -> tuple[str, str] | None:
    """("id", "10001") or ("name", "Task") from {"id": ...} / {"name": ...}; None when malformed."""
    if isinstance(value, dict):
        for attr in attrs:
            if (
                isinstance(value.get(attr), str | int)
                and not isinstance(value[attr], bool)
                and value[attr] != ""
            ):
                return attr, str(value[attr])
    return None


def _find(ref: tuple[str, str], options: Any) -> dict[str, Any] | None:
    return next((o for o in options if str(o.get(ref[0])) == ref[1]), None)


def _pick(value: Any, attrs: tuple[str, ...], options: Any, messages: str | tuple[str, str]) -> Any:
    """The option a reference ({"id": ...} / {"name": ...}) names; None when there are no options to check."""
    malformed, unknown = (messages, messages) if isinstance(messages, str) else messages
    if (ref := _ref(value, *attrs)) is None:
        raise _Invalid(malformed)
    if options is not None and (found := _find(ref, options)) is None:
        raise _Invalid(unknown.format(*ref), config=True)
    return None if options is None else found


def _is_label(value: Any) -> bool:
    return isinstance(value, str) and value.split() == [value]  # one word: no spaces, not empty


def _field_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [n.strip() for n in names if n.strip()]


def _wants(wanted: list[str] | None, name: str) -> bool:
    if wanted is None or "*all" in wanted or "*navigable" in wanted:
        return f"-{name}" not in (wanted or [])
    return name in wanted


# --- JQL ---------------------------------------------------------------------------------------------


def _tokens(jql: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while jql[pos:].strip():
        m = _TOKEN.match(jql, pos)
        if m is None:
            raise JqlError(f"the character {jql[pos:].strip()[0]!r} is a reserved JQL character")
        dq, sq, op, punct, word = m.groups()
        if dq is not None or sq is not None:
            out.append(("str", re.sub(r"\\(.)", r"\1", dq if dq is not None else sq)))
        else:
            out.append(("op", op) if op else ("punct", punct) if punct else ("word", word))
        pos = m.end()
    return out


class _Reader:
    def __init__(self, jql: str) -> None:
        self.tokens, self.i = _tokens(jql), 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def next(self) -> tuple[str, str]:
        self.i += 1
        return self.tokens[self.i - 1] if self.i <= len(self.tokens) else ("end", "")

    def word(self, *words: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text.lower() in words:
            self.i += 1
            return True
        return False

    def expect(self, token: tuple[str, str], what: str) -> None:
        if (got := self.next()) != token:
            raise JqlError(f"expecting {what} but got '{got[1] or 'the end of the query'}'")

    def value(self) -> str:
        kind, text = self.next()
        if kind not in ("str", "word"):
            raise JqlError(f"expecting a value but got '{text or 'the end of the query'}'")
        if kind == "word" and self.peek() == ("punct", "("):
            raise JqlError(f"the function '{text}' is not served by the fake")
        return text


def parse_jql(jql: str) -> tuple[list[tuple[str, str, list[str]]], list[tuple[str, bool]]]:
    """Clauses (field in lower case, operator, values) and ORDER BY (field, descending) of the subset."""
    r, clauses, order = _Reader(jql), [], []
    if r.peek()[0] != "end" and r.peek()[1].lower() != "order":
        while True:
            kind, name = r.next()
            if kind not in ("word", "str"):
                raise JqlError(f"expecting a field name but got '{name or 'the end of the query'}'")
            if r.word("in"):
                op = "in"
            elif r.word("not"):
                if not r.word("in"):
                    raise JqlError(f"expecting 'in' after 'not' but got '{r.peek()[1]}'")
                op = "not in"
            elif (tok := r.next())[0] == "op":
                op = tok[1]
            else:
                raise JqlError(f"expecting an operator after '{name}' but got '{tok[1] or 'the end'}'")
            if op in ("in", "not in"):
                r.expect(("punct", "("), "'('")
                values = [r.value()]
                while r.peek() == ("punct", ","):
                    r.next()
                    values.append(r.value())
                r.expect(("punct", ")"), "')'")
            else:
                values = [r.value()]
            clauses.append((name.lower(), op, values))
            if not r.word("and"):
                break
    if r.word("order"):
        if not r.word("by"):
            raise JqlError("expecting 'by' after 'order'")
        while True:
            name = r.next()[1].lower()
            if name not in (*DATES, "key"):
                raise JqlError(f"ORDER BY '{name}' is not served by the fake")
            descending = r.word("desc")
            r.word("asc")
            order.append((DATES.get(name, name), descending))
            if r.peek() != ("punct", ","):
                break
            r.next()
    if r.peek()[0] != "end":
        raise JqlError(f"expecting AND or ORDER BY but got '{r.peek()[1]}' (the fake serves AND only)")
    return clauses, order


def _when(value: str, name: str, now: datetime) -> datetime:
    if m := re.fullmatch(r"([-+]?)(\d+)([wdhm])", value.strip()):
        delta = timedelta(**{UNITS[m[3]]: int(m[2])})
        return now - delta if m[1] == "-" else now + delta
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            pass
    raise JqlError(
        f"Date value '{value}' for field '{name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period like '-5d'."
    )


def _sort_key(issue: Issue, name: str) -> tuple[str, int]:
    if name == "key":
        project, number = issue.key.rsplit("-", 1)
        return project, int(number)
    return str(issue.fields.get(name) or ""), 0  # Jira's UTC timestamps sort as text


def _status_names(issue: Issue, name: str) -> set[str]:
    status = issue.fields["status"]
    if name == "status":
        return {status["name"].lower()}
    return {status["statusCategory"]["key"], status["statusCategory"]["name"].lower()}


def _predicate(name: str, op: str, values: list[str], now: datetime) -> Callable[[Issue], bool]:
    lowered = {v.lower() for v in values}
    if name == "labels" and op in ("=", "in"):
        return lambda issue: bool(set(values) & set(issue.fields.get("labels") or []))
    if name in ("key", "issuekey", "id") and op in ("=", "in"):
        return lambda issue: issue.key.lower() in lowered or issue.id in lowered
    if name == "project" and op in ("=", "in"):
        return lambda issue: bool(
            {str(issue.fields["project"][k]).lower() for k in ("id", "key", "name")} & lowered
        )
    if name in ("statuscategory", "status") and op in ("=", "!=", "in", "not in"):
        known = (
            {*CATEGORIES, *(n.lower() for _, n in CATEGORIES.values())} if name == "statuscategory" else None
        )
        if known is not None and (unknown := lowered - known):
            raise JqlError(f"The value '{unknown.pop()}' does not exist for the field 'statusCategory'.")
        return lambda issue: bool(_status_names(issue, name) & lowered) == (op in ("=", "in"))
    if name in DATES and op in COMPARE:
        bound, compare, key = _when(values[0], name, now), COMPARE[op], DATES[name]
        return lambda issue: bool(issue.fields.get(key)) and compare(_parse_time(issue.fields[key]), bound)
    if name not in (*DATES, *FIELDS, "key", "issuekey", "id", "statuscategory"):
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
    raise JqlError(f"'{name} {op}' is not served by the fake (see tests/fakes/jira.py for the JQL subset)")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body, headers = self.server.fake._handle(self)  # type: ignore[attr-defined]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


ROUTES = [
    (m, re.compile(p), name)
    for m, p, name in [
        ("GET", r"serverInfo", "server_info"),
        ("GET", r"myself", "myself"),
        ("GET", r"field", "fields"),
        ("GET", r"project", "projects"),
        ("GET", r"project/([^/]+)", "project"),
        ("GET", r"project/([^/]+)/statuses", "project_statuses"),
        ("GET", r"issuetype", "issue_types"),
        ("GET", r"priority", "priorities"),
        ("GET", r"resolution", "resolutions"),
        ("GET", r"issue/createmeta/([^/]+)/issuetypes", "createmeta_issue_types"),
        ("POST", r"issue", "create_issue"),
        ("GET", r"issue/([^/]+)", "get_issue"),
        ("PUT", r"issue/([^/]+)", "edit_issue"),
        ("GET", r"issue/([^/]+)/comment", "comments"),
        ("POST", r"issue/([^/]+)/comment", "add_comment"),
        ("GET", r"issue/([^/]+)/transitions", "transitions"),
        ("POST", r"issue/([^/]+)/transitions", "transition"),
        ("GET", r"search", "search"),
        ("POST", r"search", "search"),
        ("GET", r"search/jql", "search_jql"),
        ("POST", r"search/jql", "search_jql"),
    ]
]


class FakeJira:
    """A Jira REST API v2 on 127.0.0.1 for tests; use as a context manager (or start()/stop())."""

    def __init__(
        self,
        *,
        user: str = "bot@example.com",
        token: str = "jira-token",  # noqa: S107
        deployment: str = "Cloud",
        projects: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        if deployment not in ("Cloud", "Server"):
            raise ValueError(f"deployment must be 'Cloud' or 'Server', not {deployment!r}")
        self.user, self.token, self.deployment, self.url = user, token, deployment, ""
        self.calls: list[Call] = []
        self.problems: list[str] = []
        self.issues: dict[str, Issue] = {}
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # stamps and relative JQL dates
        if projects is None:
            projects = {
                "FIN": {
                    "id": "10000",
                    "name": "FinOps",
                    "issuetypes": ["Task", "Bug"],
                    "components": ["payments", "platform"],
                }
            }
        kinds = list(dict.fromkeys(k for p in projects.values() for k in p.get("issuetypes", ["Task"])))
        self._kinds = {
            name: {"id": str(10001 + i), "name": name, "subtask": False} for i, name in enumerate(kinds)
        }
        self.projects: dict[str, dict[str, Any]] = {}
        for n, (key, spec) in enumerate(projects.items()):
            parts = [
                {"id": f"{10100 + 10 * n + i}", "name": c} for i, c in enumerate(spec.get("components", []))
            ]
            kinds = [self._kinds[k] for k in spec.get("issuetypes", ["Task"])]
            self.projects[key] = {
                "id": str(spec.get("id", 10000 + n)),
                "key": key,
                "name": spec.get("name", key),
                "issueTypes": kinds,
                "components": parts,
            }
        self._priorities = [{"id": str(i), "name": name} for i, name in enumerate(PRIORITIES, 1)]
        self._resolutions = [{"id": str(10000 + i), "name": name} for i, name in enumerate(RESOLUTIONS)]
        self._numbers: dict[str, int] = {}
        self._ids = 10000
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> FakeJira:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests use -------------------------------------------------------------------------

    def calls_to(self, method: str, path_prefix: str) -> list[Call]:
        return [c for c in list(self.calls) if _matches(method, _prefix(path_prefix), c)]

    def fail(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int = 503,
        times: int = 1,
        body: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        body = body or {"errorMessages": [HTTPStatus(status).phrase], "errors": {}}
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        with self._lock:
            self._rules.append(
                _Rule(method.upper(), _prefix(path_prefix), times, reply=(status, body, headers))
            )

    def slow(self, method: str, path_prefix: str, seconds: float, *, times: int = 1) -> None:
        with self._lock:
            self._rules.append(_Rule(method.upper(), _prefix(path_prefix), times, seconds=seconds))

    def resolve(self, key: str, resolution: str = "Done") -> None:
        if (found := _find(("name", resolution), self._resolutions)) is None:
            raise ValueError(f"unknown resolution {resolution!r}; the fake knows {', '.join(RESOLUTIONS)}")
        with self._lock:
            self._set_status(self.issues[key], "Done", found)

    def reopen(self, key: str) -> None:
        with self._lock:
            self._set_status(self.issues[key], "To Do", None)

    # --- the server side ------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> tuple[int, bytes, dict[str, str]]:
        path, _, query = req.path.partition("?")
        raw = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        params = {k: ",".join(v) for k, v in parse_qs(query, keep_blank_values=True).items()}
        call = Call(req.command, path, params, None, {k.title(): v for k, v in req.headers.items()})
        with self._lock:
            self.calls.append(call)
            delay = sum(rule.seconds for rule in self._take(call, slow=True))
            faults = self._take(call, slow=False)
            status, answer, headers = (
                faults[0].reply if faults and faults[0].reply else self._dispatch(call, raw)
            )
        time.sleep(delay)
        body = b"" if answer is None else json.dumps(answer).encode()
        return status, body, {"Content-Type": "application/json;charset=UTF-8", **headers}

    def _take(self, call: Call, *, slow: bool) -> list[_Rule]:
        rule = next(
            (r for r in self._rules if (r.reply is None) == slow and _matches(r.method, r.prefix, call)), None
        )
        if rule is None:
            return []
        rule.times -= 1
        if rule.times <= 0:
            self._rules.remove(rule)
        return [rule]

    def _dispatch(self, call: Call, raw: bytes) -> Reply:
        try:
            unreadable = self._read_body(call, raw)
            if not self._authorised(call.headers.get("Authorization", "")):
                return 401, {"errorMessages": [NOT_AUTHENTICATED], "errors": {}}, {}
            if unreadable:
                raise unreadable
            handler, args = self._route(call)
            status, answer = handler(call, *args)
            return status, answer, {}
        except _Refusal as refusal:
            if refusal.problem:
                self.problems.append(f"{call.method} {call.path}: {refusal.status} {refusal}")
            return refusal.status, refusal.body, {}
        except Exception as exc:  # a bug in the fake: show it, never hang
            self.problems.append(f"{call.method} {call.path}: the fake failed on this request: {exc!r}")
            return 500, {"errorMessages": ["Internal server error"], "errors": {}}, {}

    def _read_body(self, call: Call, raw: bytes) -> _Refusal | None:
        if not raw:
            return None
        call.body = raw.decode(errors="replace")
        if "json" not in call.headers.get("Content-Type", ""):
            return _Refusal(415, [f"Unsupported Media Type: {call.headers.get('Content-Type')!r}"])
        try:
            call.body = json.loads(raw)
        except ValueError as exc:
            return _Refusal(400, [f"Unexpected character in the JSON body: {exc}"])
        return None

    def _authorised(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value == self.token
        try:
            return (
                scheme.lower() == "basic" and base64.b64decode(value).decode() == f"{self.user}:{self.token}"
            )
        except ValueError:
            return False

    def _route(self, call: Call) -> tuple[Callable[..., tuple[int, Any]], tuple[str, ...]]:
        if rest := re.match(r"/rest/api/(?:2|latest)/(.*)", call.path):
            for method, pattern, name in ROUTES:
                if method == call.method and (m := pattern.fullmatch(rest[1])):
                    return getattr(self, "_api_" + name), m.groups()
        raise _Refusal(404, [f"not served by the fake: {call.method} {call.path}"])

    def _next_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    def _self(self, path: str) -> str:
        return f"{self.url}{API}{path}"

    def _person(self) -> dict[str, Any]:
        who = {"displayName": "FinOps Bot", "emailAddress": self.user, "active": True, "timeZone": "UTC"}
        if self.deployment == "Cloud":
            return {"accountId": "5b10ac8d82e05b22cc7d4ef5", "accountType": "atlassian", **who}
        return {"name": self.user, "key": self.user, **who}

    def _status(self, name: str) -> dict[str, Any]:
        status_id, category = STATUSES[name]
        cat_id, cat_name = CATEGORIES[category]
        category_json = {"id": cat_id, "key": category, "name": cat_name}
        return {
            "self": self._self(f"status/{status_id}"),
            "id": status_id,
            "name": name,
            "statusCategory": category_json,
        }

    def _set_status(self, issue: Issue, name: str, resolution: dict[str, Any] | None) -> None:
        now = jira_time(self.clock())
        issue.fields.update(status=self._status(name), resolution=resolution, updated=now)
        issue.fields["resolutiondate"] = now if resolution else None

    def _project(self, ref: str) -> dict[str, Any]:
        found = _find(("key", ref), self.projects.values()) or _find(("id", ref), self.projects.values())
        if found is None:
            raise _Refusal(404, [f"No project could be found with key '{ref}'."], problem=False)
        return found

    def _project_json(self, p: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
        out = {"self": self._self(f"project/{p['id']}"), "id": p["id"], "key": p["key"], "name": p["name"]}
        if full:
            out["components"] = [{"self": self._self(f"component/{c['id']}"), **c} for c in p["components"]]
            out["issueTypes"] = [self._kind_json(k) for k in p["issueTypes"]]
        return out | {"projectTypeKey": "software"}

    def _kind_json(self, kind: dict[str, Any]) -> dict[str, Any]:
        return {"self": self._self(f"issuetype/{kind['id']}"), **kind}

    def _issue(self, ref: str) -> Issue:
        found = self.issues.get(ref.upper()) or next((i for i in self.issues.values() if i.id == ref), None)
        if found is None:
            raise _Refusal(404, [NO_ISSUE], problem=False)
        return found

    def _comment_json(self, issue: Issue, comment: dict[str, Any]) -> dict[str, Any]:
        return {"self": self._self(f"issue/{issue.id}/comment/{comment['id']}"), **comment}

    def _comment_page(self, issue: Issue) -> dict[str, Any]:
        comments = [self._comment_json(issue, c) for c in issue.comments]
        return {"comments": comments, "maxResults": len(comments), "total": len(comments), "startAt": 0}

    def _issue_json(self, issue: Issue, wanted: list[str] | None = None) -> dict[str, Any]:
        fields = {**issue.fields, "comment": self._comment_page(issue)}
        fields = {name: value for name, value in fields.items() if _wants(wanted, name)}
        return {"id": issue.id, "self": self._self(f"issue/{issue.id}"), "key": issue.key, "fields": fields}

    @staticmethod
    def _object(value: Any, *allowed: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Refusal(400, ["A JSON object is required as the request body."])
        if extra := sorted(value.keys() - set(allowed)):
            raise _Refusal(400, [f'Unrecognized field "{extra[0]}" (the fake accepts {", ".join(allowed)})'])
        return value

    def _check_fields(self, given: Any, issue: Issue | None) -> dict[str, Any]:
        """Validate the "fields" of a create (issue None) or an edit; return the normalised values."""
        if not isinstance(given, dict):
            raise _Refusal(400, ['"fields" must be an object.'])
        values, project = given, None
        if issue is None:  # project and issue type first: the others are checked against the project
            values = {"project": None, "issuetype": None, **CREATE_DEFAULTS} | given
        else:
            project = self.projects[issue.fields["project"]["key"]]
        shape: dict[str, str] = {}
        config: dict[str, str] = {}
        out: dict[str, Any] = {}
        for name, value in values.items():
            try:
                if name not in EDITABLE and (issue is not None or name not in ("project", "issuetype")):
                    raise _Invalid(
                        f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                    )
                out[name] = self._check_field(name, value, project)
                if name == "project":
                    project = self.projects[out[name]["key"]]
            except _Invalid as invalid:
                (config if invalid.config else shape)[name] = str(invalid)
        if shape or config:
            raise _Refusal(400, errors={**config, **shape}, problem=bool(shape))
        return out

    def _check_field(self, name: str, value: Any, project: dict[str, Any] | None) -> Any:
        """One field's value as Jira shows it; raises _Invalid with Jira's message."""
        if name == "project":
            found = _pick(value, ("id", "key"), self.projects.values(), "Specify a valid project ID or key")
            return found and self._project_json(found, full=False)
        if name == "issuetype":
            found = _pick(value, ("id", "name"), project and project["issueTypes"], ISSUETYPE_MESSAGES)
            return found and self._linked("issuetype", found)
        if name == "priority":
            return self._linked("priority", _pick(value, ("id", "name"), self._priorities, PRIORITY_MESSAGES))
        if name == "components":
            if not isinstance(value, list):
                raise _Invalid("data was not an array")
            parts = [
                _pick(v, ("id", "name"), project and project["components"], COMPONENT_MESSAGES) for v in value
            ]
            return [self._linked("component", part) for part in parts if part]
        if name == "summary":
            if not isinstance(value, str) or not value.strip():
                raise _Invalid("You must specify a summary of the issue.")
            if len(value) > 255:
                raise _Invalid("Summary must be less than 255 characters.")
            if "\n" in value or "\r" in value:
                raise _Invalid("The summary is invalid because it contains newline characters.")
            return value
        if name == "description":
            if not isinstance(value, str | None):
                raise _Invalid("Operation value must be a string")
            return value
        if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
            raise _Invalid("data was not an array of strings")
        if bad := [label for label in value if not _is_label(label)]:
            raise _Invalid(f"The label '{bad[0]}' contains spaces which is invalid.")
        if long := [label for label in value if len(label) > 255]:
            raise _Invalid(f"The label '{long[0]}' exceeds the 255 character limit.")
        return list(dict.fromkeys(value))

    def _linked(self, kind: str, found: dict[str, Any]) -> dict[str, Any]:
        return {"self": self._self(f"{kind}/{found['id']}"), **found}

    @staticmethod
    def _update_ops(update: Any) -> list[tuple[str, str, Any]]:
        """Check Jira's "update" operations (labels add/remove/set, comment add): (field, verb, value)."""
        if not isinstance(update, dict):
            raise _Refusal(400, ['"update" must be an object.'])
        ops = []
        for name, verbs in update.items():
            for op in verbs if isinstance(verbs, list) else [None]:
                verb, value = next(iter(op.items())) if isinstance(op, dict) and len(op) == 1 else ("", None)
                if name == "comment" and verb == "add" and isinstance(value, dict):
                    value = value.get("body") if isinstance(value.get("body"), str) else None
                valid = {
                    ("labels", "add"): _is_label(value),
                    ("labels", "remove"): _is_label(value),
                    ("labels", "set"): isinstance(value, list) and all(_is_label(v) for v in value),
                    ("comment", "add"): isinstance(value, str) and bool(value.strip()),
                }
                if not valid.get((name, verb)):
                    raise _Refusal(400, errors={name: f"The fake does not serve the update {op!r}."})
                ops.append((name, verb, value))
        return ops

    def _apply(self, issue: Issue, ops: list[tuple[str, str, Any]]) -> None:
        labels: list[str] = issue.fields["labels"]
        for name, verb, value in ops:
            if name == "comment":
                self._add_comment(issue, value)
            elif verb == "add" and value not in labels:
                labels.append(value)
            elif verb == "remove" and value in labels:
                labels.remove(value)
            elif verb == "set":
                labels[:] = list(dict.fromkeys(value))

    def _add_comment(self, issue: Issue, body: str) -> dict[str, Any]:
        now, author = jira_time(self.clock()), self._person()
        comment = {"id": self._next_id(), "author": author, "body": body, "created": now, "updated": now}
        issue.comments.append(comment)
        issue.fields["updated"] = now
        return self._comment_json(issue, comment)

    # --- endpoints (each answers (status, JSON) or raises _Refusal) -------------------------------

    def _api_server_info(self, call: Call) -> tuple[int, Any]:
        info = {
            "baseUrl": self.url,
            "version": "1001.0.0",
            "versionNumbers": [1001, 0, 0],
            "serverTitle": "Jira",
        }
        return 200, info | {"deploymentType": self.deployment, "serverTime": jira_time(self.clock())}

    def _api_myself(self, call: Call) -> tuple[int, Any]:
        return 200, {"self": self._self("myself"), **self._person()}

    def _api_fields(self, call: Call) -> tuple[int, Any]:
        flags = {"custom": False, "navigable": True, "searchable": True}
        return 200, [
            {
                "id": fid,
                "key": fid,
                "name": name,
                **flags,
                "clauseNames": [fid, *extra],
                "schema": {"type": kind},
            }
            for fid, (name, kind, extra) in FIELDS.items()
        ]

    def _api_projects(self, call: Call) -> tuple[int, Any]:
        return 200, [self._project_json(p) for p in self.projects.values()]

    def _api_project(self, call: Call, ref: str) -> tuple[int, Any]:
        return 200, self._project_json(self._project(ref))

    def _api_project_statuses(self, call: Call, ref: str) -> tuple[int, Any]:
        statuses = [self._status(name) for name in STATUSES]
        return 200, [{**self._kind_json(k), "statuses": statuses} for k in self._project(ref)["issueTypes"]]

    def _api_issue_types(self, call: Call) -> tuple[int, Any]:
        return 200, [self._kind_json(k) for k in self._kinds.values()]

    def _api_priorities(self, call: Call) -> tuple[int, Any]:
        return 200, [{"self": self._self(f"priority/{p['id']}"), **p} for p in self._priorities]

    def _api_resolutions(self, call: Call) -> tuple[int, Any]:
        return 200, [{"self": self._self(f"resolution/{r['id']}"), **r} for r in self._resolutions]

    def _api_createmeta_issue_types(self, call: Call, ref: str) -> tuple[int, Any]:
        kinds = [self._kind_json(k) for k in self._project(ref)["issueTypes"]]
        return 200, {"maxResults": 50, "startAt": 0, "total": len(kinds), "isLast": True, "values": kinds}

    def _api_create_issue(self, call: Call) -> tuple[int, Any]:
        body = self._object(call.body, "fields", "update")
        fields = self._check_fields(body.get("fields"), None)
        key = fields["project"]["key"]
        self._numbers[key] = self._numbers.get(key, 0) + 1
        now = jira_time(self.clock())
        issue = Issue(f"{key}-{self._numbers[key]}", self._next_id(), fields)
        fields.update(
            status=self._status("To Do"), resolution=None, resolutiondate=None, created=now, updated=now
        )
        fields.update(reporter=self._person(), assignee=None)
        ops = self._update_ops(body.get("update", {}))
        self.issues[issue.key] = issue
        self._apply(issue, ops)
        return 201, {"id": issue.id, "key": issue.key, "self": self._self(f"issue/{issue.id}")}

    def _api_get_issue(self, call: Call, ref: str) -> tuple[int, Any]:
        return 200, self._issue_json(self._issue(ref), _field_list(call.query.get("fields")))

    def _api_edit_issue(self, call: Call, ref: str) -> tuple[int, Any]:
        issue = self._issue(ref)
        body = self._object(call.body, "fields", "update", "historyMetadata", "properties")
        fields = self._check_fields(body.get("fields", {}), issue)
        ops = self._update_ops(body.get("update", {}))
        issue.fields.update(fields)
        self._apply(issue, ops)
        issue.fields["updated"] = jira_time(self.clock())
        return 204, None

    def _api_comments(self, call: Call, ref: str) -> tuple[int, Any]:
        return 200, self._comment_page(self._issue(ref))

    def _api_add_comment(self, call: Call, ref: str) -> tuple[int, Any]:
        issue = self._issue(ref)
        body = self._object(call.body, "body", "visibility", "properties")
        if not isinstance(body.get("body"), str) or not body["body"].strip():
            raise _Refusal(400, errors={"comment": "Comment body can not be empty!"})
        return 201, self._add_comment(issue, body["body"])

    def _available(self, issue: Issue) -> list[dict[str, Any]]:
        done = issue.fields["status"]["statusCategory"]["key"] == "done"
        tid, name, to = ("11", "Reopen", "To Do") if done else ("31", "Done", "Done")
        return [{"id": tid, "name": name, "to": self._status(to), "hasScreen": False}]

    def _api_transitions(self, call: Call, ref: str) -> tuple[int, Any]:
        return 200, {"expand": "transitions", "transitions": self._available(self._issue(ref))}

    def _api_transition(self, call: Call, ref: str) -> tuple[int, Any]:
        issue = self._issue(ref)
        body = self._object(call.body, "transition", "fields", "update", "historyMetadata", "properties")
        if (tid := _ref(body.get("transition"), "id")) is None:
            raise _Refusal(400, ["Missing 'transition' identifier"])
        if (chosen := _find(tid, self._available(issue))) is None:
            raise _Refusal(400, [f"Transition id '{tid[1]}' is not valid for this issue."], problem=False)
        fields = body.get("fields") or {}
        if not isinstance(fields, dict) or set(fields) - ({"resolution"} if chosen["id"] == "31" else set()):
            raise _Refusal(
                400, errors={"fields": f"The fake's '{chosen['name']}' screen has resolution only"}
            )
        resolution = self._resolutions[0]
        if "resolution" in fields:
            if (rref := _ref(fields["resolution"], "id", "name")) is None:
                raise _Refusal(
                    400, errors={"resolution": "Could not find valid 'id' or 'name' in resolution object."}
                )
            if (resolution := _find(rref, self._resolutions)) is None:  # type: ignore[assignment]
                raise _Refusal(
                    400, errors={"resolution": f"Resolution '{rref[1]}' is not valid"}, problem=False
                )
        ops = self._update_ops(body.get("update", {}))
        self._set_status(issue, chosen["to"]["name"], resolution if chosen["id"] == "31" else None)
        self._apply(issue, ops)
        return 204, None

    def _search_params(self, call: Call) -> dict[str, Any]:
        params = call.query
        if call.method == "POST":
            params = self._object(call.body, *(call.body if isinstance(call.body, dict) else ()))
        if not isinstance(params.get("jql", ""), str):
            raise _Refusal(400, ['"jql" must be a string.'])
        return params

    @staticmethod
    def _number(params: dict[str, Any], name: str, default: int) -> int:
        value = params.get(name, default)
        if value is None or (isinstance(value, str) and value.isdigit()) or isinstance(value, int):
            return default if value is None else int(value)
        raise _Refusal(400, [f"The value '{value}' is invalid for the '{name}' parameter."])

    def _matching(self, jql: str, *, bounded: bool) -> list[Issue]:
        try:
            clauses, order = parse_jql(jql)
            tests = [_predicate(*clause, self.clock()) for clause in clauses]
        except JqlError as exc:
            raise _Refusal(400, [f"Error in the JQL Query: {exc}"]) from None
        if bounded and not clauses:
            raise _Refusal(
                400, ["Unbounded JQL queries are not allowed here. Please add a search restriction."]
            )
        found = sorted((i for i in self.issues.values() if all(t(i) for t in tests)), key=lambda i: int(i.id))
        for name, descending in reversed(order):  # stable sorts, the last key first
            found.sort(key=functools.partial(_sort_key, name=name), reverse=descending)
        return found

    def _api_search(self, call: Call) -> tuple[int, Any]:
        if self.deployment == "Cloud":
            raise _Refusal(410, [CLOUD_SEARCH_GONE + " (the jira client uses /search/jql on Cloud)"])
        params = self._search_params(call)
        found = self._matching(params.get("jql", ""), bounded=False)
        start, size = self._number(params, "startAt", 0), min(self._number(params, "maxResults", 50), 1000)
        wanted = _field_list(params.get("fields"))
        page = [self._issue_json(i, wanted) for i in found[start : start + size]]
        return 200, {"startAt": start, "maxResults": size, "total": len(found), "issues": page}

    def _api_search_jql(self, call: Call) -> tuple[int, Any]:
        if self.deployment != "Cloud":
            raise _Refusal(
                404, ["not served by Jira Server / Data Center: /search/jql is Cloud's (use /search)"]
            )
        params = self._search_params(call)
        found = self._matching(params.get("jql", ""), bounded=True)
        token = params.get("nextPageToken") or "page-0"
        if not isinstance(token, str) or not re.fullmatch(r"page-\d+", token):
            raise _Refusal(400, [f"The nextPageToken '{token}' is invalid."])
        start, size = int(token[5:]), min(self._number(params, "maxResults", 50), 100)
        wanted = _field_list(params.get("fields"))
        answer: dict[str, Any] = {
            "issues": [self._issue_json(i, wanted) for i in found[start : start + size]]
        }
        answer["isLast"] = start + size >= len(found)
        return 200, answer if answer["isLast"] else {**answer, "nextPageToken": f"page-{start + size}"}
