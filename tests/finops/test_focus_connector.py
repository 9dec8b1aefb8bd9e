from __future__ import annotations

import csv
import gzip
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finops import connectors, focus, lineitems, normalise, sample, sources
from finops.errors import UserError
from jobs.ingest import read_source
from tests.factories import frame, item

HEADER = (
    "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ProviderName,"
    "ServiceName,BilledCost,EffectiveCost,Tags\n"
)


@pytest.fixture(scope="module")
def org() -> sample.SampleOrg:
    return sample.generate(seed=3, end=date(2026, 10, 31), months=2)


@pytest.fixture(scope="module")
def exported(org: sample.SampleOrg, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exports")
    sample.write_focus_files(org, folder)
    return folder


def _read(path: Path, fmt: str = "auto") -> tuple[pd.DataFrame, list[normalise.RawTotal], int]:
    read = read_source(sources.expand(str(path)), fmt, normalise.DEFAULT_TAG_ALIASES)
    return read.daily, read.totals, read.rows


def _by_scope(totals: list[normalise.RawTotal]) -> dict[tuple[str, str, date, str], Decimal]:
    return {
        (t.provider, t.billing_account, t.billing_period_start, t.currency): t.billed_cost for t in totals
    }


def _expected(org: sample.SampleOrg) -> dict[tuple[str, str, date, str], Decimal]:
    return _by_scope(normalise.raw_totals(lineitems.from_frame(org.rows)))


def test_csv_folder_reads_every_cent(org: sample.SampleOrg, exported: Path) -> None:
    daily, totals, rows = _read(exported)
    assert rows == len(org.rows)
    assert _by_scope(totals) == _expected(org)
    assert sum(daily.billed_cost, Decimal(0)) == sum(org.rows[focus.BILLED_COST], Decimal(0))
    assert set(daily.team.dropna()) >= {"data", "payments", "platform", "web"}


def test_gzip_and_parquet_read_the_same(org: sample.SampleOrg, exported: Path, tmp_path: Path) -> None:
    csv_file = next(exported.glob("gcp-2026-10.csv"))
    gz = tmp_path / "gcp-2026-10.csv.gz"
    gz.write_bytes(gzip.compress(csv_file.read_bytes()))
    frame = pd.read_csv(csv_file, dtype=str, keep_default_na=False)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    money = pa.decimal128(24, 6)
    for column in focus.MONEY_COLUMNS:
        values = [Decimal(v) if v else None for v in frame[column]]
        table = table.set_column(table.schema.get_field_index(column), column, pa.array(values, type=money))
    parquet = tmp_path / "gcp-2026-10.parquet"
    pq.write_table(table, parquet)
    plain = _by_scope(_read(csv_file)[1])
    assert _by_scope(_read(gz)[1]) == plain
    assert _by_scope(_read(parquet)[1]) == plain
    assert list(plain.values()) == [
        v for k, v in _expected(org).items() if k[0] == "gcp" and k[2].month == 10
    ]


def test_focus_1_3_names_and_null_literals(tmp_path: Path) -> None:
    path = tmp_path / "v13.csv"
    path.write_text(
        "BillingAccountId,BillingCurrency,BillingPeriodStart,ChargePeriodStart,ServiceProviderName,"
        "ServiceName,RegionId,BilledCost,EffectiveCost,ListCost,Tags\n"
        'acct,USD,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,AWS,Amazon S3,NULL,1.50,NULL,NULL,"{""team"":""web""}"\n'
        "acct,USD,2026-10-01T00:00:00Z,2026-10-02T05:00:00Z,AWS,Amazon S3,NULL,2.25,2.00,3,NULL\n"
    )
    daily, totals, rows = _read(path)
    assert rows == 2
    assert _by_scope(totals) == {("aws", "acct", date(2026, 10, 1), "USD"): Decimal("3.75")}
    by_team = {row.team: row for row in daily.itertuples()}
    assert by_team["web"].region is None
    assert by_team["web"].effective_cost == Decimal("0")  # NULL EffectiveCost is missing, not a number
    assert by_team[None].effective_cost == Decimal("2")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "a,USD,2026-10-01,2026-10-01,AWS,S3,1.2.3,1,{}",
            r"row 1, column BilledCost: '1\.2\.3' is not a number",
        ),
        (
            "a,DOLLARS,2026-10-01,2026-10-01,AWS,S3,1,1,{}",
            r"row 1, column BillingCurrency: 'DOLLARS' is not an ISO",
        ),
        ("a,USD,2026-10-01,yesterday,AWS,S3,1,1,{}", r"row 1, column ChargePeriodStart: 'yesterday'"),
        ("a,USD,2026-10-01,2026-10-01,AWS,S3,1,1,[1]", r"row 1, column Tags: tags must be a JSON object"),
        (",USD,2026-10-01,2026-10-01,AWS,S3,1,1,{}", r"row 1, column BillingAccountId: the value is missing"),
    ],
)
def test_bad_rows_name_file_row_and_column(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + row.replace("{}", '"{}"').replace("[1]", '"[1]"') + "\n")
    with pytest.raises(UserError, match=message):
        _read(path)


