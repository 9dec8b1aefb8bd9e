"""The one place errors become messages.

A `UserError` is shown as it is (it says what to do next). Anything else is logged with its
traceback and the person gets a short apology with a reference id to find it in the log.
"""

from __future__ import annotations

import sys
import uuid

import structlog

from finops.errors import UserError

__all__ = ["EXIT_BAD_INPUT", "EXIT_CHECK_FAILED", "UserError", "apology", "report_cli"]

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

log = structlog.get_logger(__name__)


def apology(exc: BaseException) -> str:
    """Log `exc` with a fresh reference id; the message for the person."""
    reference = uuid.uuid4().hex[:8]
    log.error("unexpected error", reference=reference, exc_info=exc)
    return f"something went wrong on our side (reference {reference}); the details are in the bot's log"


def report_cli(exc: BaseException) -> int:
    """Print `exc` for a CLI user on stderr and return the exit code."""
    if isinstance(exc, UserError):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"error: {apology(exc)}", file=sys.stderr)
    return EXIT_CHECK_FAILED
