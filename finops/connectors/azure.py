"""Azure Cost Management: exports (EA and MCA, actual and amortized) and Query API answers.

Exports are CSV (plain or gzip) or Parquet with EA's PascalCase or MCA's camelCase column names,
matched case-insensitively. To FOCUS:

- ProviderName "Microsoft"; BillingAccountId; SubAccountId = the subscription;
- ServiceName = MeterCategory (else ConsumedService, else ProductName); ServiceCategory from
  `CATEGORIES`, by the meter category, then the consumed service, else "Other";
- RegionId = ResourceLocation lower-cased without spaces ("West Europe" -> "westeurope"; the old
  EA names such as "EU West" are translated);
- ResourceId = ResourceId (else InstanceId), when the export has it;
- ChargePeriodStart = Date (MM/DD/YYYY, ISO, or the Query API's 20261003) at UTC midnight,
  ChargePeriodEnd the next day; BillingPeriodStart = BillingPeriodStartDate (else the usage month);
- ChargeCategory from ChargeType (`CHARGES`; empty -> Usage, unknown -> Adjustment);
- Tags: a JSON object, or Azure's brace-less `"env": "prod","team": "data"`; empty -> no tags;
- ListCost = PaygCostInBillingCurrency when the export has it.

Actual or amortized. An actual-cost export's cost is what the invoice charges: BilledCost =
EffectiveCost = cost. In an amortized export EffectiveCost = cost, and BilledCost = cost except
for rows a commitment covers (PricingModel Reservation or SavingsPlan, or ChargeType
UnusedReservation / UnusedSavingsPlan), which are 0: their purchase is what the invoice charges,
and it is not in an amortized export. Which one a file is: the export's `manifest.json` says
(`exportConfig.type`); without one, a file with UnusedReservation/UnusedSavingsPlan rows, or with
reservation / savings plan usage at a non-zero cost, is amortized (an actual export shows covered
usage at 0 and has no unused rows); anything else is actual.

The selector (`select_exports`) sees every file of a source. It keeps, of the runs of one export
for one period (each run in its own folder with its own manifest.json), only the newest by
`runInfo.submittedTime`; it never lets a manifest through as data; and it refuses a source that
holds an actual and an amortized export of the same billing period (read together they count
the month twice). It looks inside Azure manifests and at the header of CSV files only; a CSV that
is an Azure export without a manifest is scanned once (a few columns) to tell its kind.

Query API answers (`finops.connectors.azure_query`) are JSON: a first line naming the query,
then one page per line (`properties.columns` / `properties.rows`); they share this mapping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from finops import focus, lineitems
from finops.connectors import reading, register, register_selector
from finops.errors import UserError
from finops.lineitems import Where
from finops.sources import SourceFile

NAME = "azure-export"
PROVIDER = "Microsoft"
ACTUAL = "ActualCost"
AMORTIZED = "AmortizedCost"

# What each value is -> the column names that carry it (lower-case; the first present wins).
ROLES: Mapping[str, tuple[str, ...]] = {
    "account": ("billingaccountid",),
    "subscription": ("subscriptionid", "subscriptionguid"),
    "meter_category": ("metercategory",),
    "consumed_service": ("consumedservice",),
    "service": ("servicename",),  # the Query API's name for the meter category
    "product": ("productname",),  # what purchases without a meter category are named by
    "location": ("resourcelocation",),
    "resource": ("resourceid", "instanceid"),
    "date": ("date", "usagedate"),
    "period": ("billingperiodstartdate", "billingmonth"),
    "cost": ("costinbillingcurrency", "cost", "pretaxcost", "totalcost"),
    "currency": ("billingcurrency", "billingcurrencycode", "currency"),
    "payg": ("paygcostinbillingcurrency",),
    "charge_type": ("chargetype",),
    "pricing_model": ("pricingmodel",),
    "tags": ("tags",),
}
REQUIRED = {
    "account": "BillingAccountId",
    "date": "Date",
    "cost": "CostInBillingCurrency (or Cost)",
    "currency": "BillingCurrency",
}
CHARGES = {
    "usage": "Usage",
    "purchase": "Purchase",
    "refund": "Credit",
    "credit": "Credit",
    "tax": "Tax",
    "roundingadjustment": "Adjustment",
    "adjustment": "Adjustment",
    "unusedreservation": "Usage",
    "unusedsavingsplan": "Usage",
}
COMMITMENTS = ("reservation", "savingsplan", "savings plan")
UNUSED = ("unusedreservation", "unusedsavingsplan")
_COMPUTE = "Compute"
_DATABASES = "Databases"
_NETWORK = "Networking"
_AI = "AI and Machine Learning"
_MANAGEMENT = "Management and Governance"
CATEGORIES: Mapping[str, str] = {
    # meter categories (EA MeterCategory, MCA meterCategory, Query API ServiceName)
    "virtual machines": _COMPUTE,
    "virtual machines licenses": _COMPUTE,
    "cloud services": _COMPUTE,
    "functions": _COMPUTE,
    "container instances": _COMPUTE,
    "azure kubernetes service": _COMPUTE,
    "batch": _COMPUTE,
    "storage": "Storage",
    "backup": "Storage",
    "azure netapp files": "Storage",
    "sql database": _DATABASES,
    "sql managed instance": _DATABASES,
    "azure cosmos db": _DATABASES,
    "azure database for postgresql": _DATABASES,
    "azure database for mysql": _DATABASES,
    "redis cache": _DATABASES,
    "bandwidth": _NETWORK,
    "virtual network": _NETWORK,
    "load balancer": _NETWORK,
    "vpn gateway": _NETWORK,
    "application gateway": _NETWORK,
    "azure dns": _NETWORK,
    "expressroute": _NETWORK,
    "content delivery network": _NETWORK,
    "azure front door service": _NETWORK,
    "azure firewall": _NETWORK,
    "network watcher": _NETWORK,
    "azure app service": "Web",
    "azure synapse analytics": "Analytics",
    "azure databricks": "Analytics",
    "hdinsight": "Analytics",
    "azure data factory v2": "Integration",
    "service bus": "Integration",
    "event hubs": "Integration",
    "event grid": "Integration",
    "logic apps": "Integration",
    "api management": "Integration",
    "cognitive services": _AI,
    "azure openai": _AI,
    "machine learning": _AI,
    "log analytics": _MANAGEMENT,
    "azure monitor": _MANAGEMENT,
    "automation": _MANAGEMENT,
    "key vault": "Security",
    "microsoft defender for cloud": "Security",
    "sentinel": "Security",
    "iot hub": "Internet of Things",
    # consumed services (resource providers)
    "microsoft.compute": _COMPUTE,
    "microsoft.containerservice": _COMPUTE,
    "microsoft.storage": "Storage",
    "microsoft.sql": _DATABASES,
    "microsoft.documentdb": _DATABASES,
    "microsoft.network": _NETWORK,
    "microsoft.cdn": _NETWORK,
    "microsoft.web": "Web",
    "microsoft.keyvault": "Security",
    "microsoft.operationalinsights": _MANAGEMENT,
    "microsoft.cognitiveservices": _AI,
}
OLD_EA_REGIONS = {  # EA's older location names -> Azure region ids
    "euwest": "westeurope",
    "eunorth": "northeurope",
    "useast": "eastus",
    "useast2": "eastus2",
    "uswest": "westus",
    "uswest2": "westus2",
    "uscentral": "centralus",
    "ussouthcentral": "southcentralus",
    "usnorthcentral": "northcentralus",
    "asiaeast": "eastasia",
    "asiasoutheast": "southeastasia",
    "uksouth": "uksouth",
}
NO_REGION = ("", "unassigned", "unknown", "n/a")
_DAY = pa.scalar(timedelta(days=1), pa.duration("us"))
_MANIFEST = "manifest.json"

# File version -> ActualCost / AmortizedCost, as the selector found it (from a manifest or a scan),
# so that reading the file does not scan it again.
_KINDS: dict[str, str] = {}


def roles(columns: Sequence[str]) -> dict[str, str]:
    """What each present column is: role -> the column's name in the file."""
    by_name: dict[str, str] = {}
    for column in columns:
        by_name.setdefault(column.strip().lstrip("\ufeff").lower(), column)
    found = {}
    for role, names in ROLES.items():
        for name in names:
            if name in by_name:
                found[role] = by_name[name]
                break
    return found