def test_missing_columns_and_unknown_formats(tmp_path: Path) -> None:
    path = tmp_path / "partial.csv"
    path.write_text("BillingAccountId,BilledCost\na,1\n")
    with pytest.raises(UserError, match=r"not a format finops-bot reads"):
        _read(path)
    with pytest.raises(UserError, match=r"lacks the FOCUS column\(s\) BillingCurrency"):
        _read(path, fmt="focus")
    with pytest.raises(
        UserError, match=r"unknown format 'oracle-usage'; use one of: auto, aws-cost-explorer, "
    ):
        connectors.get("oracle-usage")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(UserError, match="not a readable Parquet file"):
        _read(broken)


def test_sources_expand_files_folders_and_report_missing(exported: Path, tmp_path: Path) -> None:
    files = sources.expand(str(exported))
    assert [Path(f.location).name for f in files][:2] == ["aws-2026-09.csv", "aws-2026-10.csv"]
    assert len(sources.expand(str(exported / "aws-2026-09.csv"))) == 1
    with pytest.raises(UserError, match="does not exist"):
        sources.expand(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"has no \.csv"):
        sources.expand(str(tmp_path / "empty"))
    same = sources.fingerprint(sources.expand(str(exported)))
    assert same == sources.fingerprint(sources.expand(str(exported)))


