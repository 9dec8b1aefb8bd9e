"""`finops-bot remediate plan|apply|list|show`: savings turned into dry-run change plans, run only
after someone with the approver role (not the requester) approves them in Slack."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import web_client
from bot.errors import EXIT_CHECK_FAILED
from bot.outbound import outbound
from bot.settings import Settings, load_settings
from commands.cli.output import console, emit_json
from finops.errors import UserError
from jobs import remediate
from jobs.outbox import Delivered, deliver
from storage import actions
from storage.db import unit_of_work
from storage.migrate import migrated
from storage.models import Action, ActionStep

remediate_app = typer.Typer(
    help="Remediation: dry-run change plans from savings playbooks, executed only after approval in Slack.",
    no_args_is_help=True,
)
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


async def _deliver(engine: AsyncEngine, settings: Settings) -> Delivered | None:
    """Post what the outbox has for Slack now, when this machine has a Slack token; otherwise the
    running bot (same database) posts it."""
    if settings.slack_bot_token is None:
        return None
    senders, on_failure = outbound(settings, web_client(settings))
    return await deliver(engine, senders, on_failure)


def plan_json(action: Action, steps: Sequence[ActionStep]) -> dict[str, Any]:
    """The stable document of one plan (`plan --json`, `list --json`, `show --json`)."""
    by_change: dict[int, list[ActionStep]] = {}
    for step in steps:
        by_change.setdefault(step.change, []).append(step)
    changes = []
    for index, change in enumerate(action.plan.get("changes", [])):
        calls = [
            {"api": s.api, "params": s.call["params"], "status": s.status}
            | ({"result": s.result} if s.result else {})
            | ({"error": s.error} if s.error else {})
            for s in by_change.get(index, [])
        ]
        changes.append(
            {
                "resource_id": change["resource_id"],
                "resource_type": change["resource_type"],
                "region": change["region"],
                "api": calls[-1]["api"] if calls else None,
                "calls": calls,
                "saving_monthly": change["saving_monthly"],
                "saving_basis": change["saving_basis"],
                "risk": change["risk"],
                "risk_note": change["risk_note"],
                "facts": change["facts"],
            }
        )
    return {
        "id": action.id,
        "playbook": action.playbook,
        "title": action.plan.get("title"),
        "status": action.status,
        "saving_monthly": action.plan.get("saving_monthly"),
        "currency": action.currency,
        "changes": changes,
        "skipped": action.plan.get("skipped", []),
        "requested_by": action.requested_by,
        "decided_by": action.decided_by,
        "decision_reason": action.decision_reason,
        "created_at": action.created_at.isoformat(),
        "expires_at": action.expires_at.isoformat() if action.expires_at else None,
        "executed_at": action.executed_at.isoformat() if action.executed_at else None,
        "result": action.result,
        "slack": {"channel": action.slack_channel, "ts": action.slack_ts} if action.slack_ts else None,
    }


async def _documents(engine: AsyncEngine, ids: Sequence[int]) -> list[dict[str, Any]]:
    async with unit_of_work(engine) as session:
        found = []
        for action_id in ids:
            action = await session.get(Action, action_id)
            if action is not None:
                found.append(plan_json(action, await actions.steps(session, action_id)))
    return found


def _print_plan(doc: dict[str, Any]) -> None:
    saving = f"{doc['saving_monthly']} {doc['currency']} a month"
    console.print(
        f"[bold]Plan #{doc['id']}[/bold] {escape(doc['title'] or doc['playbook'])}: "
        f"{doc['status']}, saves {saving}"
    )
    for change in doc["changes"]:
        console.print(f"  {escape(_line(change, doc['currency']))}")
    for skipped in doc["skipped"]:
        console.print(
            f"  [dim]left alone: {escape(skipped['resource_id'])} ({skipped['region']}): "
            f"{escape(skipped['reason'])}[/dim]"
        )


def _line(change: dict[str, Any], currency: str) -> str:
    calls = " then ".join(
        c["api"] + (f" [{c['status']}]" if c["status"] != "pending" else "") for c in change["calls"]
    )
    saving = change["saving_monthly"]
    saves = f"saves {saving} {currency}/month" if saving is not None else "saving not priced"
    return f"{calls} on {change['resource_id']} ({change['region']}): {saves} ({change['saving_basis']})"


# ------------------------------------------------------------------------------------------ plan


def handle_plan(
    playbook: Annotated[
        list[str] | None,
        typer.Option("--playbook", help="A playbook to run (repeat for several); default all of them."),
    ] = None,
    requested_by: Annotated[
        str | None,
        typer.Option(
            "--requested-by",
            help="Who asks (your Slack user id, e.g. U0123ABC, so that you cannot approve it yourself); "
            "default cli:<your login>.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Find savings with the playbooks, prove each call with a dry run, store one plan per playbook
    (status proposed) and post it to Slack with Approve / Reject. Nothing is changed."""
    settings = load_settings()
    remediate.playbook_params(settings, playbook)  # bad names and settings: exit 2 before any AWS call
    who = requested_by or f"cli:{getpass.getuser()}"
    progress = None if as_json else (lambda text: console.print(f"[dim]{escape(text)}[/dim]"))
    proposals, docs, delivered = asyncio.run(_plan(settings, playbook, who, progress))
    if as_json:
        emit_json(docs)
        return
    for proposal in proposals:
        if proposal.action is None:
            gone = "".join(f" (plan #{old} superseded)" for old in proposal.superseded)
            console.print(f"{proposal.playbook}: nothing to change.{gone}")
            for skipped in proposal.skipped:
                console.print(
                    f"  [dim]left alone: {escape(skipped.resource_id)}: {escape(skipped.reason)}[/dim]"
                )
    for doc, proposal in zip(docs, [p for p in proposals if p.action is not None], strict=True):
        _print_plan(doc)
        if not proposal.created:
            console.print(f"  (unchanged: plan #{doc['id']} was already waiting for approval)")
        for old in proposal.superseded:
            console.print(f"  (supersedes plan #{old})")
    _say_where(settings, docs, delivered)


