"""`finops-bot ingest PATH_OR_URI...`: load billing exports into the cost store."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from bot.settings import Settings, load_settings
from commands.cli.output import console, emit_json, money
from finops import connectors
from jobs.ingest import IngestResult, ingest
from storage.db import connect
from storage.migrate import upgrade


def handle_ingest(
    locations: Annotated[
        list[str],
        typer.Argument(
            help="Files, folders, s3://bucket/prefix URIs, or a provider's API: aws-ce://, azure://SCOPE, "
            "bigquery://PROJECT.DATASET.TABLE."
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"auto (detect from the header or the location) or one of: {', '.join(connectors.names())}.",
        ),
    ] = "auto",
    source: Annotated[
        str | None, typer.Option(help="Name the source (default: the path or URI as given).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Read billing exports and store them rolled up by day; a re-delivered period replaces the old one."""
    if fmt != "auto":
        connectors.get(fmt)
    if source and len(locations) > 1:
        raise typer.BadParameter("--source names one source; give one PATH_OR_URI with it")
    settings = load_settings()
    results = asyncio.run(_run(settings, locations, fmt, source, show_progress=not as_json))
    if as_json:
        emit_json([_document(result) for result in results])
        return
    for result in results:
        _print(result)


async def _run(
    settings: Settings, locations: list[str], fmt: str, source: str | None, show_progress: bool
) -> list[IngestResult]:
    engine = connect(settings.database_url)
    aliases = settings.tag_aliases.model_dump()
    try:
        await upgrade(engine)
        results = []
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not (show_progress and console.is_terminal),
        ) as bar:
            for location in locations:
                task = bar.add_task(location, total=None)

                def progress(file: str, rows: int, task: TaskID = task) -> None:
                    bar.update(task, description=file, completed=rows)

                results.append(
                    await ingest(
                        engine,
                        location,
                        fmt=fmt,
                        aliases=aliases,
                        source=source,
                        progress=progress,
                        access=settings.api_access(),
                    )
                )
        return results
    finally:
        await engine.dispose()


def _document(result: IngestResult) -> dict[str, object]:
    return {
        "source": result.source,
        "format": result.format,
        "files": result.files,
        "rows_read": result.rows_read,
        "skipped": result.load.skipped,
        "rows_stored": result.load.rows_stored,
        "rows_replaced": result.load.rows_replaced,
        "periods": [
            {
                "provider": t.provider,
                "billing_account": t.billing_account,
                "period": f"{t.billing_period_start:%Y-%m}",
                "currency": t.currency,
                "rows": t.rows,
                "billed_cost": t.billed_cost,
            }
            for t in result.totals
        ],
    }


def _print(result: IngestResult) -> None:
    if result.load.skipped:
        console.print(f"{result.source}: already loaded, nothing changed")
        return
    console.print(
        f"{result.source}: {result.files} file(s), {result.rows_read:,} line items ({result.format}) -> "
        f"{result.load.rows_stored:,} daily rows"
        + (f", replacing {result.load.rows_replaced:,}" if result.load.rows_replaced else "")
    )
    for t in result.totals:
        console.print(
            f"  {t.provider} {t.billing_account} {t.billing_period_start:%Y-%m}: "
            f"{money(t.billed_cost, t.currency)} billed in {t.rows:,} line items"
        )


def register(app: typer.Typer) -> None:
    app.command("ingest")(handle_ingest)
