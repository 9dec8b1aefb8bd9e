"""A CLI runner: `main()` in-process with a clean environment, in a fresh working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.cli_runner import Run, RunCli


@pytest.fixture
def cli(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> RunCli:
    clean_env.chdir(tmp_path)

    def run(*args: str, database_url: str | None = None) -> Run:
        if database_url:
            clean_env.setenv("FINOPS_DATABASE_URL", database_url)
        code = 0
        try:
            main(list(args))
        except SystemExit as done:
            code = int(done.code or 0)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