def is_export(columns: Sequence[str]) -> bool:
    names = {column.strip().lstrip("\ufeff").lower() for column in columns}
    return (
        "billedcost" not in names  # a FOCUS export (Azure writes those too) is the focus connector's
        and bool(names & {"date", "usagedatetime"})
        and bool(names & {"metercategory", "consumedservice"})
        and bool(names & {"subscriptionid", "subscriptionguid", "billingaccountid"})
    )


class AzureExportConnector:
    name = NAME

    def sniff(self, columns: Sequence[str]) -> bool:
        return is_export(columns)

    def batches(self, file: SourceFile, batch_rows: int = 200_000) -> Iterator[pa.Table]:
        if _is_api_answer(file):
            yield from _api_batches(file)
            return
        kind = _KINDS.get(file.version) or scan(file).kind
        found: dict[str, str] = {}

        def choose(header: Sequence[str]) -> list[str]:
            found.update(roles(header))
            missing = [label for role, label in REQUIRED.items() if role not in found]
            if missing:
                raise UserError(
                    f"{file.location} lacks the Azure export column(s) {', '.join(missing)}; "
                    "export the cost details again, or name the format with --format"
                )
            return list(found.values())

        offset = 0
        for batch in reading.batches(file, choose, batch_rows):
            yield to_focus(batch, found, kind, Where(file.location, offset))
            offset += batch.num_rows


