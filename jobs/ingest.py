"""Ingest: files -> connector batches -> roll-up -> one restatement-safe load per source.

Memory stays bounded by the roll-ups (days x dimension sets, resources per billing period), not
by the number of line items: each batch is rolled up as it is read and the partial roll-ups are
summed as they accumulate.
Nothing is written until every file of the source has been read without error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from sqlalchemy.ext.asyncio import AsyncEngine

from finops import connectors, normalise, sources
from finops.errors import UserError
from finops.normalise import RawTotal
from storage.costs import LoadResult, already_loaded, record_failed_run, replace_costs
from storage.db import unit_of_work

COMPACT_EVERY = 8  # partial roll-ups kept before they are summed into one

Progress = Callable[[str, int], None]  # (file location, rows read so far in it)


@dataclass(frozen=True)
class IngestResult:
    source: str
    format: str
    files: int
    rows_read: int
    load: LoadResult
    totals: list[RawTotal]


def _no_progress(_location: str, _rows: int) -> None:
    return None


@dataclass(frozen=True)
class Read:
    format: str  # the format(s) used, e.g. "focus"
    daily: pd.DataFrame  # cost_daily rows
    hourly: pd.DataFrame  # cost_hourly rows (empty for daily exports)
    resources: pd.DataFrame  # cost_resources rows (empty when no line item has a ResourceId)
    totals: list[RawTotal]
    rows: int  # line items read


def read_source(
    files: Sequence[sources.SourceFile],
    fmt: str,
    aliases: Mapping[str, Sequence[str]],
    progress: Progress = _no_progress,
) -> Read:
    """Read every file, rolling each batch up as it comes."""
    partials: list[pa.Table] = []
    hourly: list[pa.Table] = []
    resources: list[pa.Table] = []
    totals: list[RawTotal] = []
    rows = 0
    used = set()
    for remote in files:
        with remote.random_access() as file:
            named = file.format or (fmt if fmt != "auto" else None)  # an API answer knows its reader
            connector = (
                connectors.get(named) if named else connectors.detect(file, connectors.columns_of(file))
            )
            used.add(connector.name)
            read_in_file = 0
            for batch in connector.batches(file):
                daily, by_hour, by_resource = normalise.partials(batch, aliases)
                partials.append(daily)
                if by_hour is not None:
                    hourly.append(by_hour)
                if by_resource is not None:
                    resources.append(by_resource)
                totals = normalise.merge_totals([*totals, *normalise.raw_totals(batch)])
                read_in_file += batch.num_rows
                progress(file.location, read_in_file)
                if len(partials) >= COMPACT_EVERY:
                    partials = [normalise.combine(partials)]
                if len(hourly) >= COMPACT_EVERY:
                    hourly = [normalise.combine_hourly(hourly)]
                if len(resources) >= COMPACT_EVERY:
                    resources = [normalise.combine_resources(resources)]
        rows += read_in_file
    return Read(
        format="+".join(sorted(used)),
        daily=normalise.finish(normalise.combine(partials)) if partials else pd.DataFrame(),
        hourly=normalise.finish_hourly(normalise.combine_hourly(hourly)) if hourly else pd.DataFrame(),
        resources=(
            normalise.finish_resources(normalise.combine_resources(resources))
            if resources
            else pd.DataFrame()
        ),
        totals=totals,
        rows=rows,
    )


async def ingest(
    engine: AsyncEngine,
    location: str,
    *,
    fmt: str = "auto",
    aliases: Mapping[str, Sequence[str]] = normalise.DEFAULT_TAG_ALIASES,
    source: str | None = None,
    progress: Progress = _no_progress,
    s3_client: object | None = None,
    access: sources.Access | None = None,
    record_failures: bool = False,
) -> IngestResult:
    """Load everything under `location` as one source (default: `location` itself).

    Bad input raises `UserError` and writes no costs; with `record_failures` (scheduled runs) the
    failure is also kept in `ingestion_runs`, and the next run of the same files tries again.
    """
    if fmt != "auto":
        connectors.get(fmt)  # an unknown format fails before anything is read
    source = source or sources.source_name(location)
    fingerprint = ""
    try:
        # Hashing files, listing S3 and parsing are blocking: keep them off the event loop.
        files = await asyncio.to_thread(_files, location, s3_client, access)
        fingerprint = sources.fingerprint(files)
        return await _load(engine, files, location, source, fingerprint, fmt, aliases, progress)
    except UserError as exc:
        if record_failures:
            async with unit_of_work(engine) as session:
                await record_failed_run(
                    session,
                    source=source,
                    fmt=fmt,
                    fingerprint=fingerprint,
                    location=location,
                    error=str(exc),
                )
        raise


def _files(
    location: str, s3_client: object | None, access: sources.Access | None
) -> list[sources.SourceFile]:
    """The files of a source that are read: what is there (or what an API answered), less what
    a delivery manifest says is not current."""
    return connectors.select(sources.expand(location, s3_client, access))


async def _load(
    engine: AsyncEngine,
    files: Sequence[sources.SourceFile],
    location: str,
    source: str,
    fingerprint: str,
    fmt: str,
    aliases: Mapping[str, Sequence[str]],
    progress: Progress,
) -> IngestResult:
    async with unit_of_work(engine) as session:
        if await already_loaded(session, source, fingerprint):
            return IngestResult(source, fmt, len(files), 0, LoadResult(True, 0, 0, 0), [])
    read = await asyncio.to_thread(read_source, files, fmt, aliases, progress)
    async with unit_of_work(engine) as session:
        load = await replace_costs(
            session,
            source=source,
            fmt=read.format,
            fingerprint=fingerprint,
            location=location,
            daily=read.daily,
            hourly=read.hourly,
            resources=read.resources,
            raw=read.totals,
            arrived_at=sources.arrived(files),
        )
    return IngestResult(source, read.format, len(files), read.rows, load, read.totals)
