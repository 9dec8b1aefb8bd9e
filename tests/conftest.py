"""Shared fixtures: a real database per test, on SQLite and (where there is one) PostgreSQL.

PostgreSQL is used when `FINOPS_TEST_POSTGRES_URL` is set (an admin URL, e.g.
postgresql://postgres@127.0.0.1:5432/postgres) or a server answers on 127.0.0.1:5432. Each test
gets a throw-away database that is dropped afterwards. With `FINOPS_REQUIRE_POSTGRES=1` (CI) a
missing server fails the run instead of skipping the PostgreSQL half.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import connect
from storage.migrate import upgrade
from tests.fakes.aws import CREDENTIALS, moto_server

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_admin_url() -> str | None:
    url = os.environ.get("FINOPS_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return DEFAULT_ADMIN_URL
    except OSError:
        return None


POSTGRES_ADMIN_URL = _postgres_admin_url()
REQUIRE_POSTGRES = os.environ.get("FINOPS_REQUIRE_POSTGRES") == "1"


def _plain(url: str) -> str:
    """asyncpg wants postgresql://, without SQLAlchemy's +driver."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_postgres_database() -> str:
    assert POSTGRES_ADMIN_URL is not None
    name = f"finops_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_plain(POSTGRES_ADMIN_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return (
        make_url(POSTGRES_ADMIN_URL)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )


async def drop_postgres_database(url: str) -> None:
    assert POSTGRES_ADMIN_URL is not None
    name = make_url(url).database
    admin = await asyncpg.connect(_plain(POSTGRES_ADMIN_URL))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _backend_params() -> list[object]:
    postgres_marks = [pytest.mark.postgres]
    if POSTGRES_ADMIN_URL is None and not REQUIRE_POSTGRES:
        postgres_marks.append(pytest.mark.skip(reason="no PostgreSQL (set FINOPS_TEST_POSTGRES_URL)"))
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=postgres_marks),
    ]


@pytest.fixture(params=_backend_params())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'finops.db'}"
        return
    if POSTGRES_ADMIN_URL is None:
        if not REQUIRE_POSTGRES:  # a test that picked PostgreSQL alone
            pytest.skip("no PostgreSQL (set FINOPS_TEST_POSTGRES_URL)")
        pytest.fail("FINOPS_REQUIRE_POSTGRES=1 but no PostgreSQL answers; set FINOPS_TEST_POSTGRES_URL")
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database (for what only PostgreSQL does: more than one replica)."""
    if POSTGRES_ADMIN_URL is None:
        if REQUIRE_POSTGRES:
            pytest.fail("FINOPS_REQUIRE_POSTGRES=1 but no PostgreSQL answers; set FINOPS_TEST_POSTGRES_URL")
        pytest.skip("no PostgreSQL (set FINOPS_TEST_POSTGRES_URL)")
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def empty_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = connect(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(empty_engine: AsyncEngine) -> AsyncEngine:
    """An engine on a database migrated to head."""
    await upgrade(empty_engine)
    return empty_engine


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No finops/Slack/Jira/GitHub variables from the shell (or a CI runner) leak into a test."""
    for name in list(os.environ):
        if name.startswith(("FINOPS_", "SLACK_", "JIRA_", "GITHUB_")) and name != "FINOPS_TEST_POSTGRES_URL":
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def aws(clean_env: pytest.MonkeyPatch) -> Iterator[str]:
    """A fake AWS (moto's server); boto3 clients made in the test reach it through the environment."""
    with moto_server() as endpoint:
        clean_env.setenv("AWS_ENDPOINT_URL", endpoint)
        for name, value in CREDENTIALS.items():
            clean_env.setenv(name, value)
        yield endpoint
