"""`bigquery://PROJECT.DATASET.TABLE[?months=N | ?month=YYYYMM&month=...][&project=JOB_PROJECT]`:
the Google Cloud billing export table (standard or detailed), queried with google-cloud-bigquery
for the last N invoice months (default 2: this one and the last, which Google still amends early
in a month), or the invoice months named. The query job runs in the table's project unless
`project=` names another.

The rows come back in the export's own shape and are kept as JSON lines (`sources.fetched`),
which the `gcp-export` connector reads like an extract: one mapping for files and the API; the
same answer twice has the same fingerprint and is a no-op. Result pages are written as they
arrive, so a detailed export of millions of rows never sits in memory.

Only the columns the connector uses are selected (BigQuery bills by the bytes of the columns a
query reads); which of them the table has comes from its schema (older exports lack some).
Credentials are Google's application default credentials; with a plain-http endpoint
(`FINOPS_BIGQUERY_ENDPOINT`, an emulator or a recorded server) none are sent.

Account and project display names (google-cloud-billing) are not looked up: nothing finops-bot
stores or shows has a place for them, and the export carries `project.name` already.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from finops import sources
from finops.connectors.gcp import NAME
from finops.errors import UserError
from finops.sources import Access, SourceFile

if TYPE_CHECKING:
    from google.api_core.exceptions import GoogleAPIError
    from google.cloud import bigquery

SCHEME = "bigquery"
DEFAULT_MONTHS = 2
MAX_MONTHS = 36
PAGE_ROWS = 50_000
TIMEOUT = 900.0  # seconds for the query to finish
# The top-level export columns the connector reads, and those a billing export always has.
COLUMNS = (
    "billing_account_id",
    "service",
    "project",
    "labels",
    "location",
    "resource",
    "cost",
    "currency",
    "credits",
    "invoice",
    "cost_type",
    "cost_at_list",
    "usage_start_time",
    "usage_end_time",
)
REQUIRED = ("billing_account_id", "cost", "currency", "invoice", "usage_start_time")
USAGE = "give the billing export table as bigquery://PROJECT.DATASET.TABLE, e.g. bigquery://" + (
    "my-billing-project.billing_export.gcp_billing_export_v1_0A1B2C_3D4E5F_6A7B8C?months=2"
)
_PROJECT = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
_TABLE = re.compile(rf"({_PROJECT})\.([A-Za-z0-9_]{{1,1024}})\.([A-Za-z0-9_-]{{1,1024}})")
_JOB_PROJECT = re.compile(_PROJECT)
_MONTH = re.compile(r"20[0-9]{2}(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class Query:
    table: str  # PROJECT.DATASET.TABLE, checked against `_TABLE`
    months: tuple[str, ...]  # invoice months, "202610"
    job_project: str  # where the query job runs (and is billed)

    def sql(self, columns: list[str]) -> str:
        # The table name is the only text put into the query, and only after `_TABLE` matched it.
        return f"SELECT {', '.join(columns)} FROM `{self.table}` WHERE invoice.month IN UNNEST(@months)"  # noqa: S608


def invoice_months(today: date, count: int) -> tuple[str, ...]:
    """The last `count` invoice months up to `today`'s, oldest first."""
    index = today.year * 12 + today.month - 1
    return tuple(f"{i // 12:04d}{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1))


def parse(location: str, today: date) -> Query:
    rest = location.removeprefix(f"{SCHEME}://")
    table, _, options = rest.partition("?")
    found = _TABLE.fullmatch(table)
    if not found:
        raise UserError(f"{location} is not a BigQuery table name; {USAGE}")
    try:
        params = parse_qs(options, keep_blank_values=True, strict_parsing=bool(options))
    except ValueError:
        params = {"": [options]}
    unknown = sorted(set(params) - {"months", "month", "project"})
    if unknown:
        raise UserError(
            f"{location}: unknown option(s) {', '.join(unknown)}; use months=N, month=YYYYMM or project=ID"
        )
    job_project = params.get("project", [found.group(1)])[-1]
    if not _JOB_PROJECT.fullmatch(job_project):
        raise UserError(f"{location}: {job_project!r} is not a Google Cloud project id")
    return Query(table, _months(location, params, today), job_project)


def _months(location: str, params: dict[str, list[str]], today: date) -> tuple[str, ...]:
    """`month=202609&month=202610` as given, else the last `months=N` (default 2)."""
    if "month" in params:
        if "months" in params:
            raise UserError(f"{location}: give months=N or month=YYYYMM, not both")
        named = sorted(set(params["month"]))
        bad = [m for m in named if not _MONTH.fullmatch(m)]
        if bad:
            raise UserError(f"{location}: {bad[0]!r} is not an invoice month like 202610")
        return tuple(named)
    count = params.get("months", [str(DEFAULT_MONTHS)])[-1]
    if not count.isdigit() or not 1 <= int(count) <= MAX_MONTHS:
        raise UserError(f"{location}: months must be a whole number from 1 to {MAX_MONTHS}")
    return invoice_months(today, int(count))


def fetch(location: str, access: Access) -> list[SourceFile]:
    """The export rows of the invoice months asked for, as one JSON lines file."""
    from google.api_core import exceptions
    from google.auth.exceptions import DefaultCredentialsError

    query = parse(location, datetime.now(UTC).date())
    try:
        pages = _pages(_client(query.job_project, access), query, location)
        return [sources.fetched(location, NAME, pages)]
    except DefaultCredentialsError:
        raise UserError(
            f"{location}: no Google Cloud credentials; set GOOGLE_APPLICATION_CREDENTIALS to a service "
            "account key file or run `gcloud auth application-default login`"
        ) from None
    except exceptions.NotFound as exc:
        raise UserError(
            f"{location}: not found ({_reason(exc)}); check the project, dataset and table of the "
            "billing export (Billing > Billing export in the console)"
        ) from None
    except exceptions.Forbidden as exc:
        raise UserError(
            f"{location}: access denied ({_reason(exc)}); grant BigQuery Data Viewer on the dataset "
            f"and BigQuery Job User on project {query.job_project}"
        ) from None
    except exceptions.GoogleAPIError as exc:
        raise UserError(
            f"{location}: BigQuery failed ({_reason(exc)}); check the table and try again"
        ) from None


def _client(project: str, access: Access) -> bigquery.Client:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    endpoint = access.bigquery_endpoint
    if not endpoint:
        return bigquery.Client(project=project)
    anonymous = endpoint.startswith("http://")  # an emulator or a local server: send no token
    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials() if anonymous else None,  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": endpoint},
    )