# Every column of each FOCUS version's cost and usage dataset (1.3 renames ProviderName and
# PublisherName to ServiceProviderName and HostProviderName). Values for the columns finops-bot
# reads come from `_cells`; the others get plausible filler, including look-alike money columns
# (PricingCurrencyEffectiveCost in 1.2) that must not be mistaken for the billed ones.
FOCUS_1_0 = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]
FOCUS_1_1 = sorted(
    [
        *FOCUS_1_0,
        *["CapacityReservationId", "CapacityReservationStatus", "CommitmentDiscountQuantity"],
        *["CommitmentDiscountUnit", "ServiceSubcategory", "SkuMeter", "SkuPriceDetails"],
    ]
)
FOCUS_1_2 = sorted(
    [
        *FOCUS_1_1,
        *["BillingAccountType", "InvoiceId", "PricingCurrency", "PricingCurrencyContractedUnitPrice"],
        *["PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "SubAccountType"],
    ]
)
FOCUS_1_3 = sorted(
    {*FOCUS_1_2, "ServiceProviderName", "HostProviderName"} - {"ProviderName", "PublisherName"}
)
FILLER = {
    "SkuPriceDetails": '{"CoreCount": 4, "OperatingSystem": "Linux"}',
    "PricingCurrency": "EUR",
    "PricingCurrencyEffectiveCost": "999.99",
    "ContractedCost": "888.88",
    "ConsumedQuantity": "24",
    "HostProviderName": "Microsoft",
}


def _cells(day: int, billed: str, team: str | None) -> dict[str, str]:
    return {
        "BilledCost": billed,
        "EffectiveCost": billed,
        "ListCost": billed,
        "BillingAccountId": "8888-7777",
        "BillingCurrency": "USD",
        "BillingPeriodStart": "2026-10-01T00:00:00Z",
        "BillingPeriodEnd": "2026-11-01T00:00:00Z",
        "ChargePeriodStart": f"2026-10-{day:02d}T00:00:00Z",
        "ChargePeriodEnd": f"2026-10-{day + 1:02d}T00:00:00Z",
        "ChargeCategory": "Usage",
        "ProviderName": "Microsoft",
        "ServiceProviderName": "Microsoft",
        "ServiceName": "Virtual Machines",
        "ServiceCategory": "Compute",
        "RegionId": "westeurope",
        "SubAccountId": "/subscriptions/0000",
        "Tags": json.dumps({"team": team} if team else {}),
    }


def _write_version(path: Path, header: list[str], lines: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for cells in lines:
            writer.writerow([cells.get(c, FILLER.get(c, "x")) for c in header])


@pytest.mark.parametrize(
    "header", [FOCUS_1_0, FOCUS_1_1, FOCUS_1_2, FOCUS_1_3], ids=["1.0", "1.1", "1.2", "1.3"]
)
def test_every_focus_version_reads_to_the_cent(tmp_path: Path, header: list[str]) -> None:
    path = tmp_path / "export.csv"
    lines = [_cells(1, "10.10", "web"), _cells(1, "0.000000001", "web"), _cells(2, "5.25", None)]
    _write_version(path, header, lines)
    daily, totals, rows = _read(path)
    assert rows == 3
    assert _by_scope(totals) == {("azure", "8888-7777", date(2026, 10, 1), "USD"): Decimal("15.350000001")}
    by_day = {(row.usage_date.day, row.team): row.billed_cost for row in daily.itertuples()}
    assert by_day == {(1, "web"): Decimal("10.100000001"), (2, None): Decimal("5.25")}


def _naive(*times: str) -> pa.Array:
    """Timestamps without a zone, as AWS writes them (UTC by convention)."""
    return pa.array(times).cast(pa.timestamp("ms"))


def test_aws_data_export_parquet_types(tmp_path: Path) -> None:
    """AWS's FOCUS export writes money as double, times as timestamps and tags as a map."""
    tags = pa.map_(pa.string(), pa.string())
    table = pa.table(
        {
            "BillingAccountId": ["123456789012"] * 3,
            "BillingCurrency": ["USD"] * 3,
            "BillingPeriodStart": _naive("2026-10-01T00:00", "2026-10-01T00:00", "2026-10-01T00:00"),
            "ChargePeriodStart": _naive("2026-10-03T23:00", "2026-10-03T01:00", "2026-10-04T00:00"),
            "ProviderName": ["AWS"] * 3,
            "ServiceName": ["Amazon EC2"] * 3,
            "BilledCost": pa.array([0.1, 0.2, 1e-7], pa.float64()),
            "EffectiveCost": pa.array([0.1, 0.2, None], pa.float64()),
            "Tags": pa.array([[("user:team", "data")], [("user:team", "data")], None], tags),
        }
    )
    path = tmp_path / "aws-focus.parquet"
    pq.write_table(table, path)
    daily, totals, _ = _read(path)
    # Exact decimal sums of the values as written (a float sum would give 0.30000000000000004).
    assert [t.billed_cost for t in totals] == [Decimal("0.3000001")]
    first = daily.iloc[0]
    assert (first.usage_date, first.team, first.billed_cost) == (date(2026, 10, 3), "data", Decimal("0.3"))
    assert first.tags == {"user:team": "data"}
    assert daily.iloc[1].effective_cost == Decimal(0)


def test_money_beyond_nine_decimals_rounds_half_even_and_mixed_time_forms(tmp_path: Path) -> None:
    path = tmp_path / "precise.csv"
    path.write_text(
        HEADER
        + 'a,USD,2026-10-01,2026-10-01,AWS,S3,0.0000000005,0,"{}"\n'
        + 'a,USD,2026-10-01,2026-10-01T10:00:00+02:00,AWS,S3,0.0000000015,0,"{}"\n'
        + 'a,USD,2026-10-01,2026-10-01 12:00:00,AWS,S3, 2 ,0,"{}"\n'
    )
    daily, totals, _ = _read(path)
    assert totals[0].billed_cost == Decimal("2.000000002")  # 0.0000000005 -> 0, 0.0000000015 -> 0.000000002
    assert list(daily.usage_date) == [date(2026, 10, 1)]


def test_remote_parquet_is_downloaded_once(aws: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bills")
    path = tmp_path / "focus.parquet"
    pq.write_table(frame(item("2026-10-01", "1.5"), item("2026-10-02", "2")), path)
    s3.upload_file(str(path), "bills", "focus/focus.parquet")
    downloads: list[str] = []
    s3.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: downloads.append(params["url_path"])
    )
    read = read_source(sources.expand("s3://bills/focus/", s3), "auto", normalise.DEFAULT_TAG_ALIASES)
    assert (read.rows, read.totals[0].billed_cost) == (2, Decimal("3.5"))
    assert downloads == ["/focus/focus.parquet"]


def test_float_money_is_read_by_its_shortest_text_even_in_exponent_form() -> None:
    floats = pa.array([0.1, 5e-06, 1.2345678901234567e-05, None, -2.5e-07, 1234.5])
    parsed = lineitems.money(floats, "BilledCost", lineitems.Where("cur2.parquet"))
    assert parsed.to_pylist() == [
        Decimal("0.1"),
        Decimal("0.000005"),
        Decimal("0.000012346"),  # more than nine decimals: rounded half to even
        None,
        Decimal("-0.00000025"),
        Decimal("1234.5"),
    ]
