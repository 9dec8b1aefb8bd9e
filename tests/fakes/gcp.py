"""BigQuery for tests: a local HTTP server that replays recorded REST answers to the real
google-cloud-bigquery client (`Access(bigquery_endpoint=...)` or `FINOPS_BIGQUERY_ENDPOINT`).

It answers the calls a query makes: tables.get (the export table's schema), jobs.insert (the
query job, DONE), jobs.get, and jobs.getQueryResults (the recorded pages, followed by
`pageToken`). A table it was not given answers 404 (and `denied` tables 403) in Google's error
shape, and `job_error` makes the query job fail as BigQuery reports it. Every request is kept in `requests`, so tests can check what the client sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http import serving

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "gcp" / "bigquery"
PREFIX = "/bigquery/v2"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class FakeBigQuery:
    endpoint: str = ""
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # "project.dataset.table" -> resource
    pages: list[dict[str, Any]] = field(default_factory=list)  # getQueryResults answers, in order
    denied: set[str] = field(default_factory=set)  # tables that answer 403
    job_error: dict[str, str] | None = None  # the errorResult a query job ends with, if it fails
    requests: list[Request] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> the inserted job

    def queries(self) -> list[dict[str, Any]]:
        """The query configurations of the jobs inserted (text and parameters)."""
        return [r.body["configuration"]["query"] for r in self.requests if r.path.endswith("/jobs")]


def recorded() -> FakeBigQuery:
    """A fake holding the recorded detailed export table and the two pages of its query answer."""
    table = _load("tables.get.json")
    ref = table["tableReference"]
    name = f"{ref['projectId']}.{ref['datasetId']}.{ref['tableId']}"
    return FakeBigQuery(
        tables={name: table}, pages=[_load("queries.page-1.json"), _load("queries.page-2.json")]
    )


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return loaded


def error(code: int, status: str, reason: str, message: str) -> dict[str, Any]:
    """An error body as Google's JSON APIs write it."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status,
        }
    }


TABLE_PATH = re.compile(rf"{PREFIX}/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)")
JOBS_PATH = re.compile(rf"{PREFIX}/projects/([^/]+)/jobs")
JOB_PATH = re.compile(rf"{PREFIX}/projects/([^/]+)/jobs/([^/]+)")
RESULTS_PATH = re.compile(rf"{PREFIX}/projects/([^/]+)/queries/([^/]+)")


def _handler(fake: FakeBigQuery) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            fake.requests.append(Request(method, parts.path, parse_qs(parts.query), body))
            status, answer = self._route(method, parts.path, parse_qs(parts.query), body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(
            self, method: str, path: str, query: dict[str, list[str]], body: Any
        ) -> tuple[int, dict[str, Any]]:
            if method == "GET" and (found := TABLE_PATH.fullmatch(path)):
                return _table(fake, ".".join(found.groups()))
            if method == "POST" and (found := JOBS_PATH.fullmatch(path)):
                return _insert(fake, found.group(1), body)
            if method == "GET" and (found := JOB_PATH.fullmatch(path)):
                job = fake.jobs.get(found.group(2))
                return (200, job) if job else (404, error(404, "NOT_FOUND", "notFound", "Not found: Job"))
            if method == "GET" and (found := RESULTS_PATH.fullmatch(path)):
                return _results(fake, found.group(2), query)
            return 404, error(404, "NOT_FOUND", "notFound", f"no such method: {method} {path}")

    return Handler


def _table(fake: FakeBigQuery, name: str) -> tuple[int, dict[str, Any]]:
    project, dataset, table = name.split(".")
    if name in fake.denied:
        message = (
            f"Access Denied: Table {project}:{dataset}.{table}: User does not have permission to query "
            f"table {project}:{dataset}.{table}, or perhaps it does not exist."
        )
        return 403, error(403, "PERMISSION_DENIED", "accessDenied", message)
    if name not in fake.tables:
        message = f"Not found: Table {project}:{dataset}.{table}"
        return 404, error(404, "NOT_FOUND", "notFound", message)
    return 200, fake.tables[name]


def _insert(fake: FakeBigQuery, project: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    reference = {**body["jobReference"], "location": "US"}
    job = {
        "kind": "bigquery#job",
        "etag": "kVMF0pPeMhYSxYp0a3fG0g==",
        "id": f"{project}:US.{reference['jobId']}",
        "selfLink": f"https://bigquery.googleapis.com/bigquery/v2/projects/{project}/jobs/{reference['jobId']}",
        "user_email": "finops-reader@billing-admin-4412.iam.gserviceaccount.com",
        "configuration": {**body["configuration"], "jobType": "QUERY"},
        "jobReference": reference,
        "statistics": {
            "creationTime": "1793177650112",
            "startTime": "1793177650263",
            "endTime": "1793177651907",
            "totalBytesProcessed": "1938475112",
            "query": {
                "totalBytesProcessed": "1938475112",
                "totalBytesBilled": "1938817024",
                "cacheHit": False,
            },
        },
        "status": {"state": "DONE"},
    }
    if fake.job_error:
        job["status"] = {"state": "DONE", "errorResult": fake.job_error, "errors": [fake.job_error]}
    fake.jobs[reference["jobId"]] = job
    return 200, job


def _results(fake: FakeBigQuery, job_id: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
    if job_id not in fake.jobs:
        return 404, error(404, "NOT_FOUND", "notFound", f"Not found: Job {job_id}")
    if fake.job_error:  # the results of a failed job answer with its error
        failed = fake.job_error
        return 400, error(400, "INVALID_ARGUMENT", failed["reason"], failed["message"])
    token = query.get("pageToken", [None])[0]
    after = [i + 1 for i, page in enumerate(fake.pages) if token and page.get("pageToken") == token]
    if token and not after:
        return 400, error(400, "INVALID_ARGUMENT", "invalid", f"Invalid page token: {token}")
    index = after[0] if after else 0
    page = {**fake.pages[index], "jobReference": fake.jobs[job_id]["jobReference"]}
    if query.get("maxResults") == ["0"]:  # the client waiting for the job: no rows yet
        page = {k: v for k, v in page.items() if k not in ("rows", "pageToken")}
    return 200, page


@contextmanager
def bigquery_server(fake: FakeBigQuery | None = None) -> Iterator[FakeBigQuery]:
    """A running fake BigQuery (the recorded one unless given), stopped afterwards."""
    fake = fake or recorded()
    with serving(_handler(fake)) as endpoint:
        fake.endpoint = endpoint
        yield fake