def _pages(client: bigquery.Client, query: Query, location: str) -> Iterator[bytes]:
    """Check the table, start the query and wait for it, then give the rows a page at a time."""
    from google.cloud import bigquery

    present = {field.name for field in client.get_table(query.table).schema}
    missing = [name for name in REQUIRED if name not in present]
    if missing:
        raise UserError(
            f"{location} is not a Google Cloud billing export table (it has no {', '.join(missing)}); "
            "name the gcp_billing_export_v1_* or gcp_billing_export_resource_v1_* table"
        )
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ArrayQueryParameter("months", "STRING", list(query.months))]
    )
    sql = query.sql([name for name in COLUMNS if name in present])
    job = client.query(sql, job_config=config, project=query.job_project)
    rows = job.result(page_size=PAGE_ROWS, timeout=TIMEOUT)
    return (b"".join(_line(row) for row in page) for page in rows.pages)


def _line(row: bigquery.Row) -> bytes:
    return json.dumps(dict(row.items()), default=_plain, separators=(",", ":")).encode() + b"\n"


def _plain(value: Any) -> str:
    """JSON for what the client decodes to: times as ISO 8601, NUMERIC as its exact text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _reason(exc: GoogleAPIError) -> str:
    errors = getattr(exc, "errors", None)
    if errors and isinstance(errors[0], dict) and errors[0].get("message"):
        return str(errors[0]["message"])
    return str(getattr(exc, "message", exc))


sources.register_scheme(SCHEME, fetch)