def to_focus(
    batch: pa.Table | pa.RecordBatch,
    found: Mapping[str, str],
    kind: str,
    where: Where,
    account: str | None = None,
) -> pa.Table:
    """Azure rows (columns named in `found`) as conformed FOCUS line items."""
    rows = batch.num_rows

    def column(role: str) -> pa.Array | None:
        if role not in found:
            return None
        values = batch.column(found[role])
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

    def text(role: str) -> pa.Array:
        values = column(role)
        if values is None:
            return pa.nulls(rows, pa.string())
        return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())

    cost = text("cost")
    start = _days(column("date"), found.get("date", "Date"), where)
    period = column("period")
    commitment = _covered(text("pricing_model"), text("charge_type"))
    billed = pc.if_else(commitment, pa.scalar("0"), cost) if kind == AMORTIZED else cost
    meter, consumed = text("meter_category"), text("consumed_service")
    out = {
        focus.PROVIDER_NAME: pa.array([PROVIDER] * rows, pa.string()),
        focus.BILLING_ACCOUNT_ID: text("account") if account is None else pa.array([account] * rows),
        focus.SUB_ACCOUNT_ID: text("subscription"),
        focus.SERVICE_NAME: pc.coalesce(meter, consumed, text("service"), text("product")),
        focus.SERVICE_CATEGORY: pc.coalesce(
            _mapped(pc.coalesce(meter, text("service")), lambda v: CATEGORIES.get(v.lower())),
            _mapped(consumed, lambda v: CATEGORIES.get(v.lower())),
            pa.scalar("Other"),
        ),
        focus.REGION_ID: _mapped(text("location"), _region),
        focus.RESOURCE_ID: text("resource"),
        focus.CHARGE_CATEGORY: pc.fill_null(
            _mapped(text("charge_type"), lambda v: CHARGES.get(v.strip().lower(), "Adjustment")), "Usage"
        ),
        focus.BILLING_CURRENCY: pc.utf8_trim_whitespace(text("currency")),
        focus.TAGS: _mapped(text("tags"), _tags),
        focus.CHARGE_PERIOD_START: start,
        focus.CHARGE_PERIOD_END: pc.add(start, _DAY),
        focus.BILLING_PERIOD_START: (
            pc.floor_temporal(start, unit="month")
            if period is None
            else _days(period, found["period"], where)
        ),
        focus.BILLED_COST: billed,
        focus.EFFECTIVE_COST: cost,
        focus.LIST_COST: text("payg"),
    }
    try:
        return lineitems.conform(pa.table(out), where)
    except UserError as exc:  # name the export's own column, not the FOCUS one
        message = str(exc)
        for name, role in (
            (focus.BILLED_COST, "cost"),
            (focus.EFFECTIVE_COST, "cost"),
            (focus.LIST_COST, "payg"),
            (focus.BILLING_CURRENCY, "currency"),
            (focus.BILLING_ACCOUNT_ID, "account"),
            (focus.TAGS, "tags"),
        ):
            if role in found:
                message = message.replace(f"column {name}:", f"column {found[role]}:")
        raise UserError(message) from None


