"""Ingestion benchmark: rows/s and peak memory, into SQLite and PostgreSQL, for FOCUS Parquet and
CSV, a legacy AWS CUR CSV and a CUR 2.0 Parquet export.

    python benchmarks/ingest.py [--rows 1000000] [--cases focus-parquet,cur-csv,...]
                                [--postgres postgresql://postgres@127.0.0.1/postgres]

Generates one month of line items with realistic cardinality (thousands of resources, tens of
services, a few accounts and regions, tag sets) and writes the same rows in each format (a
million rows at a time): FOCUS names; CUR's `lineItem/...` names with one `resourceTags/user:*`
column per tag; CUR 2.0's snake_case names with doubles, timestamps and a `resource_tags` map.
It times pyarrow reading each file alone, then runs `finops-bot ingest` on each file in a fresh
child process per database and prints rows/s and the child's peak RSS. PostgreSQL is skipped
when it does not answer.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SERVICES = [f"Service {i:02d}" for i in range(40)]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"]
TEAMS = ["payments", "data", "platform", "web", "ml", "search", "growth", "infra"]


CHUNK_ROWS = 1_000_000  # written a chunk at a time: 10 million rows never sit in memory at once


def generate(rows: int, seed: int = 1) -> pa.Table:
    """One chunk of line items."""
    rng = np.random.default_rng(seed)
    resources = 5_000
    resource = rng.integers(0, resources, rows)
    service = np.array(SERVICES, dtype=object)[resource % len(SERVICES)]
    region = np.array(REGIONS, dtype=object)[resource % len(REGIONS)]
    team = resource % (len(TEAMS) + 1)  # one in nine untagged
    tag_values = [json.dumps({"user:team": t, "user:environment": "prod"}) for t in TEAMS] + ["{}"]
    day = rng.integers(1, 31, rows)
    hour = rng.integers(0, 24, rows)
    cost = np.round(rng.gamma(0.6, 0.8, rows), 6)
    starts = np.array(
        [f"2026-10-{d:02d}T{h:02d}:00:00Z" for d, h in zip(day, hour, strict=True)], dtype=object
    )
    return pa.table(
        {
            "BillingAccountId": pa.array(np.where(resource % 3 == 0, "111111111111", "222222222222")),
            "BillingCurrency": pa.array(["USD"] * rows),
            "BillingPeriodStart": pa.array(["2026-10-01T00:00:00Z"] * rows),
            "ChargePeriodStart": pa.array(starts),
            "ChargeCategory": pa.array(["Usage"] * rows),
            "ProviderName": pa.array(["AWS"] * rows),
            "SubAccountId": pa.array([f"3333{r % 20:08d}" for r in resource]),
            "ServiceName": pa.array(service),
            "RegionId": pa.array(region),
            "ResourceId": pa.array([f"arn:aws:ec2:i-{r:08x}" for r in resource]),
            "BilledCost": pa.array([f"{c:.6f}" for c in cost]).cast(pa.decimal128(20, 6)),
            "EffectiveCost": pa.array([f"{c * 0.9:.6f}" for c in cost]).cast(pa.decimal128(20, 6)),
            "Tags": pa.array(np.array(tag_values, dtype=object)[team]),
        }
    )


def as_cur(chunk: pa.Table) -> pa.Table:
    """The chunk as a legacy CUR CSV has it: text cells, one column per tag key."""
    tags = [json.loads(t) for t in chunk["Tags"].to_pylist()]
    return pa.table(
        {
            "identity/LineItemId": pa.array([f"li-{i}" for i in range(chunk.num_rows)]),
            "bill/PayerAccountId": chunk["BillingAccountId"],
            "bill/BillingPeriodStartDate": chunk["BillingPeriodStart"],
            "lineItem/UsageAccountId": chunk["SubAccountId"],
            "lineItem/LineItemType": pa.array(["Usage"] * chunk.num_rows),
            "lineItem/UsageStartDate": chunk["ChargePeriodStart"],
            "lineItem/ProductCode": chunk["ServiceName"],
            "lineItem/ResourceId": chunk["ResourceId"],
            "lineItem/CurrencyCode": chunk["BillingCurrency"],
            "lineItem/UnblendedCost": chunk["BilledCost"].cast(pa.string()),
            "product/ProductName": chunk["ServiceName"],
            "product/region": chunk["RegionId"],
            "pricing/publicOnDemandCost": chunk["BilledCost"].cast(pa.string()),
            "resourceTags/user:team": pa.array([t.get("user:team", "") for t in tags]),
            "resourceTags/user:environment": pa.array([t.get("user:environment", "") for t in tags]),
        }
    )


def as_cur2(chunk: pa.Table) -> pa.Table:
    """The chunk as a CUR 2.0 Parquet export has it: doubles, timestamps, a tag map."""
    tags = [[(k.replace(":", "_"), v) for k, v in json.loads(t).items()] for t in chunk["Tags"].to_pylist()]
    times = pa.array([t[:19] for t in chunk["ChargePeriodStart"].to_pylist()]).cast(pa.timestamp("ms"))
    return pa.table(
        {
            "bill_payer_account_id": chunk["BillingAccountId"],
            "bill_billing_period_start_date": pa.array(
                [t[:19] for t in chunk["BillingPeriodStart"].to_pylist()]
            ).cast(pa.timestamp("ms")),
            "line_item_usage_account_id": chunk["SubAccountId"],
            "line_item_line_item_type": pa.array(["Usage"] * chunk.num_rows),
            "line_item_usage_start_date": times,
            "line_item_product_code": chunk["ServiceName"],
            "line_item_resource_id": chunk["ResourceId"],
            "line_item_currency_code": chunk["BillingCurrency"],
            "line_item_unblended_cost": chunk["BilledCost"].cast(pa.float64()),
            "product": pa.array(
                [[("product_name", s)] for s in chunk["ServiceName"].to_pylist()],
                pa.map_(pa.string(), pa.string()),
            ),
            "product_region_code": chunk["RegionId"],
            "pricing_public_on_demand_cost": chunk["BilledCost"].cast(pa.float64()),
            "resource_tags": pa.array(tags, pa.map_(pa.string(), pa.string())),
        }
    )


Shape = Callable[[pa.Table], pa.Table]
CASES: dict[str, tuple[str, Shape, str]] = {  # name -> (file name, how a chunk is shaped, Parquet or CSV)
    "focus-parquet": ("focus.parquet", lambda chunk: chunk, "parquet"),
    "focus-csv": ("focus.csv", lambda chunk: chunk, "csv"),
    "cur-csv": ("cur-00001.csv", as_cur, "csv"),
    "cur2-parquet": ("cur2-00001.snappy.parquet", as_cur2, "parquet"),
}


def write_files(rows: int, folder: Path, cases: list[str]) -> dict[str, Path]:
    files = {case: folder / CASES[case][0] for case in cases}
    writers: dict[str, pq.ParquetWriter | pacsv.CSVWriter] = {}
    for number, start in enumerate(range(0, rows, CHUNK_ROWS)):
        chunk = generate(min(CHUNK_ROWS, rows - start), seed=number + 1)
        for case in cases:
            _, shape, kind = CASES[case]
            table = shape(chunk)
            if case not in writers:
                writer = pq.ParquetWriter if kind == "parquet" else pacsv.CSVWriter
                writers[case] = writer(files[case], table.schema)
            writers[case].write_table(table)
    for writer in writers.values():
        writer.close()
    return files


def pyarrow_read_seconds(path: Path) -> float:
    started = time.perf_counter()
    if path.suffix == ".parquet":
        pq.read_table(path)
    else:
        pacsv.read_csv(path)
    return time.perf_counter() - started


def ingest_in_child(path: Path, database_url: str) -> tuple[float, float]:
    """Seconds and peak RSS (MiB, VmHWM) of `finops-bot ingest` in a fresh process."""
    code = (
        "import sys, time\n"
        "from bot.cli import main\n"
        "t = time.perf_counter()\n"
        "try:\n"
        "    main(['ingest', sys.argv[1], '--json'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) parent.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(time.perf_counter() - t, int(hwm) / 1024, file=sys.stderr)\n"
    )
    env = {**os.environ, "FINOPS_DATABASE_URL": database_url}
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"ingest of {path} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    seconds, peak = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(peak)


def postgres_database(admin_url: str) -> str | None:
    name = f"finops_bench_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(  # noqa: S603
        ["psql", admin_url, "-qc", f'CREATE DATABASE "{name}"'],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        return None
    return admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    cases = [case for case in args.cases.split(",") if case]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; use {', '.join(CASES)}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        files = write_files(args.rows, folder, cases)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f}s")
        databases = {"sqlite": f"sqlite+aiosqlite:///{folder / 'bench.db'}"}
        pg = postgres_database(args.postgres)
        if pg:
            databases["postgresql"] = pg
        print(f"{'file':13} {'database':11} {'pyarrow s':>9} {'ingest s':>9} {'rows/s':>10} {'peak MiB':>9}")
        for kind, path in files.items():
            read = pyarrow_read_seconds(path)
            for name, url in databases.items():
                seconds, peak = ingest_in_child(path, url)
                print(
                    f"{kind:13} {name:11} {read:9.2f} {seconds:9.2f} {args.rows / seconds:10,.0f} {peak:9.0f}"
                )
        if pg:
            subprocess.run(  # noqa: S603
                ["psql", args.postgres, "-qc", f'DROP DATABASE "{pg.rsplit("/", 1)[1]}" WITH (FORCE)'],  # noqa: S607
                check=False,
            )
    print(f"(parent peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
