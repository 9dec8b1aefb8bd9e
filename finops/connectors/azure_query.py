"""`azure://SCOPE?type=ActualCost&from=YYYY-MM-01&to=YYYY-MM-DD`: Cost Management's Query API.

SCOPE is any ARM scope path (`subscriptions/<id>`, `providers/Microsoft.Billing/billingAccounts/<id>`,
...). Defaults: type ActualCost (or AmortizedCost), from the first day of last month, to today.
One query per calendar month (daily costs by subscription, service, location and charge type; by
pricing model too when amortized), through azure-mgmt-costmanagement's `query.usage`; the
`nextLink` pages are posted through the same client's pipeline. A 429 is retried after the wait
the Cost Management throttling headers (or Retry-After) ask for, a few times. Each month's
answer, as the API sent it, is kept as one file (`sources.fetched`) that the azure-export
connector reads: a first line naming the query, then one page per line.

Credentials: `Access.azure_token` as a bearer token when set, else azure-identity's
`DefaultAzureCredential`. The token only ever goes to `Access.azure_endpoint` over HTTPS (plain
HTTP only to a local test server).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlparse

from finops import sources
from finops.connectors.azure import ACTUAL, AMORTIZED, NAME
from finops.errors import UserError
from finops.sources import Access, SourceFile

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken
    from azure.mgmt.costmanagement import CostManagementClient

SCHEME = "azure"
GROUPING = ("SubscriptionId", "ServiceName", "ResourceLocation", "ChargeType")
RETRIES = 4
MAX_WAIT = 60.0  # seconds; a longer throttling wait is cut to this
RETRY_HEADERS = (
    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
    "retry-after",
)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Query:
    scope: str
    kind: str  # ActualCost or AmortizedCost
    start: date
    end: date

    @property
    def billing_account(self) -> str:
        """The billing account the rows are stored under: the one in the scope, else the
        subscription, else the scope itself."""
        parts = self.scope.split("/")
        for marker in ("billingAccounts", "subscriptions"):
            lowered = [part.lower() for part in parts]
            if marker.lower() in lowered[:-1]:
                return parts[lowered.index(marker.lower()) + 1]
        return self.scope


def parse(location: str, today: date | None = None) -> Query:
    parsed = urlparse(location)
    scope = f"{parsed.netloc}{parsed.path}".strip("/")
    if not scope:
        raise UserError(f"{location}: name a scope, e.g. azure://subscriptions/<id>")
    params = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    unknown = sorted(set(params) - {"type", "from", "to"})
    if unknown:
        raise UserError(f"{location}: unknown parameter(s) {', '.join(unknown)}; use type, from and to")
    kinds = {ACTUAL.lower(): ACTUAL, AMORTIZED.lower(): AMORTIZED}
    kind = kinds.get(params.get("type", ACTUAL).lower())
    if kind is None:
        raise UserError(f"{location}: type must be {ACTUAL} or {AMORTIZED}")
    today = today or datetime.now(UTC).date()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    start, end = _day(location, params, "from", last_month), _day(location, params, "to", today)
    if start > end:
        raise UserError(f"{location}: from ({start}) is after to ({end})")
    if start.day != 1:  # a load replaces whole billing periods: half a month would lose the rest
        raise UserError(f"{location}: from must be the first day of a month (a load replaces whole months)")
    return Query(scope, kind, start, end)


def _day(location: str, params: dict[str, str], name: str, default: date) -> date:
    if name not in params:
        return default
    try:
        return date.fromisoformat(params[name])
    except ValueError:
        raise UserError(f"{location}: {name}={params[name]!r} is not a date (YYYY-MM-DD)") from None


def months(start: date, end: date) -> Iterator[tuple[date, date]]:
    """[start, end] cut at month ends."""
    while start <= end:
        next_month = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        yield start, min(end, next_month - timedelta(days=1))
        start = next_month


def definition(kind: str, start: date, end: date, cost: str = "Cost") -> dict[str, Any]:
    grouping = (*GROUPING, "PricingModel") if kind == AMORTIZED else GROUPING
    return {
        "type": kind,
        "timeframe": "Custom",
        "timePeriod": {"from": f"{start}T00:00:00+00:00", "to": f"{end}T23:59:59+00:00"},
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": cost, "function": "Sum"}},
            "grouping": [{"type": "Dimension", "name": name} for name in grouping],
        },
    }


class StaticToken:
    """A bearer token given in the settings (FINOPS_AZURE_TOKEN), as a TokenCredential."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)


def fetch(location: str, access: Access) -> list[SourceFile]:
    """One file per calendar month of the query's answer."""
    query = parse(location)
    _https(access.azure_endpoint)  # before any credential is asked for a token
    client = _client(access)
    spans = list(months(query.start, query.end))
    try:
        return [
            sources.fetched(
                location if len(spans) == 1 else f"{location}#{start:%Y-%m}",
                NAME,
                _answer(client, query, (start, end), location, access.azure_endpoint),
            )
            for start, end in spans
        ]
    finally:
        client.close()


