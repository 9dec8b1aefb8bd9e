"""Hourly detection end to end: an hourly FOCUS export in, `finops-bot detect --json` out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.cli_runner import RunCli
from tests.factories import item

MONDAY = datetime(2026, 10, 5, tzinfo=UTC)
EC2 = {"provider": "aws", "service": "Amazon EC2"}


def _export(path: Path, days: int, last_hour: int, spike_from: int) -> None:
    """Three services by the hour (EC2 for two teams); on the latest day, which has data up to
    `last_hour`, the data team's EC2 costs 60% more from `spike_from`."""
    rng = np.random.default_rng(1)
    rows = []
    for index in range(days * 24 + last_hour + 1):
        hour = MONDAY + timedelta(hours=index)
        busy = 2.0 if 8 <= hour.hour < 20 else 1.0
        for service, team, base in (
            ("Amazon EC2", "data", 40),
            ("Amazon EC2", "web", 30),
            ("Amazon S3", "web", 20),
        ):
            cost = base * busy * (1 + rng.normal(0, 0.03))
            if index >= days * 24 + spike_from and team == "data":
                cost *= 1.6
            rows.append(
                item(
                    hour.strftime("%Y-%m-%d %H:%M"),
                    f"{cost:.4f}",
                    service=service,
                    tags={"team": team},
                    hours=1,
                )
            )
    pq.write_table(pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False), path)


def _detect(cli: RunCli, day: str) -> dict[str, Any]:
    result = cli("detect", "--as-of", day, "--json")
    assert result.code == 0, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def test_hourly_export_spike_is_found_within_its_day_with_its_hours_and_cause(
    cli: RunCli, database_url: str, tmp_path: Path
) -> None:
    bill = tmp_path / "hourly.parquet"
    _export(bill, days=21, last_hour=15, spike_from=10)
    assert cli("ingest", str(bill), database_url=database_url).code == 0
    day = str((MONDAY + timedelta(days=21)).date())

    document = _detect(cli, day)
    [found] = document["anomalies"]  # provider, service and team views of one event: one anomaly
    assert found["scope"] == EC2
    assert (found["date"], found["hours"], found["new"]) == (day, {"first": 10, "last": 15}, True)
    assert found["root_cause"][0]["scope"] == {**EC2, "team": "data"}
    assert {"team": "data"} in [r["scope"] for r in found["related"]]
    impact = float(found["impact"])
    assert 6 * 0.6 * 80 * 0.8 < impact < 6 * 0.6 * 80 * 1.2  # six hours, +60% of about 80 each

    again = _detect(cli, day)  # the next scheduled run: the same anomaly, not a new one
    assert [(a["fingerprint"], a["new"]) for a in again["anomalies"]] == [(found["fingerprint"], False)]

    day_before = str((MONDAY + timedelta(days=20)).date())
    assert _detect(cli, day_before)["anomalies"] == []  # only hours up to the as-of day count


def test_hourly_text_output_names_the_hours(cli: RunCli, database_url: str, tmp_path: Path) -> None:
    bill = tmp_path / "hourly.parquet"
    _export(bill, days=21, last_hour=15, spike_from=10)
    assert cli("ingest", str(bill), database_url=database_url).code == 0
    result = cli("detect", "--as-of", str((MONDAY + timedelta(days=21)).date()))
    assert result.code == 0, result.err
    assert "2026-10-26 10:00-15:59 UTC" in result.out
