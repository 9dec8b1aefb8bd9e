"""Engines, sessions and the unit of work.

`connect(url)` gives an `AsyncEngine` with the settings every caller needs (SQLite foreign keys,
WAL and a busy timeout); `unit_of_work(engine)` is the one way to change state: one transaction,
committed on success, rolled back on any error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from finops.errors import UserError

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def normalise_url(url: str) -> URL:
    """The async form of a database URL (`sqlite:///x.db` -> `sqlite+aiosqlite:///x.db`).

    Raises `UserError` for a URL that is not SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(
            f"FINOPS_DATABASE_URL {url!r} is not a database URL; "
            "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ASYNC_DRIVERS:
        raise UserError(
            f"FINOPS_DATABASE_URL uses {backend!r}; finops-bot supports SQLite "
            "(sqlite+aiosqlite:///PATH) and PostgreSQL (postgresql+asyncpg://USER@HOST/DB)"
        )
    return parsed.set(drivername=ASYNC_DRIVERS[backend])


def describe(url: URL) -> str:
    """The URL for messages and logs, password hidden."""
    return url.render_as_string(hide_password=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def connect(url: str | URL) -> AsyncEngine:
    """An engine for `url` (normalised to its async driver)."""
    parsed = normalise_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, poolclass=NullPool)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    return create_async_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    async with sessions(engine)() as session, session.begin():
        yield session


async def check(engine: AsyncEngine) -> None:
    """Open the database and read from it; a clear `UserError` if that is not possible."""
    where = describe(engine.url)
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                result = (await conn.execute(text("PRAGMA quick_check"))).scalar()
                if result != "ok":
                    raise UserError(
                        f"the SQLite database {where} is damaged (quick_check: {result}); "
                        "restore it from a backup or move it away and run `finops-bot demo` "
                        "or `finops-bot db upgrade` to start a new one"
                    )
            else:
                await conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError, OSError) as exc:
        raise UserError(explain_connection_error(where, engine.dialect.name, exc)) from exc


def explain_connection_error(where: str, dialect: str, exc: BaseException) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if dialect == "sqlite":
        if "not a database" in detail or "malformed" in detail:
            return (
                f"{where} is not a readable SQLite database ({detail}); "
                "move the file away (or set FINOPS_DATABASE_URL to another path) and run the command again"
            )
        return f"cannot open the SQLite database {where} ({detail}); check the path and its permissions"
    return (
        f"cannot connect to {where} ({detail}); check that the server is running "
        "and FINOPS_DATABASE_URL is right"
    )