def _covered(pricing_model: pa.Array, charge_type: pa.Array) -> pa.Array:
    """Rows a reservation or savings plan covers (including its unused part)."""
    model = pc.utf8_lower(pc.utf8_trim_whitespace(pricing_model))
    charge = pc.utf8_lower(pc.utf8_trim_whitespace(charge_type))
    covered = pc.or_(
        pc.fill_null(pc.is_in(model, pa.array(COMMITMENTS)), False),
        pc.fill_null(pc.is_in(charge, pa.array(UNUSED)), False),
    )
    return covered


def _mapped(values: pa.Array, translate: Callable[[str], str | None]) -> pa.Array:
    """`translate` applied to each distinct value (a batch has few); missing stays missing."""
    encoded = pc.dictionary_encode(values)
    distinct = pa.array([translate(value) for value in encoded.dictionary.to_pylist()], pa.string())
    return pc.take(distinct, encoded.indices)


def _region(location: str) -> str | None:
    key = "".join(location.split()).lower()
    return None if key in NO_REGION else OLD_EA_REGIONS.get(key, key)


def _tags(cell: str) -> str | None:
    body = cell.strip()
    if not body:
        return None
    try:
        tags = json.loads(body if body.startswith("{") else "{" + body + "}")
    except json.JSONDecodeError:
        return cell  # not tags: `lineitems.conform` names the row
    if not isinstance(tags, dict):
        return cell
    return json.dumps(tags, sort_keys=True) if tags else None


def _iso_days(values: pa.Array) -> pa.Array:
    """MM/DD/YYYY (EA), YYYYMMDD (the Query API) and ISO date-times as YYYY-MM-DD text."""
    text = pc.utf8_trim_whitespace(
        values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    )
    text = pc.replace_substring_regex(text, r"^(\d)/", r"0\1/")
    text = pc.replace_substring_regex(text, r"^(\d\d)/(\d)/", r"\1/0\2/")
    text = pc.replace_substring_regex(text, r"^(\d\d)/(\d\d)/(\d{4})", r"\3-\1-\2")
    text = pc.replace_substring_regex(text, r"^(\d{4})(\d\d)(\d\d)$", r"\1-\2-\3")
    return pc.utf8_slice_codeunits(text, 0, 10)


def _days(values: pa.Array | None, name: str, where: Where) -> pa.Array:
    """A date column as UTC midnights; a missing or unreadable date names its row."""
    if values is None:
        raise UserError(f"{where.location} lacks the column {name}")
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        days = pc.cast(values, pa.date32())
    else:
        iso = _iso_days(values)
        try:
            days = pc.cast(iso, pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            index = next(i for i, day in enumerate(iso.to_pylist()) if day is not None and not _is_day(day))
            raise UserError(
                f"{where.cell(index, name)}: {values[index].as_py()!r} is not a date "
                "(MM/DD/YYYY or YYYY-MM-DD)"
            ) from None
    if days.null_count:
        raise UserError(f"{where.cell(_first_null(days), name)}: the date is missing")
    return pc.cast(pc.cast(days, pa.timestamp("us")), lineitems.TIME_TYPE)


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _first_null(values: pa.Array) -> int:
    return int(pc.index(pc.is_null(values), True).as_py())


# --- Actual or amortized: the scan --------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    kind: str  # ACTUAL or AMORTIZED
    months: frozenset[str]  # the billing periods, YYYY-MM


def scan(file: SourceFile) -> Scan:
    """Whether an export without a manifest is actual or amortized (see the module's docstring),
    and its billing periods; reads a few columns only."""
    found: dict[str, str] = {}
    wanted = ("charge_type", "pricing_model", "cost", "period", "date")

    def choose(header: Sequence[str]) -> list[str]:
        found.update((role, name) for role, name in roles(header).items() if role in wanted)
        return list(found.values())

    amortized = False
    months: set[str] = set()
    for batch in reading.batches(file, choose, 1_000_000):
        if not amortized:
            amortized = _looks_amortized(batch, found)
        month_of = found.get("period") or found.get("date")
        if month_of:
            values = batch.column(month_of)
            months.update(
                m for m in pc.unique(pc.utf8_slice_codeunits(_iso_days(values), 0, 7)).to_pylist() if m
            )
    kind = AMORTIZED if amortized else ACTUAL
    _KINDS[file.version] = kind
    return Scan(kind, frozenset(months))


def _looks_amortized(batch: pa.RecordBatch, found: Mapping[str, str]) -> bool:
    def lower(role: str) -> pa.Array:
        if role not in found:
            return pa.nulls(batch.num_rows, pa.string())
        values = batch.column(found[role])
        return pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(values, pa.string())))

    charge, model = lower("charge_type"), lower("pricing_model")
    if pc.any(pc.is_in(charge, pa.array(UNUSED))).as_py():
        return True
    if "cost" not in found:
        return False
    cost = lower("cost")
    nonzero = pc.invert(pc.match_substring_regex(cost, r"^[-+]?0*\.?0*$"))
    usage = pc.or_kleene(pc.is_null(charge), pc.equal(charge, "usage"))
    covered_usage = pc.and_kleene(pc.and_kleene(pc.is_in(model, pa.array(COMMITMENTS)), usage), nonzero)
    return bool(pc.any(pc.fill_null(covered_usage, False)).as_py())


