"""Tag rules over the hand-built plans: each case's verdict and message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from finops.errors import UserError
from finops.policy import plan, spec, tags

FIXTURES = Path(__file__).parents[2] / "fixtures" / "policy"
POLICY = spec.load(FIXTURES / "policy.yml")


def findings(name: str, policy: spec.Policy = POLICY) -> list[tuple[str, str, str, str]]:
    return [
        (f.severity, f.rule, f.address or "", f.message)
        for change in plan.read(FIXTURES / "plans" / name).changes
        for f in tags.check(change, policy.tags)
    ]


def with_tags(**changes: Any) -> spec.Policy:
    return POLICY.model_copy(update={"tags": POLICY.tags.model_copy(update=changes)})


def test_a_tagged_plan_passes() -> None:
    assert findings("passing.json") == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "format_0_1.json",
            [("error", "tags.required", "aws_instance.worker", "missing required tag `cost-center`")],
        ),
        (
            "format_1_0_azure.json",
            [
                (
                    "error",
                    "tags.allowed",
                    "azurerm_linux_virtual_machine.web",
                    "environment=`Prod` is not allowed (did you mean `prod`?)",
                ),
                ("error", "tags.required", "azurerm_managed_disk.data", "missing required tag `owner`"),
            ],
        ),
        (
            "untagged_expensive.json",
            [
                (
                    "error",
                    "tags.required",
                    "aws_instance.training",
                    "missing required tags `owner`, `cost-center`",
                )
            ],
        ),
        (
            "default_tags.json",  # the NAT gateway has them from default_tags; module.legacy is exempt
            [
                (
                    "error",
                    "tags.required",
                    "module.edge.aws_lb.public[0]",
                    "missing required tags `owner`, `cost-center`",
                )
            ],
        ),
        (
            "asg.json",  # default tags do not reach autoscaling groups; a pending value counts
            [
                (
                    "error",
                    "tags.required",
                    "aws_autoscaling_group.workers",
                    "missing required tag `cost-center`",
                )
            ],
        ),
        (
            "gcp_labels.json",  # network tags named owner do not count; default labels do
            [
                (
                    "error",
                    "tags.required",
                    "google_compute_instance.bastion",
                    "missing required tags `owner`, `cost-center`",
                )
            ],
        ),
        (
            "update_replace.json",  # updates and replaces are checked; deletes and no-ops never
            [
                ("error", "tags.case", "aws_instance.app", "`Owner` should be `owner`"),
                ("error", "tags.allowed", "aws_db_instance.main", "environment=`production` is not allowed"),
            ],
        ),
        (
            "unknown_tags.json",
            [("warning", "tags.unknown", "aws_ebs_volume.scratch", "known only after apply")],
        ),
    ],
)
def test_each_case_gives_its_verdict_and_message(
    name: str, expected: list[tuple[str, str, str, str]]
) -> None:
    found = findings(name)
    assert [(s, r, a) for s, r, a, _ in found] == [(s, r, a) for s, r, a, _ in expected]
    for (*_, message), (*_, said) in zip(found, expected, strict=True):
        assert said in message


def test_without_the_exemption_the_legacy_module_is_checked() -> None:
    addresses = [a for _, _, a, _ in findings("default_tags.json", with_tags(exempt=[]))]
    assert "module.legacy.aws_instance.old" in addresses


def test_unknown_tags_fail_when_the_policy_says_so() -> None:
    assert findings("unknown_tags.json", with_tags(unknown="fail"))[0][0] == "error"


def test_case_insensitive_keys_accept_other_spellings() -> None:
    policy = with_tags(case=spec.Case(keys="insensitive"))
    assert [r for _, r, _, _ in findings("update_replace.json", policy)] == ["tags.allowed"]


def test_lower_case_values_rule() -> None:
    lower = spec.Case(values="lower")
    # environment is not a policy key here, so its value's case is not checked
    found = findings("format_1_0_azure.json", with_tags(case=lower, allowed={}))
    assert [(r, a) for _, r, a, _ in found] == [("tags.required", "azurerm_managed_disk.data")]
    found = findings("format_1_0_azure.json", with_tags(case=lower, allowed={"environment": "^[a-zA-Z]+$"}))
    assert found[0][1:3] == ("tags.allowed", "azurerm_linux_virtual_machine.web")
    assert "environment=`Prod` must be lower case" in found[0][3]


def test_resource_type_patterns_limit_the_scope_and_add_keys() -> None:
    only_disks = with_tags(resources=["azurerm_*_disk"], allowed={})
    assert [a for _, _, a, _ in findings("format_1_0_azure.json", only_disks)] == [
        "azurerm_managed_disk.data"
    ]
    more = with_tags(required_by_type={"aws_db_*": ["backup"]}, allowed={})
    assert "missing required tag `backup`" in findings("update_replace.json", more)[-1][3]


def test_regex_allowed_values() -> None:
    policy = with_tags(allowed={"owner": r"[a-z]+@example\.com"})
    assert findings("passing.json", policy) == []
    found = findings("gcp_labels.json", with_tags(allowed={"owner": r"[a-z]+@example\.com"}))
    assert any("owner=`web` is not allowed; allowed: matching" in m for *_, m in found)


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ({"tags": {"requird": ["owner"]}}, r"tags\.requird: unknown key"),
        ({"tags": {"allowed": {"env": "[unclosed"}}}, "not a regular expression"),
        ({"cost": {"max_monthly_increase": -5}}, "greater than or equal to 0"),
        ({"cost": {"currency": "dollars"}}, "three-letter currency"),
        (["owner"], "a policy is a mapping"),
        ({"tags": {"case": {"keys": "loose"}}}, r"tags\.case\.keys"),
    ],
)
def test_bad_policies_name_the_key(document: Any, said: str) -> None:
    with pytest.raises(UserError, match=said):
        spec.parse(document, "policy file p.yml")


def test_policy_files_and_config(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        spec.load(tmp_path / "missing.yml")
    (tmp_path / "bad.yml").write_text("tags: [unclosed")
    with pytest.raises(UserError, match="not valid YAML"):
        spec.load(tmp_path / "bad.yml")
    (tmp_path / "p.yml").write_text("tags: {required: [team]}\ncost: {prices: prices.csv}\n")
    loaded = spec.from_config({"file": "p.yml"}, tmp_path / "finops.toml")
    assert loaded is not None and loaded.tags.required == ["team"]
    assert loaded.cost.prices == tmp_path / "prices.csv"
    inline = spec.from_config({"tags": {"required": ["owner"]}}, None)
    assert inline is not None and inline.tags.required == ["owner"]
    assert spec.from_config({}, None) is None
    with pytest.raises(UserError, match="either `file` or the policy inline"):
        spec.from_config({"file": "p.yml", "tags": {}}, None)


def test_the_policy_in_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert spec.resolve(None, {}, None) is None
    (tmp_path / "finops-policy.yml").write_text("tags: {required: [team]}\n")
    found = spec.resolve(None, {}, None)
    assert found is not None and found.tags.required == ["team"]
    configured = spec.resolve(None, {"tags": {"required": ["owner"]}}, None)
    assert configured is not None and configured.tags.required == ["owner"]  # the config wins
    given = spec.resolve(FIXTURES / "policy.yml", {"tags": {"required": ["owner"]}}, None)
    assert given is not None and given.tags.required == ["owner", "cost-center"]  # --policy wins
