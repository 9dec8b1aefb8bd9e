"""Alembic environment for finops-bot.

`finops-bot db upgrade` passes an open connection in `config.attributes["connection"]`.
Run by hand, Alembic takes the URL from `-x url=...` or `sqlalchemy.url` in alembic.ini.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Column
from sqlalchemy.engine import Connection

from storage.db import connect
from storage.models import Base
from storage.partitions import is_partition

config = context.config
target_metadata = Base.metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # Monthly partitions of cost_daily are made by ingestion, not by migrations.
    if type_ == "table" and name and is_partition(name):
        return False
    table = getattr(obj, "table", None)
    return not (type_ == "index" and table is not None and is_partition(table.name))


def compare_type(
    ctx: Any, inspected_column: Any, metadata_column: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    # Money and UTCDateTime are TypeDecorators: compare what they are on this dialect.
    impl = getattr(metadata_type, "load_dialect_impl", None)
    if impl is not None:
        dialect_type = metadata_type.load_dialect_impl(ctx.dialect)
        return bool(ctx.impl.compare_type(inspected_column, Column(metadata_column.name, dialect_type)))
    return None


def do_run_migrations(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # SQLite alters a table by copying and dropping it: with foreign keys on, dropping
        # ingestion_runs would cascade to cost_daily. PRAGMA works here, before the first write.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=compare_type,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(url: str) -> None:
    engine = connect(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("error: give a database URL with `alembic -x url=...`")
    asyncio.run(run_async_migrations(url))


if context.is_offline_mode():
    raise SystemExit("error: offline (--sql) migrations are not supported; run `finops-bot db upgrade`")
run_migrations_online()
