"""CLI sub-commands of `finops-bot`; each module has `register(app)`."""

from __future__ import annotations

import typer

from commands.cli import (
    budget,
    cost,
    db,
    demo,
    detect,
    forecast,
    ingest,
    jira,
    policy,
    reconcile,
    remediate,
    tags,
)


def register(app: typer.Typer) -> None:
    for module in (
        db,
        demo,
        ingest,
        reconcile,
        detect,
        forecast,
        cost,
        budget,
        jira,
        policy,
        tags,
        remediate,
    ):
        module.register(app)
