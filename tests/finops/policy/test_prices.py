"""The price table and the per-resource monthly estimate."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finops.errors import UserError
from finops.policy.prices import (
    NOT_SHIPPED,
    UNITS,
    Estimate,
    PriceTable,
    estimate,
    load_table,
    priced_types,
)

TABLE = load_table()


def _cost(resource_type: str, values: dict[str, Any] | None, region: str | None = "us-east-1") -> Estimate:
    return estimate(resource_type, values, region, TABLE)


# ------------------------------------------------------------------------------------------- the shipped table


def test_the_shipped_table_is_versioned_and_every_row_parses() -> None:
    assert (TABLE.version, TABLE.currency) == ("2026.11", "USD")
    assert len(TABLE.rows) > 400
    for price in TABLE.rows:
        assert isinstance(price.amount, Decimal) and price.amount >= 0, price
        assert price.unit in UNITS and price.sku == price.sku.lower() and price.region, price


def test_every_price_family_in_the_table_is_used_and_every_used_family_is_priced() -> None:
    used = {family for families in priced_types().values() for family in families}
    in_table = {price.resource for price in TABLE.rows}
    assert in_table <= used, f"rows nobody looks up: {in_table - used}"
    assert used - NOT_SHIPPED <= in_table, f"families without a row: {used - NOT_SHIPPED - in_table}"


# One typical resource per priced type, in a region the shipped table covers.
SAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    "aws_instance": ({"instance_type": "t3.micro"}, "eu-central-1"),
    "aws_ebs_volume": ({"type": "gp2", "size": 20}, "eu-west-1"),
    "aws_ebs_snapshot": ({"size": 20}, "eu-west-1"),
    "aws_db_instance": ({"instance_class": "db.t4g.micro", "engine": "postgres"}, "us-west-2"),
    "aws_rds_cluster_instance": (
        {"instance_class": "db.r6g.large", "engine": "aurora-postgresql"},
        "us-east-1",
    ),
    "aws_nat_gateway": ({}, "eu-west-1"),
    "aws_lb": ({"load_balancer_type": "network"}, "us-west-2"),
    "aws_alb": ({}, "eu-central-1"),
    "aws_elb": ({}, "us-east-1"),
    "aws_eks_cluster": ({}, "ap-south-1"),
    "aws_elasticache_cluster": ({"node_type": "cache.t4g.small", "num_cache_nodes": 1}, "us-east-1"),
    "aws_elasticache_replication_group": (
        {"node_type": "cache.r6g.large", "num_cache_clusters": 2},
        "us-west-2",
    ),
    "aws_eip": ({}, "eu-west-1"),
    "aws_kms_key": ({}, "us-east-1"),
    "aws_secretsmanager_secret": ({}, "us-east-1"),
    "aws_route53_zone": ({}, "us-east-1"),
    "aws_dynamodb_table": ({"read_capacity": 5, "write_capacity": 5}, "us-east-1"),
    "azurerm_linux_virtual_machine": ({"size": "Standard_D2s_v5"}, "westeurope"),
    "azurerm_windows_virtual_machine": ({"size": "Standard_D2s_v5"}, "eastus"),
    "azurerm_virtual_machine": ({"vm_size": "Standard_B2s"}, "eastus"),
    "azurerm_managed_disk": ({"storage_account_type": "StandardSSD_LRS", "disk_size_gb": 64}, "eastus"),
    "azurerm_nat_gateway": ({}, "westeurope"),
    "azurerm_lb": ({"sku": "Standard"}, "eastus"),
    "azurerm_public_ip": ({"sku": "Standard"}, "eastus"),
    "azurerm_dns_zone": ({}, "eastus"),
    "azurerm_private_dns_zone": ({}, "global"),
    "azurerm_postgresql_flexible_server": ({"sku_name": "B_Standard_B1ms", "storage_mb": 32768}, "eastus"),
    "azurerm_mysql_flexible_server": (
        {"sku_name": "B_Standard_B1ms", "storage": [{"size_gb": 20}]},
        "eastus",
    ),
    "azurerm_mssql_database": ({"sku_name": "S0"}, "eastus"),
    "google_compute_instance": ({"machine_type": "n2-standard-2"}, "us-central1"),
    "google_compute_disk": ({"type": "pd-balanced", "size": 100}, "europe-west1"),
    "google_sql_database_instance": ({"settings": [{"tier": "db-f1-micro", "disk_size": 10}]}, "us-central1"),
    "google_compute_forwarding_rule": ({}, "us-central1"),
    "google_compute_global_forwarding_rule": ({}, "europe-west1"),
    "google_container_cluster": ({}, "europe-west1"),
    "google_dns_managed_zone": ({}, "us-central1"),
}


def test_every_priced_type_has_a_sample_and_prices_it_from_the_shipped_table() -> None:
    assert set(SAMPLES) == set(priced_types())
    for resource_type, (values, region) in SAMPLES.items():
        result = _cost(resource_type, values, region)
        if resource_type == "azurerm_windows_virtual_machine":
            assert not result.known and "Windows" in result.basis
            continue
        assert result.known and result.monthly is not None and result.monthly > 0, (resource_type, result)


# ------------------------------------------------------------------------------------------- AWS


def test_an_instance_is_its_hourly_price_times_730_hours() -> None:
    result = _cost("aws_instance", {"instance_type": "m5.large"})
    assert result.monthly == Decimal("70.08") and result.known
    assert result.basis.startswith("m5.large in us-east-1: 0.096 USD/h x 730 h")
    assert "root volume not included" in result.basis


def test_an_unknown_instance_type_is_unknown_not_zero_and_says_why() -> None:
    result = _cost("aws_instance", {"instance_type": "x9.huge"})
    assert result.monthly is None and not result.known
    assert result.basis == "instance type x9.huge not in price table 2026.11 for us-east-1"


def test_a_region_missing_from_the_table_is_unknown_and_names_where_it_is_priced() -> None:
    result = _cost("aws_instance", {"instance_type": "m7i.large"}, "ap-southeast-2")
    assert result.monthly is None
    assert "ap-southeast-2" in result.basis and "priced for us-east-1, us-west-2" in result.basis


def test_no_region_is_unknown_unless_the_price_is_the_same_everywhere() -> None:
    assert _cost("aws_instance", {"instance_type": "m5.large"}, None).basis.startswith("region not known")
    assert _cost("aws_eks_cluster", {}, None).monthly == Decimal("73.0")


def test_a_resource_that_does_not_exist_costs_nothing() -> None:
    assert _cost("aws_instance", None) == Estimate(Decimal(0), "does not exist")


@pytest.mark.parametrize(
    ("resource_type", "values", "attribute"),
    [
        ("aws_instance", {"instance_type": None}, "instance_type"),
        ("aws_ebs_volume", {"type": "gp3"}, "size"),
        ("aws_ebs_volume", {"type": "io1", "size": 100}, "iops"),
        ("aws_db_instance", {"engine": "mysql"}, "instance_class"),
        ("azurerm_managed_disk", {"storage_account_type": "Premium_LRS"}, "disk_size_gb"),
        ("google_compute_instance", {}, "machine_type"),
        ("google_sql_database_instance", {"settings": [{}]}, "settings.tier"),
    ],
)
def test_an_attribute_known_only_after_apply_makes_it_unknown_naming_the_attribute(
    resource_type: str, values: dict[str, Any], attribute: str
) -> None:
    result = _cost(resource_type, values, "us-east-1")
    assert result.monthly is None and attribute in result.basis


def test_root_volume_and_gp3_iops_and_throughput_above_the_baseline_are_added() -> None:
    root = {"volume_size": 50, "volume_type": "gp3", "iops": 4000, "throughput": 250}
    result = _cost("aws_instance", {"instance_type": "m5.large", "root_block_device": [root]})
    # 70.08 + 50 GB x 0.08 + 1000 IOPS x 0.005 + 125 MB/s x 0.04
    assert result.monthly == Decimal("84.08")
    assert "root volume IOPS above 3000: 0.005 USD/IOPS-month x 1000 IOPS" in result.basis
    baseline = _cost("aws_ebs_volume", {"type": "gp3", "size": 100, "iops": 3000, "throughput": 125})
    assert baseline.monthly == Decimal("8.00")


def test_io1_volumes_pay_for_provisioned_iops() -> None:
    result = _cost("aws_ebs_volume", {"type": "io1", "size": 100, "iops": 1000}, "eu-west-1")
    assert result.monthly == Decimal("100") * Decimal("0.138") + Decimal("1000") * Decimal("0.072")


def test_multi_az_doubles_the_instance_and_its_storage() -> None:
    values = {
        "instance_class": "db.m5.large",
        "engine": "postgres",
        "allocated_storage": 100,
        "storage_type": "gp3",
    }
    single = _cost("aws_db_instance", values)
    double = _cost("aws_db_instance", {**values, "multi_az": True})
    assert single.monthly == Decimal("0.178") * 730 + Decimal("11.5")
    assert double.monthly == 2 * single.monthly
    assert "x 2 (multi-AZ)" in double.basis


def test_an_unpriced_database_engine_is_unknown() -> None:
    result = _cost("aws_db_instance", {"instance_class": "db.m5.large", "engine": "oracle-ee"})
    assert result.monthly is None and "oracle-ee" in result.basis


def test_elasticache_counts_nodes_and_dynamodb_counts_capacity_units() -> None:
    cache = _cost("aws_elasticache_cluster", {"node_type": "cache.t3.small", "num_cache_nodes": 3})
    assert cache.monthly == Decimal("0.034") * 730 * 3
    table = {
        "read_capacity": 10,
        "write_capacity": 5,
        "global_secondary_index": [{"read_capacity": 10, "write_capacity": 5}],
    }
    assert (
        _cost("aws_dynamodb_table", table).monthly
        == (20 * Decimal("0.00013") + 10 * Decimal("0.00065")) * 730
    )
    on_demand = _cost("aws_dynamodb_table", {"billing_mode": "PAY_PER_REQUEST"})
    assert on_demand.monthly is None and on_demand.basis.startswith("usage-based")


def test_load_balancer_type_picks_the_sku_and_says_what_is_left_out() -> None:
    result = _cost("aws_lb", {"load_balancer_type": "gateway"})
    assert result.monthly == Decimal("0.0125") * 730 and "LCU" in result.basis
    assert _cost("aws_nat_gateway", {}).basis.endswith("data processing (per GB) not included")


# ------------------------------------------------------------------------------------------- Azure


@pytest.mark.parametrize(
    ("kind", "size", "tier", "monthly"),
    [
        ("Premium_LRS", 100, "P10", "19.71"),
        ("Premium_LRS", 128, "P10", "19.71"),
        ("Premium_LRS", 129, "P15", "38.01"),
        ("Premium_LRS", 1, "P4", "5.28"),
        ("StandardSSD_LRS", 1000, "E30", "76.80"),
        ("Standard_LRS", 32, "S4", "1.54"),
    ],
)
def test_managed_disks_round_up_to_the_next_tier(kind: str, size: int, tier: str, monthly: str) -> None:
    result = _cost("azurerm_managed_disk", {"storage_account_type": kind, "disk_size_gb": size}, "East US")
    assert result.monthly == Decimal(monthly)
    assert f"-> {tier} (" in result.basis and "in eastus" in result.basis


def test_a_disk_larger_than_every_tier_in_the_table_is_unknown() -> None:
    result = _cost(
        "azurerm_managed_disk", {"storage_account_type": "Premium_LRS", "disk_size_gb": 5000}, "eastus"
    )
    assert result.monthly is None and "5000 GB" in result.basis


def test_a_vm_size_is_found_with_or_without_its_standard_prefix_and_adds_its_os_disk() -> None:
    short = _cost("azurerm_linux_virtual_machine", {"size": "B1s"}, "eastus")
    assert short.monthly == Decimal("0.0104") * 730
    with_disk = {
        "size": "Standard_B1s",
        "os_disk": [{"storage_account_type": "Premium_LRS", "disk_size_gb": 30}],
    }
    assert _cost("azurerm_linux_virtual_machine", with_disk, "eastus").monthly == short.monthly + Decimal(
        "5.28"
    )


def test_windows_vms_are_unknown_because_the_shipped_table_has_linux_prices_only() -> None:
    result = _cost("azurerm_windows_virtual_machine", {"size": "Standard_D2s_v3"}, "eastus")
    assert result.monthly is None and "Windows VM prices are not in price table 2026.11" in result.basis


def test_a_basic_load_balancer_is_free_and_a_standard_one_is_hourly() -> None:
    assert _cost("azurerm_lb", {"sku": "Basic"}, "eastus").monthly == 0
    assert _cost("azurerm_lb", {"sku": "Standard"}, "eastus").monthly == Decimal("18.25")


def test_flexible_server_storage_and_high_availability() -> None:
    values = {"sku_name": "B_Standard_B1ms", "storage_mb": 65536}
    single = _cost("azurerm_postgresql_flexible_server", values, "eastus")
    assert single.monthly == Decimal("0.017") * 730 + 64 * Decimal("0.115")
    ha = _cost(
        "azurerm_postgresql_flexible_server",
        {**values, "high_availability": [{"mode": "ZoneRedundant"}]},
        "eastus",
    )
    assert ha.monthly == 2 * single.monthly


def test_sql_database_vcore_tiers_add_storage_and_elastic_pool_members_cost_nothing_themselves() -> None:
    result = _cost("azurerm_mssql_database", {"sku_name": "GP_Gen5_2", "max_size_gb": 32}, "eastus")
    assert result.monthly == Decimal("0.5044") * 730 + 32 * Decimal("0.115")
    pooled = _cost(
        "azurerm_mssql_database", {"sku_name": "ElasticPool", "elastic_pool_id": "/x/pool"}, "eastus"
    )
    assert pooled.monthly == 0
    assert _cost("azurerm_mssql_database", {"sku_name": "GP_S_Gen5_2"}, "eastus").monthly is None


# ------------------------------------------------------------------------------------------- Google


def test_a_machine_type_given_as_a_url_uses_its_last_segment() -> None:
    url = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/machineTypes/e2-medium"
    result = _cost("google_compute_instance", {"machine_type": url}, "us-central1")
    assert result.monthly == Decimal("0.03350571") * 730 and result.basis.startswith(
        "e2-medium in us-central1"
    )
    disk = _cost(
        "google_compute_disk",
        {"type": "projects/p/zones/us-central1-a/diskTypes/pd-ssd", "size": 100},
        "us-central1",
    )
    assert disk.monthly == Decimal("17.00")


def test_cloud_sql_custom_tiers_are_priced_per_vcpu_and_per_gb_of_memory_and_regional_doubles() -> None:
    settings = {"tier": "db-custom-2-7680", "disk_size": 10, "disk_type": "PD_SSD"}
    zonal = _cost("google_sql_database_instance", {"settings": [settings]}, "us-central1")
    # 2 vCPU x 0.0413 x 730 + 7.5 GB x 0.007 x 730 + 10 GB x 0.17
    assert zonal.monthly == Decimal("60.298") + Decimal("38.325") + Decimal("1.7")
    regional = _cost(
        "google_sql_database_instance",
        {"settings": [{**settings, "availability_type": "REGIONAL"}]},
        "us-central1",
    )
    assert regional.monthly == 2 * zonal.monthly
    legacy = _cost(
        "google_sql_database_instance", {"settings": [{"tier": "db-n1-standard-2"}]}, "us-central1"
    )
    assert legacy.monthly == zonal.monthly - Decimal("1.7")  # same 2 vCPU / 7.5 GB, no disk_size given


def test_spot_and_gpu_machines_are_unknown() -> None:
    spot = {"machine_type": "e2-medium", "scheduling": [{"provisioning_model": "SPOT"}]}
    assert _cost("google_compute_instance", spot, "us-central1").monthly is None
    gpu = {"machine_type": "n1-standard-4", "guest_accelerator": [{"type": "nvidia-tesla-t4", "count": 1}]}
    assert _cost("google_compute_instance", gpu, "us-central1").monthly is None


# ------------------------------------------------------------------------------------------- unpriced types


@pytest.mark.parametrize(
    "resource_type",
    [
        "aws_iam_role",
        "aws_security_group",
        "aws_subnet",
        "azurerm_resource_group",
        "azurerm_role_assignment",
        "google_project_iam_member",
        "google_compute_network",
        "random_id",
        "null_resource",
    ],
)
def test_types_that_cost_nothing_by_themselves_are_zero(resource_type: str) -> None:
    assert _cost(resource_type, {"name": "x"}) == Estimate(Decimal(0), "no charge")


@pytest.mark.parametrize(
    "resource_type",
    ["aws_s3_bucket", "aws_lambda_function", "google_storage_bucket", "azurerm_storage_account"],
)
def test_usage_priced_types_are_unknown(resource_type: str) -> None:
    assert _cost(resource_type, {}) == Estimate(None, "usage-based: priced by use, not by the plan")


def test_scaled_and_other_types_are_unknown_with_their_reason() -> None:
    assert (
        _cost("aws_autoscaling_group", {"desired_capacity": 3}).basis == "depends on how many instances run"
    )
    assert _cost("aws_launch_template", {"instance_type": "m5.large"}).monthly == 0  # runs nothing itself
    assert "per VM" in _cost("google_compute_router_nat", {}, "us-central1").basis
    assert _cost("aws_foo_bar", {}) == Estimate(None, "aws_foo_bar is not in price table 2026.11")


# ------------------------------------------------------------------------------------------- user tables

USER_TABLE = """\
# version: acme-2026-q4
# currency: usd
# source: our negotiated rates
provider,resource,sku,region,unit,price
aws,aws_instance,m5.large,us-east-1,month,50
aws,aws_instance,m5.xlarge,*,hour,0.15
"""


def test_a_user_table_replaces_the_shipped_one_entirely(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(USER_TABLE, encoding="utf-8")
    table = load_table(path)
    assert (table.version, table.currency) == ("acme-2026-q4", "USD")
    assert estimate("aws_instance", {"instance_type": "m5.large"}, "us-east-1", table).monthly == Decimal(50)
    assert estimate("aws_instance", {"instance_type": "m5.xlarge"}, "eu-north-1", table).monthly == Decimal(
        "109.5"
    )
    gone = estimate("aws_instance", {"instance_type": "t3.micro"}, "us-east-1", table)
    assert gone.basis == "instance type t3.micro not in price table acme-2026-q4 for us-east-1"
    assert estimate("aws_iam_role", {}, None, table).monthly == 0


def test_a_user_table_without_a_version_is_named_after_its_file(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("provider,resource,sku,region,unit,price\n", encoding="utf-8")
    assert load_table(path) == PriceTable("rates.csv", "USD", (), str(path))


def test_a_price_whose_unit_does_not_fit_the_quantity_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("provider,resource,sku,region,unit,price\naws,aws_instance,m5.large,*,gb-month,1\n")
    result = estimate("aws_instance", {"instance_type": "m5.large"}, "us-east-1", load_table(path))
    assert result.monthly is None and "line 2" in result.basis


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("aws,aws_instance,m5.large,us-east-1,hour,abc", "'abc' is not a decimal number"),
        ("aws,aws_instance,m5.large,us-east-1,hour,-1", "zero or more"),
        ("aws,aws_instance,m5.large,us-east-1,day,1", "unit 'day' is not one of"),
        ("aws,aws_instance,m5.large,us-east-1,hour", "wrong number of fields"),
        ("aws,aws_instance,,us-east-1,hour,1", "sku is empty"),
        ("aws,aws_instance,M5.LARGE,US-EAST-1,hour,2", "already priced on line 4"),
    ],
)
def test_a_malformed_row_is_a_user_error_naming_the_line(tmp_path: Path, row: str, problem: str) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(
        f"# version: x\nprovider,resource,sku,region,unit,price\n\n{USER_TABLE.splitlines()[4]}\n{row}\n"
    )
    with pytest.raises(UserError, match="line 5") as error:
        load_table(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_a_table_without_its_header_or_file_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("# version: x\nprovider,resource,sku,unit,price\n")
    with pytest.raises(UserError, match=r"line 2: the header lacks region"):
        load_table(path)
    with pytest.raises(UserError, match="does not exist"):
        load_table(tmp_path / "missing.csv")