def _say_where(settings: Settings, docs: list[dict[str, Any]], delivered: Delivered | None) -> None:
    if not docs:
        return
    channel = remediate.channel_of(settings)
    if channel is None:
        console.print(
            "Not posted: no channel for approvals. Set `channel` under [remediation] (or `alerts` under "
            "[channels]) in the config; plans can be approved only in Slack."
        )
    elif delivered is None:
        console.print(
            f"To be posted to <#{channel}> for approval by the running bot (no SLACK_BOT_TOKEN here)."
        )
    elif delivered.failed:
        console.print(f"Posting to Slack failed for {len(delivered.failed)} message(s); the bot will retry.")
    else:
        console.print(f"Posted to <#{channel}> for approval.")


async def _plan(
    settings: Settings, playbooks: Sequence[str] | None, who: str, progress: Any
) -> tuple[list[remediate.Proposal], list[dict[str, Any]], Delivered | None]:
    async with migrated(settings.database_url) as engine:
        proposals = await remediate.propose(
            engine, settings, playbooks=playbooks, requested_by=who, progress=progress
        )
        ids = [p.action.id for p in proposals if p.action is not None]
        delivered = await _deliver(engine, settings)
        return proposals, await _documents(engine, ids), delivered


# ------------------------------------------------------------------------------------------ apply


def handle_apply(
    plan_id: Annotated[int, typer.Argument(metavar="ID", help="The plan's number (see `remediate list`).")],
    as_json: Json = False,
) -> None:
    """Execute an approved plan now (the bot does it by itself after the approval). Refused, with
    nothing touched, when the plan is not approved, expired, or execution is switched off."""
    settings = load_settings()
    try:
        doc, ran = asyncio.run(_apply(settings, plan_id))
    except remediate.NotRunnable as why:
        print(f"error: {why}", file=sys.stderr)
        raise typer.Exit(EXIT_CHECK_FAILED) from None
    if as_json:
        emit_json(doc)
    else:
        if not ran:
            console.print(f"Plan #{plan_id} was executed already; nothing was done now.")
        _print_plan(doc)
        if doc["result"]:
            console.print(remediate.summary_text(doc["result"], len(doc["changes"])))
    if doc["status"] in ("partial", "failed"):
        raise typer.Exit(EXIT_CHECK_FAILED)


async def _apply(settings: Settings, plan_id: int) -> tuple[dict[str, Any], bool]:
    async with migrated(settings.database_url) as engine:
        try:
            outcome = await remediate.execute(
                engine, settings, plan_id, actor=f"cli:{getpass.getuser()}", channel="cli"
            )
        finally:
            await _deliver(engine, settings)
        return (await _documents(engine, [plan_id]))[0], outcome.ran


# ------------------------------------------------------------------------------------------ list, show


def handle_list(
    status: Annotated[
        str | None, typer.Option("--status", help="Only plans in this state (proposed, approved, done…).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 20,
    as_json: Json = False,
) -> None:
    """The remediation plans, newest first."""
    settings = load_settings()
    docs = asyncio.run(_list(settings, status, limit))
    if as_json:
        emit_json(docs)
        return
    if not docs:
        console.print(
            "No remediation plans"
            + (f" {status}." if status else "; make one with `finops-bot remediate plan`.")
        )
    for doc in docs:
        console.print(
            f"#{doc['id']} {doc['playbook']}: {doc['status']}, {len(doc['changes'])} changes, "
            f"saves {doc['saving_monthly']} {doc['currency']} a month (requested by {doc['requested_by']}, "
            f"{doc['created_at'][:16].replace('T', ' ')} UTC)"
        )


async def _list(settings: Settings, status: str | None, limit: int) -> list[dict[str, Any]]:
    async with migrated(settings.database_url) as engine:
        async with unit_of_work(engine) as session:
            query = (
                select(Action.id)
                .where(Action.fingerprint.is_not(None))
                .order_by(Action.id.desc())
                .limit(limit)
            )
            if status:
                query = query.where(Action.status == status)
            ids = list(await session.scalars(query))
        return await _documents(engine, ids)


def handle_show(
    plan_id: Annotated[int, typer.Argument(metavar="ID", help="The plan's number.")],
    as_json: Json = False,
) -> None:
    """One plan: every change and call, with its outcome once executed."""
    settings = load_settings()
    docs = asyncio.run(_show(settings, plan_id))
    if not docs:
        raise UserError(f"There is no remediation plan #{plan_id}; `finops-bot remediate list` shows them.")
    if as_json:
        emit_json(docs[0])
    else:
        _print_plan(docs[0])


async def _show(settings: Settings, plan_id: int) -> list[dict[str, Any]]:
    async with migrated(settings.database_url) as engine:
        return await _documents(engine, [plan_id])


def register(app: typer.Typer) -> None:
    remediate_app.command("plan")(handle_plan)
    remediate_app.command("apply")(handle_apply)
    remediate_app.command("list")(handle_list)
    remediate_app.command("show")(handle_show)
    app.add_typer(remediate_app, name="remediate")