def _https(endpoint: str) -> bool:
    """Whether the bearer token policy must insist on HTTPS (it must, but for a local server)."""
    parsed = urlparse(endpoint)
    if parsed.scheme == "https":
        return True
    if parsed.scheme == "http" and parsed.hostname in LOCAL_HOSTS:
        return False
    raise UserError(f"the Azure endpoint {endpoint} must be an https:// URL (FINOPS_AZURE_ENDPOINT)")


def _client(access: Access) -> CostManagementClient:
    from azure.core.pipeline.policies import RetryPolicy
    from azure.mgmt.costmanagement import CostManagementClient

    if access.azure_token:
        credential: Any = StaticToken(access.azure_token)
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    # The SDK retries connections; throttling (429) is ours, after the Cost Management headers.
    return CostManagementClient(
        credential, base_url=access.azure_endpoint, retry_policy=RetryPolicy(retry_status=0)
    )


def _answer(
    client: CostManagementClient, query: Query, span: tuple[date, date], location: str, endpoint: str
) -> Iterator[bytes]:
    """The lines of the kept file: what was asked, then each page as it came."""
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest
    from azure.mgmt.costmanagement.models import QueryDefinition

    start, end = span
    https = _https(endpoint)
    head = {"scope": query.scope, "type": query.kind, "billingAccountId": query.billing_account}
    yield json.dumps({"azureQuery": head}, sort_keys=True).encode() + b"\n"
    body = definition(query.kind, start, end)

    def first() -> bytes:
        # stream=True: the body as sent (amounts exactly), not the SDK's float-typed model
        answer = client.query.usage(query.scope, QueryDefinition(body), stream=True, enforce_https=https)
        return b"".join(cast(Iterator[bytes], answer or []))

    try:
        page = _call(first, location, passthrough=400)
    except HttpResponseError as exc:  # older scopes aggregate PreTaxCost, not Cost
        if "cost" not in str(exc.message).lower():
            raise UserError(_explain(exc, location)) from None
        body = definition(query.kind, start, end, "PreTaxCost")
        page = _call(first, location)
    while True:
        link = _next_link(page, location)
        yield page.replace(b"\r", b" ").replace(b"\n", b" ") + b"\n"  # JSON whitespace only
        if not link:
            return
        _same_host(link, endpoint, location)

        def following(link: str = link) -> bytes:
            response = client.send_request(HttpRequest("POST", link, json=body), enforce_https=https)
            response.raise_for_status()
            return bytes(response.read())

        page = _call(following, location)


def _call(send: Callable[[], bytes], location: str, passthrough: int | None = None) -> bytes:
    """`send()`, again after the wait a 429 asks for (a few times at most); an HTTP error becomes
    a `UserError` saying what to do, but status `passthrough`, which the caller handles."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
    )

    for attempt in range(RETRIES + 1):
        try:
            return send()
        except ClientAuthenticationError as exc:
            if exc.response is None:  # no token at all
                raise UserError(
                    f"{location}: no Azure credentials ({_first_line(exc.message)}); set FINOPS_AZURE_TOKEN, "
                    "sign in with `az login`, or give the bot a managed identity"
                ) from None
            raise UserError(_explain(exc, location)) from None
        except HttpResponseError as exc:
            if exc.status_code == 429 and attempt < RETRIES:
                sleep(_wait(exc, attempt))
                continue
            if exc.status_code == passthrough:
                raise
            raise UserError(_explain(exc, location)) from None
        except ServiceRequestError as exc:
            raise UserError(f"{location}: cannot reach the Cost Management API ({exc.message})") from None
    raise AssertionError("unreachable")


def _wait(exc: Any, attempt: int) -> float:
    headers = exc.response.headers if exc.response is not None else {}
    for name in RETRY_HEADERS:
        value = headers.get(name)
        if value:
            try:
                return min(max(float(value), 0.0), MAX_WAIT)
            except ValueError:
                continue
    return min(2.0**attempt, MAX_WAIT)


def _explain(exc: Any, location: str) -> str:
    status = exc.status_code
    detail = _first_line(exc.message or exc.reason)
    advice = {
        401: "the token was refused: get a fresh one (FINOPS_AZURE_TOKEN) or sign in again",
        403: "check the scope and that the identity has Cost Management Reader on it",
        404: "no such scope: check the path (e.g. subscriptions/<id>)",
        429: "still throttled after retries: try again later",
    }.get(status, "check the scope and the query, or try again later")
    return f"{location}: the Cost Management API answered {status} ({detail}); {advice}"


def _first_line(text: object) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _next_link(page: bytes, location: str) -> str | None:
    try:
        document = json.loads(page) if page.strip() else {"properties": {"rows": []}}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(
            f"{location}: the Cost Management API answered with malformed JSON ({exc}); try again later"
        ) from None
    properties = document.get("properties") if isinstance(document, dict) else None
    if not isinstance(properties, dict):
        raise UserError(f"{location}: the Cost Management API answer has no properties; try again later")
    link = properties.get("nextLink")
    return str(link) if link else None


def _same_host(link: str, endpoint: str, location: str) -> None:
    """The bearer token goes only where the client was pointed."""
    base, target = urlparse(endpoint), urlparse(link)
    if (target.scheme, target.netloc) != (base.scheme, base.netloc):
        raise UserError(f"{location}: the API's nextLink points elsewhere ({target.netloc}); not followed")


sources.register_scheme(SCHEME, fetch)
