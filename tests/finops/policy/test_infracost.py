"""Monthly cost changes read from Infracost JSON (breakdown and diff output, version 0.2)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from finops.errors import UserError
from finops.policy.infracost import FREE_REASON, USAGE_REASON, read
from finops.policy.prices import Estimate

FIXTURES = Path(__file__).parents[2] / "fixtures" / "policy" / "infracost"


def test_breakdown_output_charges_each_new_resource_in_full() -> None:
    costs = read(FIXTURES / "breakdown.json")
    assert costs.currency == "USD"
    first = costs.change("aws_instance.web[0]", "aws_instance")
    assert first == Estimate(Decimal("84.08"), "Infracost: added, 84.08 USD/month")
    assert isinstance(first.monthly, Decimal)
    assert costs.change("aws_instance.web[1]", "aws_instance").monthly == Decimal("84.08")
    assert costs.change("module.app.aws_db_instance.main", "aws_db_instance").monthly == Decimal("282.88")


def test_a_null_monthly_cost_is_unknown_even_though_infracost_diffs_it_as_zero() -> None:
    costs = read(FIXTURES / "breakdown.json")
    assert costs.change("aws_lambda_function.api", "aws_lambda_function") == Estimate(None, USAGE_REASON)


def test_addresses_missing_from_the_output_are_free_only_when_infracost_says_so() -> None:
    costs = read(FIXTURES / "breakdown.json")
    assert costs.change("aws_iam_role.app", "aws_iam_role") == Estimate(Decimal(0), FREE_REASON)
    assert costs.change("aws_security_group.web", "aws_security_group") == Estimate(Decimal(0), FREE_REASON)
    unsupported = costs.change("aws_appflow_flow.sync", "aws_appflow_flow")
    assert unsupported.monthly is None and "does not price aws_appflow_flow" in unsupported.basis
    assert costs.change("aws_instance.web[2]", "aws_instance") == Estimate(
        None, "not in the Infracost output"
    )


def test_diff_output_gives_the_delta_of_changed_added_and_removed_resources() -> None:
    costs = read(FIXTURES / "diff.json")
    changed = costs.change("aws_instance.web_app", "aws_instance")
    assert changed == Estimate(Decimal("560.64"), "Infracost: 742.64 -> 1303.28 USD/month")
    removed = costs.change("aws_instance.batch", "aws_instance")
    assert removed == Estimate(Decimal("-1121.28"), "Infracost: removed, was 1121.28 USD/month")
    added = costs.change('module.network.aws_nat_gateway.main["a"]', "aws_nat_gateway")
    assert added.monthly == Decimal("32.85")
    unchanged = costs.change("aws_eip.nat", "aws_eip")
    assert unchanged == Estimate(Decimal(0), "Infracost: unchanged at 3.65 USD/month")
    assert costs.change("aws_s3_bucket.logs", "aws_s3_bucket") == Estimate(None, USAGE_REASON)
    assert costs.change("aws_route_table.private", "aws_route_table").monthly == 0


def test_a_null_cost_only_in_the_diff_is_unknown(tmp_path: Path) -> None:
    resource = {"name": "aws_sqs_queue.jobs", "metadata": {}, "hourlyCost": None, "monthlyCost": None}
    project = {
        "name": "p",
        "pastBreakdown": None,
        "breakdown": {"resources": []},
        "diff": {"resources": [resource]},
    }
    path = tmp_path / "infracost.json"
    path.write_text(json.dumps({"version": "0.2", "currency": "USD", "projects": [project]}))
    assert read(path).change("aws_sqs_queue.jobs", "aws_sqs_queue") == Estimate(None, USAGE_REASON)


def test_without_a_diff_the_change_is_breakdown_minus_past_breakdown() -> None:
    costs = read(FIXTURES / "no_diff.json")
    assert costs.currency == "EUR"
    assert costs.change("google_compute_instance.api", "google_compute_instance").monthly == Decimal("22.49")
    assert costs.change("google_compute_disk.data", "google_compute_disk").monthly == Decimal(17)


def test_with_several_projects_the_basis_names_the_project(tmp_path: Path) -> None:
    document = json.loads((FIXTURES / "no_diff.json").read_text())
    other = json.loads(json.dumps(document["projects"][0]))
    other["name"] = "platform/infra/prod"
    other["breakdown"]["resources"] = []
    other["pastBreakdown"]["resources"] = []
    document["projects"].insert(0, other)
    path = tmp_path / "two.json"
    path.write_text(json.dumps(document))
    result = read(path).change("google_compute_disk.data", "google_compute_disk")
    assert result == Estimate(Decimal(17), "project platform/infra/staging: Infracost: added, 17 EUR/month")


def test_a_missing_file_is_a_user_error_saying_how_to_make_it(tmp_path: Path) -> None:
    path = tmp_path / "infracost.json"
    with pytest.raises(UserError, match="does not exist: write it with `infracost breakdown") as error:
        read(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "no `projects` list"),
        ('{"version": "0.2", "currency": "USD", "projects": {}}', "no `projects` list"),
        ('{"version": "1.0", "currency": "USD", "projects": []}', "output version '1.0' is not supported"),
        ('{"version": "0.2", "projects": []}', "`currency` None"),
        ('{"version": "0.2", "currency": "USD", "projects": [3]}', "projects[0] is not an object"),
        (
            '{"version": "0.2", "currency": "USD", "projects": [{"name": "p", "breakdown": {"resources": {}}}]}',
            "project p, breakdown.resources is not a list",
        ),
        (
            '{"version": "0.2", "currency": "USD", "projects": [{"name": "p", "breakdown": {"resources": [{}]}}]}',
            "breakdown.resources[0] is not a resource with a `name`",
        ),
        (
            '{"version": "0.2", "currency": "USD", "projects": [{"name": "p", "diff": '
            '{"resources": [{"name": "aws_instance.a", "monthlyCost": "lots"}]}}]}',
            "diff.resources[0] (aws_instance.a): monthlyCost 'lots' is not a decimal string",
        ),
    ],
)
def test_a_wrongly_shaped_file_is_a_user_error_naming_it(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "infracost.json"
    path.write_text(text)
    with pytest.raises(UserError) as error:
        read(path)
    assert f"Infracost file {path}" in str(error.value) and problem in str(error.value)
