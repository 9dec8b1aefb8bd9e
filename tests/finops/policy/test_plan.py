"""Reading `terraform show -json` plans: versions, actions, effective tags per provider, regions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finops.errors import UserError
from finops.policy import plan

PLANS = Path(__file__).parents[2] / "fixtures" / "policy" / "plans"


def changes(name: str) -> dict[str, plan.Change]:
    return {change.address: change for change in plan.read(PLANS / name).changes}


@pytest.mark.parametrize(
    ("name", "version"),
    [("format_0_1.json", "0.1"), ("format_1_0_azure.json", "1.0"), ("passing.json", "1.2")],
)
def test_reads_format_versions_0_1_to_1_2(name: str, version: str) -> None:
    read = plan.read(PLANS / name)
    assert read.format_version == version
    assert read.changes and all(change.checked for change in read.changes)


def test_an_unknown_major_version_is_refused_with_what_is_supported() -> None:
    with pytest.raises(UserError, match=r"format_version 2\.0 is not supported .*0\.x and 1\.x"):
        plan.read(PLANS / "format_2.json")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("not json", "not JSON"),
        ('{"resources": []}', "no format_version"),
        (json.dumps({"format_version": "1.0", "values": {}}), "looks like a state, not a plan"),
        (json.dumps({"format_version": "1.2", "resource_changes": [], "errored": True}), "reported errors"),
        (json.dumps({"format_version": "1.2", "resource_changes": {}}), "resource_changes is not a list"),
        (
            json.dumps({"format_version": "1.2", "resource_changes": [{"address": "a.b"}]}),
            "a.b has no change",
        ),
    ],
)
def test_unreadable_plans_say_what_is_wrong(tmp_path: Path, content: str, said: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(UserError, match=said):
        plan.read(path)


def test_a_missing_file_is_named() -> None:
    with pytest.raises(UserError, match=r"nope\.json: no such file"):
        plan.read(PLANS / "nope.json")


def test_data_sources_are_left_out_and_actions_are_named() -> None:
    found = changes("update_replace.json")
    assert [c.action for c in found.values()] == ["update", "replace", "delete", "no-op"]
    assert [c.checked for c in found.values()] == [True, True, False, False]
    assert "data.aws_ami.ubuntu" not in changes("passing.json")


def test_tags_all_wins_when_known() -> None:
    api = changes("passing.json")["aws_instance.api"]
    assert api.tags is not None and api.tags.source == "tags_all"
    assert api.tags.known["cost-center"] == "cc-1042"


def test_default_tags_from_a_variable_merge_under_the_resource_tags() -> None:
    nat = changes("default_tags.json")["aws_nat_gateway.main"]
    assert nat.tags is not None and nat.tags.complete
    assert nat.tags.known == {"owner": "platform@example.com", "cost-center": "cc-1", "Name": "main"}


def test_a_module_resource_uses_its_own_provider_block() -> None:
    found = changes("default_tags.json")
    edge = found["module.edge.aws_lb.public[0]"]  # aws.edge: no default tags, another region
    assert edge.tags is not None and edge.tags.known == {"Name": "edge"}
    assert edge.region == "us-west-2"
    assert edge.config_address == "module.edge.aws_lb.public"


def test_pending_tag_values_count_as_present_and_an_unknown_map_is_incomplete() -> None:
    found = changes("unknown_tags.json")
    batch, scratch = found["aws_instance.batch"].tags, found["aws_ebs_volume.scratch"].tags
    assert batch is not None and batch.has("cost-center") == "cost-center" and batch.complete
    assert scratch is not None and not scratch.complete and scratch.known == {}


def test_autoscaling_groups_list_their_tags_and_take_no_default_tags() -> None:
    found = changes("asg.json")
    workers, gpu = found["aws_autoscaling_group.workers"].tags, found["aws_autoscaling_group.gpu"].tags
    assert workers is not None and workers.known == {"owner": "ml@example.com", "Name": "workers"}
    assert gpu is not None and gpu.pending == {"cost-center"}


def test_google_labels_are_tags_and_network_tags_are_not() -> None:
    found = changes("gcp_labels.json")
    web, bastion, disk = (
        found[f"google_compute_{n}"].tags for n in ("instance.web", "instance.bastion", "disk.data")
    )
    assert web is not None and web.source == "effective_labels" and web.has("owner")
    assert bastion is not None and bastion.known == {} and bastion.has("owner") is None
    assert disk is not None and disk.known == {"owner": "platform", "cost-center": "cc-1", "team": "web"}
    assert found["google_compute_instance.web"].region == "us-central1"


def test_regions_come_from_the_zone_the_location_or_the_provider() -> None:
    assert changes("update_replace.json")["aws_instance.retired"].region == "us-east-1"
    assert changes("format_0_1.json")["aws_instance.worker"].region == "eu-west-1"
    assert changes("format_1_0_azure.json")["azurerm_linux_virtual_machine.web"].region == "westeurope"


def test_sensitive_tag_values_are_not_shown(tmp_path: Path) -> None:
    document = json.loads((PLANS / "passing.json").read_text())
    document["resource_changes"][0]["change"]["after_sensitive"] = {"tags_all": {"owner": True}}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    tags = plan.read(path).changes[0].tags
    assert tags is not None and tags.shown("owner") == "(sensitive)" and tags.shown("Name") == "api"
