"""`finops-bot`: the command line. Sub-commands live in commands.cli; this is the entry point."""

from __future__ import annotations

import sys

import typer

from bot import log, runtime
from bot.errors import EXIT_BAD_INPUT, report_cli
from commands import cli as cli_commands

app = typer.Typer(
    name="finops-bot",
    help="Self-hosted FinOps ChatOps bot: cloud costs, anomalies, budgets and approvals in Slack and Jira.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli_commands.register(app)
runtime.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exit 0 on success, 1 when a check failed, 2 on bad input or usage."""
    log.configure("WARNING")
    try:
        # Without standalone mode click returns the code of a `typer.Exit` instead of exiting.
        code = app(args=argv, prog_name="finops-bot", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as usage:  # typer's click: usage errors and bad parameters
        ctx = getattr(usage, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = usage.format_message() if hasattr(usage, "format_message") else str(usage)
        print(f"error: {message}{hint}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:
        sys.exit(report_cli(exc))
