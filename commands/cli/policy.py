"""`finops-bot policy check PLAN.json...`: the PR gate over Terraform plans.

Exit 0 when the plans pass, 1 when a rule is broken, 2 when a plan or the policy cannot be read.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import DBAPIError

from bot.errors import EXIT_CHECK_FAILED
from bot.github import GitHub, pull_request_number
from bot.settings import Settings, load_settings
from commands import policy as shown
from commands.cli.output import emit_json
from finops.budgets import Rates
from finops.errors import UserError
from finops.policy import infracost, plan, prices, spec
from finops.policy.check import check
from finops.policy.costs import BudgetRoom, Pricer, table_pricer
from finops.policy.findings import Verdict
from storage import budgets
from storage.db import connect, unit_of_work

policy_app = typer.Typer(help="Policy checks of Terraform plans (the PR gate).", no_args_is_help=True)


class Format(StrEnum):
    text = "text"
    json = "json"
    github = "github"


@policy_app.command("check")
def handle_check(
    plans: Annotated[
        list[Path], typer.Argument(help="`terraform show -json PLANFILE` output, one or more files.")
    ],
    policy_file: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="The YAML policy; default [policies] in FINOPS_CONFIG, else ./finops-policy.yml.",
        ),
    ] = None,
    output: Annotated[
        Format, typer.Option("--format", help="text, json, or github (annotations).")
    ] = Format.text,
    infracost_file: Annotated[
        Path | None,
        typer.Option("--infracost", help="Infracost JSON (breakdown or diff) to price the plan instead."),
    ] = None,
    comment: Annotated[
        bool,
        typer.Option("--comment", help="Post or update the pull request comment (needs GITHUB_TOKEN)."),
    ] = False,
    pr: Annotated[
        int | None, typer.Option("--pr", help="The pull request number; default from GITHUB_EVENT_PATH.")
    ] = None,
) -> None:
    """Check Terraform plans against the tag and cost policy; exit 1 when a rule is broken."""
    settings = load_settings()
    policy = _policy(policy_file, settings)
    read = [plan.read(path) for path in plans]
    pricer, source = _pricer(policy, infracost_file)
    rooms = asyncio.run(_rooms(settings, policy)) if policy.cost.budgets and settings.has_database else None
    aliases = settings.tag_aliases.model_dump()
    verdict = check(read, policy, pricer, source, rooms, aliases)
    if output is Format.json:
        emit_json(shown.document(verdict))
    elif output is Format.github:
        sys.stdout.write(shown.workflow_commands(verdict))
    else:
        sys.stdout.write(shown.text(verdict))
    if output is Format.github and settings.github_step_summary:
        with settings.github_step_summary.open("a", encoding="utf-8") as summary:
            summary.write(shown.markdown(verdict) + "\n")
    if comment:
        _comment(settings, verdict, pr)
    if not verdict.passed:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _policy(path: Path | None, settings: Settings) -> spec.Policy:
    found = spec.resolve(path, settings.policies, settings.config_file)
    if found is None:
        raise UserError(
            "no policy: pass --policy FILE, put finops-policy.yml in the working directory, "
            "or add a [policies] section to FINOPS_CONFIG (see the README's policy example)"
        )
    return found


def _pricer(policy: spec.Policy, infracost_file: Path | None) -> tuple[Pricer, str]:
    if infracost_file is not None:
        costs = infracost.read(infracost_file)
        if costs.currency != policy.cost.currency:
            raise UserError(
                f"{infracost_file} is priced in {costs.currency} but the policy's cost.currency is "
                f"{policy.cost.currency}: run Infracost with the same currency or set cost.currency"
            )
        return (lambda change: costs.change(change.address, change.type)), f"Infracost ({infracost_file})"
    table = prices.load_table(policy.cost.prices)
    if table.currency != policy.cost.currency:
        raise UserError(
            f"the price table is in {table.currency} but the policy's cost.currency is "
            f"{policy.cost.currency}: give cost.max_monthly_increase in {table.currency}, "
            f"or a price table (cost.prices) in {policy.cost.currency}"
        )
    return table_pricer(table), f"price table {table.version}"


async def _rooms(settings: Settings, policy: spec.Policy) -> list[BudgetRoom]:
    """Where each budget stands today (none when the database has no budgets table yet)."""
    today = datetime.now(UTC).date()
    engine = connect(settings.database_url)
    rooms = []
    try:
        async with unit_of_work(engine) as session:
            found = await budgets.list_budgets(session)
            rates = Rates(settings.rate_table())
            for budget in found:
                answer = await budgets.standing(session, budget, today, settings.rate_table())
                s = answer.status
                rate = (
                    Decimal(1)
                    if budget.currency == policy.cost.currency
                    else (rates.rate(policy.cost.currency, budget.currency, s.as_of) or (None, None))[0]
                )
                expected = s.forecast if s.forecast is not None else s.spent
                rooms.append(
                    BudgetRoom(
                        budget.name,
                        budget.scope,
                        budget.currency,
                        s.amount,
                        expected,
                        s.end,
                        s.days_left,
                        rate,
                    )
                )
    except DBAPIError:
        return []  # not migrated (`finops-bot db upgrade`): no budgets to check against
    finally:
        await engine.dispose()
    return rooms


def _comment(settings: Settings, verdict: Verdict, pr: int | None) -> None:
    """Post or update the pull request comment; skipped with a note when GitHub is not set up,
    and a failure to post never changes the verdict."""
    number = pr or pull_request_number(settings.github_event_path)
    missing = [
        name
        for name, value in (
            ("GITHUB_TOKEN", settings.github_token),
            ("GITHUB_REPOSITORY", settings.github_repository),
            ("a pull request (--pr N, or a pull_request event)", number),
        )
        if not value
    ]
    if missing:
        print(f"note: pull request comment skipped: no {', '.join(missing)}", file=sys.stderr)
        return
    assert settings.github_token is not None and settings.github_repository and number
    github = GitHub(
        settings.github_api_url, settings.github_token.get_secret_value(), settings.github_repository
    )
    try:
        done = github.upsert_comment(number, shown.MARKER, shown.markdown(verdict))
    except UserError as exc:
        print(f"warning: pull request comment not posted: {exc}", file=sys.stderr)
        return
    print(f"note: pull request #{number} comment {done}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
