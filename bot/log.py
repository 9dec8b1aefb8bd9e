"""Logging: structlog on top of the standard library, to stderr.

Console lines on a terminal, JSON lines otherwise (`FINOPS_LOG_FORMAT` overrides). Secrets never
reach a line (`redact_secrets`), and every line carries the ids bound around the work it belongs to:

    with bound(job=name, job_id=new_id()):   # a scheduled job run
        await run()

Every line logged inside the block, by structlog or by a standard library logger, in this task or
in tasks it starts, carries `job` and `job_id`. Slack requests get a `request_id` the same way
(bot/app.py binds it around each dispatch).
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

QUIET_LOGGERS = ("alembic", "sqlalchemy", "asyncio", "botocore", "urllib3", "apscheduler")
REDACTED = "[redacted]"
# A key naming a secret: its value is never logged, whatever it is.
SECRET_KEY = re.compile(
    r"token|secret|passw|authorization|api_?key|signature|cookie|credential|private_key|(?:^|_)auth$",
    re.IGNORECASE,
)
# A secret inside any text: Slack tokens (xoxb-, xoxp-, xoxe.xoxp-, xapp- ...) and bearer headers.
SECRET_TEXT = re.compile(r"\b(?:xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]+|\b[Bb]earer\s+[\w.~+/-]{8,}=*")
UNTOUCHED = ("exc_info",)  # format_exc_info needs the exception itself; its text is redacted after


def new_id() -> str:
    """A short random id (12 hex digits) for a request or a job run."""
    return secrets.token_hex(6)


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Put `ids` on every log line of the block (and of tasks started in it); the values bound
    before are restored on leaving it. Works across `await`: the ids live in contextvars."""
    with structlog.contextvars.bound_contextvars(**ids):
        yield


def _scrub(value: Any) -> Any:
    """`value` with every secret-looking text replaced, at any depth."""
    if isinstance(value, str):
        return SECRET_TEXT.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if _secret_key(k, v) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_scrub(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = repr(value)  # what the renderers show of other objects
    return SECRET_TEXT.sub(REDACTED, text) if SECRET_TEXT.search(text) else value


def _secret_key(key: Any, value: Any) -> bool:
    return isinstance(key, str) and bool(SECRET_KEY.search(key)) and not isinstance(value, bool | None)


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: values of secret-named keys and secrets inside any value become
    `[redacted]`. Keys starting with "_" (structlog's own) and `exc_info` are left as they are."""
    for key, value in event_dict.items():
        if key.startswith("_") or key in UNTOUCHED:
            continue
        event_dict[key] = REDACTED if _secret_key(key, value) else _scrub(value)
    return event_dict


def configure(level: str = "INFO", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,  # before the record leaves structlog, for any other handler too
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_secrets,  # again, for the traceback text format_exc_info just wrote
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