# --- The Query API's answers ---------------------------------------------------------------------


def _is_api_answer(file: SourceFile) -> bool:
    with file.open() as stream:
        return _peek(stream).lstrip().startswith(b"{")


def _peek(stream: IO[bytes]) -> bytes:
    return stream.peek(64)[:64] if hasattr(stream, "peek") else b""


def _api_batches(file: SourceFile) -> Iterator[pa.Table]:
    with file.open() as stream:
        query = _json_line(file, stream.readline(), 1).get("azureQuery")
        if not isinstance(query, dict):
            raise UserError(f"{file.location} is not an Azure Query API answer kept by finops-bot")
        kind = AMORTIZED if str(query.get("type", "")).lower() == AMORTIZED.lower() else ACTUAL
        account = str(query.get("billingAccountId") or query.get("scope") or "")
        offset = 0
        for number, line in enumerate(stream, start=2):
            if not line.strip():
                continue
            table = _page(file, _json_line(file, line, number), number)
            found = roles(table.schema.names)
            missing = [label for role, label in REQUIRED.items() if role not in found and role != "account"]
            if missing:
                raise UserError(
                    f"{file.location}: the Cost Management answer lacks {', '.join(missing)} "
                    f"(columns: {', '.join(table.schema.names)}); the query may need another aggregation"
                )
            yield to_focus(
                table, found, kind, Where(file.location, offset), None if "account" in found else account
            )
            offset += table.num_rows


def _json_line(file: SourceFile, line: bytes, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line, parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{file.location}, answer line {number}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UserError(f"{file.location}, answer line {number}: not a JSON object")
    return value


def _page(file: SourceFile, page: Mapping[str, Any], number: int) -> pa.Table:
    """One page of a Query API answer as a table of text columns (amounts exactly as sent)."""
    properties = page.get("properties", {})
    columns, rows = properties.get("columns"), properties.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list):
        raise UserError(f"{file.location}, answer page {number - 1}: no properties.columns / properties.rows")
    names = [str(column.get("name")) for column in columns if isinstance(column, dict)]
    if len(names) != len(columns) or any(not isinstance(row, list) or len(row) != len(names) for row in rows):
        raise UserError(f"{file.location}, answer page {number - 1}: rows do not match the columns")
    return pa.table(
        {name: pa.array([_cell(row[i]) for row in rows], pa.string()) for i, name in enumerate(names)}
    )


