"""`finops-bot remediate plan|apply|list|show` against moto's server: the plan document, apply
refused (exit 1, nothing touched) until someone else approves, then executed once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from storage import actions
from storage.db import connect, unit_of_work
from tests import aws_seed
from tests.cli_runner import RunCli

EIPS = "release-unassociated-eips"


def _config(tmp_path: Path, clean_env: pytest.MonkeyPatch, extra: str = "") -> None:
    path = tmp_path / "finops.toml"
    path.write_text(f'[remediation]\nchannel = "C0REMEDY"\nregions = ["us-east-1"]\n{extra}')
    clean_env.setenv("FINOPS_CONFIG", str(path))


def _approve(database_url: str, action_id: int, by: str = "U0ADMIN") -> None:
    async def run() -> None:
        engine = connect(database_url)
        try:
            async with unit_of_work(engine) as session:
                assert await actions.decide(session, action_id, "approved", by)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _plan(cli: RunCli, database_url: str, *args: str) -> list[dict[str, Any]]:
    result = cli("remediate", "plan", "--playbook", EIPS, "--json", *args, database_url=database_url)
    assert result.code == 0, result.err
    plans: list[dict[str, Any]] = json.loads(result.out)
    return plans


def test_plan_apply_refused_until_approved_then_run_once(
    cli: RunCli, database_url: str, aws: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _config(tmp_path, clean_env)
    address = aws_seed.address()
    [plan] = _plan(cli, database_url, "--requested-by", "U0ENG")
    assert (plan["playbook"], plan["status"], plan["saving_monthly"]) == (EIPS, "proposed", "3.65")
    [change] = plan["changes"]
    assert (change["resource_id"], change["api"], change["region"]) == (
        address,
        "ec2:ReleaseAddress",
        "us-east-1",
    )
    assert change["calls"] == [
        {"api": "ec2:ReleaseAddress", "params": {"AllocationId": address}, "status": "pending"}
    ]
    assert plan["requested_by"] == "U0ENG" and plan["expires_at"]

    refused = cli("remediate", "apply", str(plan["id"]), database_url=database_url)
    assert refused.code == 1 and refused.out == ""
    assert f"error: Plan #{plan['id']} is not approved; nothing was changed." in refused.err
    assert "admin role" in refused.err and "(U0ENG)" in refused.err and "click Approve" in refused.err
    assert address in aws_seed.addresses()

    _approve(database_url, plan["id"])
    applied = cli("remediate", "apply", str(plan["id"]), "--json", database_url=database_url)
    assert applied.code == 0, applied.err
    done = json.loads(applied.out)
    assert done["status"] == "done" and done["decided_by"] == "U0ADMIN"
    assert done["changes"][0]["calls"][0]["status"] == "done"
    assert done["result"]["done"] == [address] and done["result"]["saving_monthly"] == "3.65"
    assert address not in aws_seed.addresses()

    again = cli("remediate", "apply", str(plan["id"]), database_url=database_url)
    assert again.code == 0 and "was executed already; nothing was done now" in again.out
    assert "Finished: 1 of 1 changes made. Monthly saving from what was made: 3.65 USD." in again.out

    listed = json.loads(cli("remediate", "list", "--json", database_url=database_url).out)
    assert [(p["id"], p["status"]) for p in listed] == [(plan["id"], "done")]
    shown = cli("remediate", "show", str(plan["id"]), database_url=database_url)
    assert shown.code == 0 and f"ReleaseAddress [done] on {address}" in shown.out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_same_findings_are_one_plan_and_bad_input_is_refused_before_any_aws_call(
    cli: RunCli, database_url: str, aws: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _config(tmp_path, clean_env)
    aws_seed.address()
    first = cli("remediate", "plan", "--playbook", EIPS, database_url=database_url)
    assert first.code == 0 and "Plan #1 Release unassociated Elastic IP addresses: proposed" in first.out
    assert "To be posted to <#C0REMEDY> for approval by the running bot" in first.out
    second = cli("remediate", "plan", "--playbook", EIPS, database_url=database_url)
    assert "unchanged: plan #1 was already waiting for approval" in second.out

    unknown = cli("remediate", "plan", "--playbook", "delete-everything", database_url=database_url)
    assert unknown.code == 2 and "Unknown playbook 'delete-everything'" in unknown.err
    assert "stop-idle-instances" in unknown.err
    _config(tmp_path, clean_env, "[remediation.playbooks.stop-idle-instances]\ncpu = 3\n")
    bad = cli("remediate", "plan", database_url=database_url)
    assert bad.code == 2 and "[remediation.playbooks.stop-idle-instances]" in bad.err and "cpu" in bad.err
    _config(tmp_path, clean_env)
    missing = cli("remediate", "apply", "99", database_url=database_url)
    assert missing.code == 2 and "There is no remediation plan #99" in missing.err


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_kill_switch_refuses_apply_and_touches_nothing(
    cli: RunCli, database_url: str, aws: str, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _config(tmp_path, clean_env, "execute = false\n")
    address = aws_seed.address()
    [plan] = _plan(cli, database_url)
    _approve(database_url, plan["id"])
    refused = cli("remediate", "apply", str(plan["id"]), database_url=database_url)
    assert refused.code == 1 and "execution is switched off ([remediation] execute = false" in refused.err
    assert address in aws_seed.addresses()
