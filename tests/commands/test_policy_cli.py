"""`finops-bot policy check`: verdicts and exit codes, the three formats, the job summary, the pull
request comment (a fake GitHub), Infracost pricing and budget headroom (both databases)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_runner import RunCli
from tests.factories import item, store
from tests.fakes.github import TOKEN, fake_github

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "policy"
PLANS = FIXTURES / "plans"
POLICY = str(FIXTURES / "policy.yml")


def check(cli: RunCli, *args: str) -> Any:
    return cli("policy", "check", *args)


def document(cli: RunCli, *args: str) -> tuple[int, dict[str, Any]]:
    run = check(cli, *args, "--policy", POLICY, "--format", "json")
    return run.code, json.loads(run.out)


def test_a_passing_plan_exits_0(cli: RunCli) -> None:
    run = check(cli, str(PLANS / "passing.json"), "--policy", POLICY)
    assert run.code == 0, run.err
    assert "policy check passed" in run.out and "no findings" in run.out
    assert "Monthly cost (price table" in run.out


@pytest.mark.parametrize(
    ("plan", "said"),
    [
        ("format_0_1.json", "aws_instance.worker (create): missing required tag `cost-center`"),
        ("asg.json", "aws_autoscaling_group.workers (create): missing required tag `cost-center`"),
        (
            "gcp_labels.json",
            "google_compute_instance.bastion (create): missing required tags `owner`, `cost-center`",
        ),
        ("update_replace.json", "aws_db_instance.main (replace): environment=`production` is not allowed"),
    ],
)
def test_violations_exit_1_with_their_message(cli: RunCli, plan: str, said: str) -> None:
    run = check(cli, str(PLANS / plan), "--policy", POLICY)
    assert run.code == 1
    assert "policy check FAILED" in run.out and said in run.out


def test_unknown_tags_warn_but_pass(cli: RunCli) -> None:
    run = check(cli, str(PLANS / "unknown_tags.json"), "--policy", POLICY)
    assert run.code == 0
    assert "! warning: aws_ebs_volume.scratch (create): cannot tell before apply" in run.out


def test_an_untagged_expensive_instance_breaks_both_rules(cli: RunCli) -> None:
    code, found = document(cli, str(PLANS / "untagged_expensive.json"))
    assert code == 1 and found["passed"] is False
    assert [f["rule"] for f in found["findings"]] == ["tags.required", "cost.max_monthly_increase"]
    (change,) = found["cost"]["changes"]
    monthly = Decimal(change["monthly"])
    assert monthly > 500 and change["action"] == "create" and "p3.2xlarge" in change["basis"]
    assert found["cost"]["monthly_increase"] == change["monthly"]
    assert "over the limit of 500.00 USD/month" in found["findings"][1]["message"]


def test_json_adds_updates_replaces_and_deletes(cli: RunCli) -> None:
    _, found = document(cli, str(PLANS / "update_replace.json"))
    by = {c["address"]: c for c in found["cost"]["changes"]}
    assert set(by) == {"aws_instance.app", "aws_db_instance.main", "aws_instance.retired"}  # no-op left out
    assert Decimal(by["aws_instance.app"]["monthly"]) > 0  # m5.large -> m5.2xlarge
    assert Decimal(by["aws_instance.retired"]["monthly"]) < 0  # a delete takes its price off
    known = [Decimal(c["monthly"]) for c in by.values() if c["monthly"] is not None]
    assert Decimal(found["cost"]["monthly_increase"]) == sum(known)
    assert found["summary"] == {"error": 2, "warning": 0, "notice": 0, "checked": 2, "exempt": 0}


def test_unknown_prices_are_unknown_never_zero(cli: RunCli) -> None:
    _, found = document(cli, str(PLANS / "asg.json"))
    assert found["cost"]["unpriced"] == 2
    assert all(c["monthly"] is None for c in found["cost"]["changes"])
    assert any(f["rule"] == "cost.unknown" for f in found["findings"])


def test_several_plans_are_checked_together(cli: RunCli) -> None:
    code, found = document(cli, str(PLANS / "passing.json"), str(PLANS / "format_0_1.json"))
    assert code == 1 and len(found["plans"]) == 2
    assert [f["plan"] for f in found["findings"]] == [str(PLANS / "format_0_1.json")]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((str(PLANS / "format_2.json"), "--policy", POLICY), "format_version 2.0 is not supported"),
        ((str(PLANS / "state.json"), "--policy", POLICY), "looks like a state"),
        ((str(PLANS / "missing.json"), "--policy", POLICY), "missing.json: no such file"),
        ((str(PLANS / "passing.json"),), "no policy: pass --policy FILE"),
        ((str(PLANS / "passing.json"), "--policy", str(PLANS / "passing.json")), "unknown key"),
        ((str(PLANS / "passing.json"), "--policy", POLICY, "--format", "xml"), "--format"),
    ],
)
def test_bad_input_exits_2(cli: RunCli, args: tuple[str, ...], said: str) -> None:
    run = check(cli, *args)
    assert run.code == 2, run.out + run.err
    assert run.err.startswith("error:") and said in run.err
    assert run.out == ""


def test_the_policy_is_found_in_the_working_directory_or_the_config(
    cli: RunCli, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    (tmp_path / "finops-policy.yml").write_text("tags: {required: [team]}\n")
    run = check(cli, str(PLANS / "passing.json"))
    assert run.code == 1 and "missing required tag `team`" in run.out
    config = tmp_path / "finops.toml"
    config.write_text('[policies]\nfile = "other.yml"\n')
    (tmp_path / "other.yml").write_text("tags: {required: [owner]}\n")
    clean_env.setenv("FINOPS_CONFIG", str(config))
    assert check(cli, str(PLANS / "passing.json")).code == 0


def many_untagged(tmp_path: Path, count: int) -> Path:
    plan = json.loads((PLANS / "untagged_expensive.json").read_text())
    first = plan["resource_changes"][0]
    plan["resource_changes"] = []
    for n in range(count):
        one = copy.deepcopy(first)
        one["address"] = f"aws_instance.training[{n}]"
        one["change"]["after"]["instance_type"] = "t3.micro"
        plan["resource_changes"].append(one)
    path = tmp_path / "many.json"
    path.write_text(json.dumps(plan))
    return path


def test_github_format_gives_at_most_10_annotations_then_a_summary(
    cli: RunCli, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    clean_env.setenv("GITHUB_STEP_SUMMARY", str(summary))
    plan = many_untagged(tmp_path, 12)
    run = check(cli, str(plan), "--policy", POLICY, "--format", "github")
    assert run.code == 1
    lines = run.out.splitlines()
    assert len(lines) == 11
    assert all(line.startswith(f"::error file={plan},title=Missing required tags::") for line in lines[:10])
    assert lines[10].startswith("::error title=finops-bot policy check::policy check FAILED")
    assert "12 errors" in lines[10] and "2 more not shown as annotations" in lines[10]
    report = summary.read_text()
    assert report.startswith("<!-- finops-bot:policy-check -->")
    assert report.count("| ❌ | `tags.required` |") == 12  # the summary has them all


def test_annotation_text_is_escaped(cli: RunCli, tmp_path: Path) -> None:
    policy = tmp_path / "p.yml"
    policy.write_text("tags:\n  required: [owner]\n  allowed: {Name: ['a,b']}\n")
    plan = json.loads((PLANS / "passing.json").read_text())
    plan["resource_changes"][0]["change"]["after"]["tags_all"]["Name"] = "50%\nnew"
    path = tmp_path / "p,lan.json"
    path.write_text(json.dumps(plan))
    run = check(cli, str(path), "--policy", str(policy), "--format", "github")
    first = run.out.splitlines()[0]
    assert first.startswith(f"::error file={tmp_path}/p%2Clan.json,title=Tag value not allowed::")
    assert "Name=`50%25%0Anew`" in first


def test_the_pull_request_comment_is_created_then_updated_in_place(
    cli: RunCli, tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    with fake_github() as github:
        for n in range(105):  # our comment ends up on the second page
            github.add(7, f"review comment {n}")
        for name, value in {
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": github.url,
            "GITHUB_REPOSITORY": "acme/infra",
            "GITHUB_EVENT_PATH": str(event),
        }.items():
            clean_env.setenv(name, value)
        first = check(cli, str(PLANS / "format_0_1.json"), "--policy", POLICY, "--comment")
        again = check(cli, str(PLANS / "format_0_1.json"), "--policy", POLICY, "--comment")
        fixed = check(cli, str(PLANS / "passing.json"), "--policy", POLICY, "--comment")
    assert (first.code, again.code, fixed.code) == (1, 1, 0)
    assert (
        "comment created" in first.err and "comment unchanged" in again.err and "comment updated" in fixed.err
    )
    ours = [c for c in github.comments[7] if "finops-bot:policy-check" in c["body"]]
    assert len(ours) == 1 and len(github.comments[7]) == 106
    assert "✅ finops-bot policy check" in ours[0]["body"]
    assert ("PATCH", f"/repos/acme/infra/issues/comments/{ours[0]['id']}") in github.requests


def test_the_comment_is_retried_on_5xx_and_a_refusal_does_not_change_the_verdict(
    cli: RunCli, clean_env: pytest.MonkeyPatch
) -> None:
    with fake_github() as github:
        clean_env.setenv("GITHUB_API_URL", github.url)
        clean_env.setenv("GITHUB_REPOSITORY", "acme/infra")
        clean_env.setenv("GITHUB_TOKEN", TOKEN)
        github.fail_next = [502]
        assert check(cli, str(PLANS / "passing.json"), "--policy", POLICY, "--comment", "--pr", "3").code == 0
        assert len(github.comments[3]) == 1
        clean_env.setenv("GITHUB_TOKEN", "wrong")
        refused = check(cli, str(PLANS / "format_0_1.json"), "--policy", POLICY, "--comment", "--pr", "3")
    assert refused.code == 1
    assert "warning: pull request comment not posted: GitHub answered 401" in refused.err
    assert "wrong" not in refused.err + refused.out


def test_without_a_token_the_comment_is_skipped_cleanly(cli: RunCli) -> None:
    run = check(cli, str(PLANS / "passing.json"), "--policy", POLICY, "--comment")
    assert run.code == 0
    assert "note: pull request comment skipped: no GITHUB_TOKEN, GITHUB_REPOSITORY, a pull request" in run.err


def test_infracost_prices_the_plan_instead(cli: RunCli, tmp_path: Path) -> None:
    breakdown = {
        "version": "0.2",
        "currency": "USD",
        "projects": [
            {
                "name": "infra",
                "breakdown": {
                    "resources": [{"name": "aws_instance.training", "monthlyCost": "612.5"}],
                    "totalMonthlyCost": "612.5",
                },
                "pastBreakdown": {"resources": [], "totalMonthlyCost": "0"},
                "diff": {
                    "resources": [{"name": "aws_instance.training", "monthlyCost": "612.5"}],
                    "totalMonthlyCost": "612.5",
                },
            }
        ],
        "summary": {},
    }
    path = tmp_path / "infracost.json"
    path.write_text(json.dumps(breakdown))
    code, found = document(cli, str(PLANS / "untagged_expensive.json"), "--infracost", str(path))
    assert code == 1
    assert found["cost"]["source"] == f"Infracost ({path})"
    assert found["cost"]["monthly_increase"] == "612.5"
    breakdown["currency"] = "EUR"
    path.write_text(json.dumps(breakdown))
    run = check(cli, str(PLANS / "untagged_expensive.json"), "--policy", POLICY, "--infracost", str(path))
    assert run.code == 2 and "priced in EUR but the policy's cost.currency is USD" in run.err


@pytest.fixture
def budgets(database_url: str, clean_env: pytest.MonkeyPatch, cli: RunCli) -> str:
    """This month: team payments spent 1,100 USD of a 1,000 USD budget; team search 10 of 100,000."""
    today = datetime.now(UTC).date()
    items = [
        item(today.isoformat(), "1100.00", tags={"team": "payments"}),
        item(today.isoformat(), "10.00", tags={"team": "search"}),
    ]
    store(database_url, *items)
    clean_env.setenv("FINOPS_DATABASE_URL", database_url)
    for name, amount, team in (("payments", "1000", "payments"), ("search", "100000", "search")):
        made = cli("budget", "set", name, "--amount", amount, "--scope", f"team={team}")
        assert made.code == 0, made.err
    return database_url


def team_plan(tmp_path: Path, team: str) -> Path:
    plan = json.loads((PLANS / "passing.json").read_text())
    plan["resource_changes"][0]["change"]["after"]["tags_all"]["team"] = team
    path = tmp_path / f"{team}.json"
    path.write_text(json.dumps(plan))
    return path


def test_the_increase_must_fit_the_matching_budget(cli: RunCli, budgets: str, tmp_path: Path) -> None:
    code, found = document(cli, str(team_plan(tmp_path, "payments")))
    assert code == 1
    (over,) = [f for f in found["findings"] if f["rule"] == "cost.budget"]
    assert over["severity"] == "error"
    assert "budget `payments` (team=payments) has -100.00 USD left of 1,000.00 USD" in over["message"]
    code, found = document(cli, str(team_plan(tmp_path, "search")))
    assert code == 0
    (fits,) = [f for f in found["findings"] if f["rule"] == "cost.budget"]
    assert fits["severity"] == "notice" and "budget `search`" in fits["message"]
    assert found["notes"] == []


def test_without_a_database_budgets_are_not_checked_and_that_is_said(cli: RunCli) -> None:
    _, found = document(cli, str(PLANS / "passing.json"))
    assert found["notes"] == ["budget headroom not checked: no database configured (set FINOPS_DATABASE_URL)"]


def test_the_action_and_the_pre_commit_hook_run_the_check(tmp_path: Path) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    step = action["runs"]["steps"][-1]
    bin_dir = Path(sys.executable).parent  # where finops-bot is installed
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PLANS": f"{PLANS / 'passing.json'} {PLANS / 'format_0_1.json'}",
        "POLICY": POLICY,
        "INFRACOST": "",
        "COMMENT": "false",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", "-c", step["run"]], env=env, capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(f"::error file={PLANS / 'format_0_1.json'},title=Missing required tags::")
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "finops-bot policy check" and hook["pass_filenames"] is True
    assert re.search(hook["files"], "infra/prod.tfplan.json") and not re.search(hook["files"], "package.json")


def test_a_database_without_budgets_is_said_and_left_unchanged(cli: RunCli, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    run = cli(
        "policy",
        "check",
        str(PLANS / "passing.json"),
        "--policy",
        POLICY,
        "--format",
        "json",
        database_url=url,
    )
    assert run.code == 0, run.err
    assert json.loads(run.out)["notes"] == ["budget headroom not checked: no budgets are defined"]