def _cell(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


# --- The selector: current runs only, no manifests, no actual + amortized ------------------------


@dataclass(frozen=True)
class Run:
    manifest: SourceFile
    export: str
    start: str  # the run's first day, YYYY-MM-DD
    submitted: datetime
    kind: str
    blobs: tuple[str, ...]


def _manifest(file: SourceFile) -> Run | None:
    """The run an Azure export manifest describes; None when the file is not one."""
    if _basename(file.location).lower() != _MANIFEST:
        return None
    try:
        with file.open() as stream:
            document = json.loads(stream.read(16 << 20))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    config, run, blobs = document.get("exportConfig"), document.get("runInfo"), document.get("blobs")
    if not (isinstance(config, dict) and isinstance(run, dict) and isinstance(blobs, list)):
        return None  # another provider's manifest
    try:
        submitted = datetime.fromisoformat(str(run["submittedTime"]).replace("Z", "+00:00"))
        return Run(
            manifest=file,
            export=str(config.get("resourceId") or config.get("exportName") or file.location).lower(),
            start=str(run["startDate"])[:10],
            submitted=submitted,
            kind=AMORTIZED if str(config.get("type", "")).lower() == AMORTIZED.lower() else ACTUAL,
            blobs=tuple(str(blob["blobName"]).strip("/") for blob in blobs),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{file.location} is an Azure export manifest without a readable runInfo / blobs ({exc!r}); "
            "let the export run again"
        ) from None


def _basename(location: str) -> str:
    return location.replace("\\", "/").rsplit("/", 1)[-1]


def _folder(location: str) -> str:
    return location.replace("\\", "/").rsplit("/", 1)[0]


def _named(run: Run, blob: str, by_name: Mapping[str, list[SourceFile]]) -> SourceFile:
    """The listed file a manifest's blob name is: by path suffix, else by name beside the manifest."""
    candidates = by_name.get(_basename(blob), [])
    for file in candidates:
        if file.location.replace("\\", "/").endswith("/" + blob):
            return file
    for file in candidates:
        if _folder(file.location) == _folder(run.manifest.location):
            return file
    raise UserError(
        f"{run.manifest.location} names {blob}, which is not in the source; the export may still be "
        "writing: run again once it has finished"
    )


def select_exports(files: list[SourceFile]) -> list[SourceFile]:
    """The files of a source to read (see the module's docstring)."""
    runs = [run for run in map(_manifest, files) if run is not None]
    dropped = {run.manifest.location for run in runs}
    kinds: dict[str, tuple[str, frozenset[str]]] = {}  # data file -> (kind, months), from its manifest
    by_name: dict[str, list[SourceFile]] = {}
    for file in files:
        by_name.setdefault(_basename(file.location), []).append(file)
    newest: dict[tuple[str, str], Run] = {}
    for run in sorted(runs, key=lambda r: (r.submitted, r.manifest.location)):
        newest[(run.export, run.start)] = run  # later runs replace earlier ones
    for run in runs:
        current = newest[(run.export, run.start)] is run
        for blob in run.blobs:
            if current:
                data = _named(run, blob, by_name)
                kinds[data.location] = (run.kind, frozenset({run.start[:7]}))
                _KINDS[data.version] = run.kind
            else:
                dropped.update(f.location for f in by_name.get(_basename(blob), []) if _is_blob(f, run, blob))
    kept = [file for file in files if file.location not in dropped]
    _refuse_mixed(kept, kinds)
    return kept


def _is_blob(file: SourceFile, run: Run, blob: str) -> bool:
    location = file.location.replace("\\", "/")
    return location.endswith("/" + blob) or _folder(location) == _folder(run.manifest.location)


def _refuse_mixed(files: Sequence[SourceFile], kinds: Mapping[str, tuple[str, frozenset[str]]]) -> None:
    """Refuse actual and amortized exports of one billing period in one source."""
    seen: dict[str, dict[str, SourceFile]] = {}
    for file in files:
        if file.location in kinds:
            kind, months = kinds[file.location]
        elif file.format is None and _is_csv(file) and is_export(reading.header(file)):
            found = scan(file)
            kind, months = found.kind, found.months
        else:
            continue
        for month in months:
            of_month = seen.setdefault(month, {})
            of_month.setdefault(kind, file)
            if len(of_month) > 1:
                raise UserError(
                    f"{of_month[ACTUAL].location} is an actual-cost export and "
                    f"{of_month[AMORTIZED].location} an amortized one, both for {month}: "
                    "read together they count the month twice; "
                    "keep one of them in the source (actual cost is what the invoice shows)"
                )


def _is_csv(file: SourceFile) -> bool:
    return file.location.lower().removesuffix(".gz").endswith(".csv")


register(AzureExportConnector())
register_selector(select_exports)
