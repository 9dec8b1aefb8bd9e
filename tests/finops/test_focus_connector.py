from __future__ import annotations

import gzip
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finops import connectors, focus, normalise, sample, sources
from finops.errors import UserError
from jobs.ingest import read_source

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
    _, daily, totals, rows = read_source(sources.expand(str(path)), fmt, normalise.DEFAULT_TAG_ALIASES)
    return daily, totals, rows


def _by_scope(totals: list[normalise.RawTotal]) -> dict[tuple[str, str, date, str], Decimal]:
    return {
        (t.provider, t.billing_account, t.billing_period_start, t.currency): t.billed_cost for t in totals
    }


def _expected(org: sample.SampleOrg) -> dict[tuple[str, str, date, str], Decimal]:
    return _by_scope(normalise.raw_totals(org.rows))


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
    with pytest.raises(UserError, match=r"unknown format 'aws-cur'; use one of: auto, focus"):
        connectors.get("aws-cur")
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
