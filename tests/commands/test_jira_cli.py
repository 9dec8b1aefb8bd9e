"""`finops-bot jira check`: the configuration against Jira, with Jira's own words."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cli_runner import RunCli
from tests.fakes.jira import FakeJira


@pytest.fixture
def jira(clean_env: pytest.MonkeyPatch) -> Iterator[FakeJira]:
    with FakeJira() as fake:
        for name, value in {
            "JIRA_URL": fake.url,
            "JIRA_USER": fake.user,
            "JIRA_API_TOKEN": fake.token,
            "JIRA_PROJECT": "FIN",
        }.items():
            clean_env.setenv(name, value)
        yield fake


def test_a_good_configuration_passes(cli: RunCli, jira: FakeJira) -> None:
    result = cli("jira", "check", "--json")
    assert result.code == 0, result.out + result.err
    checks = {c["check"]: c["ok"] for c in json.loads(result.out)}
    assert checks["project FIN"] and checks["issue type Task in FIN"] and checks["priority High"]


def test_wrong_project_type_priority_and_component_are_named(
    cli: RunCli, jira: FakeJira, clean_env: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "finops.toml"
    config.write_text(
        '[jira]\nissue_type = "Epic"\npriorities = { high = "Urgent" }\n'
        '[jira.teams]\npayments = { project = "PAY" }\nsearch = { component = "searching" }\n'
    )
    clean_env.setenv("FINOPS_CONFIG", str(config))
    result = cli("jira", "check")
    assert result.code == 1
    out = result.out
    assert "FAIL priority Urgent: not a Jira priority; there are: High, Highest, Low, Lowest, Medium" in out
    assert "FAIL issue type Epic in FIN: the project has: Bug, Task" in out
    assert "FAIL project PAY (team payments): No project could be found with key 'PAY'." in out
    assert "FAIL component searching in FIN: the project has: payments, platform" in out


def test_missing_settings_and_bad_credentials(
    cli: RunCli, jira: FakeJira, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.delenv("JIRA_API_TOKEN")
    missing = cli("jira", "check")
    assert missing.code == 2 and "JIRA_API_TOKEN is not set" in missing.err
    clean_env.setenv("JIRA_API_TOKEN", "wrong")
    refused = cli("jira", "check")
    assert refused.code == 1 and "FAIL connect" in refused.out
