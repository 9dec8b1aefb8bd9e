"""The monthly cost of one Terraform resource state, from a small versioned price table.

The shipped table (`prices.csv` beside this module) holds public on-demand list prices for the
resource types people most often add in a pull request; `cost.prices` in the policy names a file
of the same format that replaces it. Each priced resource type has a small function in `_PRICED`
that reads the plan's attribute values, picks the SKUs and quantities, and looks the prices up.

An estimate is never a guess: a missing price, region or attribute gives `monthly=None` with the
reason, never zero. Zero means "costs nothing by itself" (`FREE` types) or "does not exist".
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

from finops.errors import UserError

HOURS_PER_MONTH = Decimal(730)
COLUMNS = ("provider", "resource", "sku", "region", "unit", "price")
ANY_REGION = "*"

# unit -> (what the quantity counts, label in the basis, hourly?)
UNITS: Mapping[str, tuple[str, str, bool]] = {
    "hour": ("each", "h", True),
    "month": ("each", "month", False),
    "gb-month": ("gb", "GB-month", False),
    "gb-hour": ("gb", "GB-h", True),
    "iops-month": ("iops", "IOPS-month", False),
    "mbps-month": ("mbps", "MBps-month", False),
    "vcpu-hour": ("vcpu", "vCPU-h", True),
}
_MEASURE_SUFFIX = {"each": "", "gb": " GB", "iops": " IOPS", "mbps": " MB/s", "vcpu": " vCPU"}


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Types that cost nothing by themselves (names or globs). What they hold or route is billed elsewhere.
FREE: tuple[str, ...] = _names(
    """
    aws_iam_* aws_security_group aws_security_group_rule aws_vpc_security_group_*_rule aws_default_* aws_vpc
    aws_vpc_dhcp_options* aws_vpc_ipv4_cidr_block_association aws_vpc_peering_connection* aws_subnet
    aws_route aws_route_table aws_route_table_association aws_main_route_table_association
    aws_internet_gateway aws_internet_gateway_attachment aws_egress_only_internet_gateway aws_network_acl
    aws_network_acl_rule aws_network_acl_association aws_network_interface aws_network_interface_attachment
    aws_eip_association aws_volume_attachment aws_key_pair aws_placement_group aws_db_subnet_group
    aws_db_parameter_group aws_db_option_group aws_rds_cluster_parameter_group aws_elasticache_subnet_group
    aws_elasticache_parameter_group aws_lb_listener aws_lb_listener_rule aws_lb_listener_certificate
    aws_lb_target_group aws_lb_target_group_attachment aws_alb_listener aws_alb_listener_rule
    aws_alb_target_group aws_alb_target_group_attachment aws_autoscaling_policy aws_autoscaling_attachment
    aws_autoscaling_lifecycle_hook aws_autoscaling_schedule aws_appautoscaling_policy
    aws_appautoscaling_target aws_lambda_permission aws_lambda_alias aws_lambda_event_source_mapping
    aws_cloudwatch_event_target aws_s3_bucket_acl aws_s3_bucket_cors_configuration
    aws_s3_bucket_lifecycle_configuration aws_s3_bucket_logging aws_s3_bucket_notification
    aws_s3_bucket_ownership_controls aws_s3_bucket_policy aws_s3_bucket_public_access_block
    aws_s3_bucket_server_side_encryption_configuration aws_s3_bucket_versioning
    aws_s3_bucket_website_configuration aws_sns_topic_policy aws_sns_topic_subscription aws_sqs_queue_policy
    aws_ecr_lifecycle_policy aws_ecr_repository_policy aws_ecs_cluster aws_ecs_cluster_capacity_providers
    aws_ecs_task_definition aws_kms_alias aws_acm_certificate aws_acm_certificate_validation
    aws_ssm_parameter aws_secretsmanager_secret_version aws_secretsmanager_secret_policy
    aws_cloudwatch_log_resource_policy aws_eks_addon aws_eks_access_entry aws_eks_access_policy_association
    aws_eks_identity_provider_config aws_launch_configuration aws_launch_template
    azurerm_resource_group azurerm_role_assignment azurerm_role_definition azurerm_user_assigned_identity
    azurerm_federated_identity_credential azurerm_management_lock azurerm_policy_*
    azurerm_resource_group_policy_* azurerm_subscription_policy_* azurerm_virtual_network azurerm_subnet
    azurerm_subnet_*_association azurerm_network_security_group azurerm_network_security_rule
    azurerm_application_security_group azurerm_network_interface azurerm_network_interface_*_association
    azurerm_route_table azurerm_route azurerm_nat_gateway_public_ip_association
    azurerm_nat_gateway_public_ip_prefix_association azurerm_lb_backend_address_pool
    azurerm_lb_backend_address_pool_address azurerm_lb_probe azurerm_lb_rule azurerm_lb_nat_rule
    azurerm_lb_outbound_rule azurerm_private_dns_zone_virtual_network_link azurerm_private_dns_a_record
    azurerm_private_dns_cname_record azurerm_dns_*_record azurerm_storage_container
    azurerm_storage_management_policy azurerm_key_vault_access_policy azurerm_key_vault_secret
    azurerm_monitor_diagnostic_setting azurerm_postgresql_flexible_server_configuration
    azurerm_postgresql_flexible_server_database azurerm_postgresql_flexible_server_firewall_rule
    azurerm_mysql_flexible_server_configuration azurerm_mysql_flexible_database
    azurerm_mysql_flexible_server_firewall_rule azurerm_mssql_firewall_rule azurerm_mssql_server
    azurerm_sql_server azurerm_virtual_machine_extension azurerm_virtual_machine_data_disk_attachment
    google_*_iam_member google_*_iam_binding google_*_iam_policy google_*_iam_custom_role
    google_service_account google_service_account_key google_project_service google_compute_network
    google_compute_subnetwork google_compute_firewall google_compute_route google_compute_router
    google_compute_network_peering google_compute_health_check google_compute_region_health_check
    google_compute_backend_service google_compute_region_backend_service google_compute_url_map
    google_compute_target_http_proxy google_compute_target_https_proxy
    google_compute_managed_ssl_certificate google_compute_instance_template
    google_compute_region_instance_template google_compute_attached_disk google_dns_record_set
    google_sql_database google_sql_user google_storage_bucket_acl google_storage_default_object_acl
    google_storage_bucket_object_acl google_pubsub_subscription_iam_* google_secret_manager_secret_iam_*
    random_* null_resource terraform_data time_* tls_* local_file local_sensitive_file
    """
)

# Types priced by use (requests, stored bytes, transfer), which a plan does not show.
USAGE_BASED: tuple[str, ...] = _names(
    """
    aws_s3_bucket aws_s3_object aws_lambda_function aws_sqs_queue aws_sns_topic aws_cloudwatch_log_group
    aws_cloudfront_distribution aws_api_gateway_rest_api aws_api_gateway_stage aws_apigatewayv2_api
    aws_apigatewayv2_stage aws_efs_file_system aws_ecr_repository aws_kinesis_firehose_delivery_stream
    aws_sfn_state_machine aws_route53_record aws_rds_cluster aws_cloudwatch_event_rule aws_cloudtrail
    azurerm_storage_account azurerm_storage_blob azurerm_storage_share azurerm_storage_queue
    azurerm_storage_table azurerm_function_app azurerm_linux_function_app azurerm_windows_function_app
    azurerm_log_analytics_workspace azurerm_application_insights azurerm_key_vault azurerm_key_vault_key
    azurerm_cosmosdb_account azurerm_servicebus_namespace azurerm_eventhub_namespace
    google_storage_bucket google_storage_bucket_object google_pubsub_topic google_pubsub_subscription
    google_cloudfunctions_function google_cloudfunctions2_function google_cloud_run_service
    google_cloud_run_v2_service google_cloud_run_v2_job google_bigquery_dataset google_bigquery_table
    google_logging_project_sink google_logging_project_bucket_config google_secret_manager_secret
    google_secret_manager_secret_version google_artifact_registry_repository google_kms_crypto_key
    """
)

# Types whose cost depends on how many machines run, which a plan does not fix.
SCALED: tuple[str, ...] = _names(
    """
    aws_autoscaling_group aws_eks_node_group aws_ecs_service
    azurerm_kubernetes_cluster azurerm_kubernetes_cluster_node_pool azurerm_linux_virtual_machine_scale_set
    azurerm_windows_virtual_machine_scale_set azurerm_virtual_machine_scale_set
    google_container_node_pool google_compute_instance_group_manager
    google_compute_region_instance_group_manager
    """
)

# Types with a fixed reason why the plan cannot price them.
UNPRICEABLE: Mapping[str, str] = {
    "google_compute_router_nat": "priced per VM using it and per GB processed, not by the plan",
}

USAGE_REASON = "usage-based: priced by use, not by the plan"
SCALED_REASON = "depends on how many instances run"
# Families that the code can look up but the shipped table does not price (a user table can).
NOT_SHIPPED = frozenset({"azure_vm_windows"})


@dataclass(frozen=True)
class Estimate:
    """A monthly cost (None when unknown) and, for people, how it was priced or why not."""

    monthly: Decimal | None
    basis: str

    @property
    def known(self) -> bool:
        return self.monthly is not None


@dataclass(frozen=True)
class Price:
    provider: str
    resource: str
    sku: str
    region: str
    unit: str
    amount: Decimal
    line: int


@dataclass(frozen=True)
class PriceTable:
    version: str
    currency: str
    rows: tuple[Price, ...] = ()
    source: str = ""
    _index: dict[tuple[str, str, str], Price] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {(p.resource, p.sku, p.region): p for p in self.rows})

    def find(self, resource: str, sku: str, region: str | None) -> Price | None:
        """The price for `sku` of `resource` in `region`, else its every-region price."""
        sku = sku.lower()
        if region is not None:
            price = self._index.get((resource, sku, region))
            if price is not None:
                return price
        return self._index.get((resource, sku, ANY_REGION))

    def regions(self, resource: str, sku: str) -> list[str]:
        sku = sku.lower()
        return sorted({p.region for p in self.rows if p.resource == resource and p.sku == sku})

    def skus(self, resource: str, region: str | None) -> list[Price]:
        """Every price of `resource` that applies in `region`."""
        return [p for p in self.rows if p.resource == resource and p.region in (region, ANY_REGION)]


# ---------------------------------------------------------------------------------------------- loading


def load_table(path: Path | None = None) -> PriceTable:
    """The price table in `path`, or the one shipped with the bot."""
    if path is None:
        return _shipped()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"price table {path} does not exist: fix `cost.prices` in the policy") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read price table {path}: {exc}") from None
    return parse_table(text, str(path), default_version=path.name)


@functools.cache
def _shipped() -> PriceTable:
    text = resources.files("finops.policy").joinpath("prices.csv").read_text(encoding="utf-8")
    return parse_table(text, "shipped price table prices.csv", default_version="shipped")


def parse_table(text: str, where: str, default_version: str = "custom") -> PriceTable:
    """A price table from CSV text; `where` names it in errors."""
    meta: dict[str, str] = {}
    header: list[str] | None = None
    rows: list[Price] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            name, colon, value = line[1:].partition(":")
            if colon and header is None and name.strip().lower() in ("version", "currency", "source"):
                meta[name.strip().lower()] = value.strip()
            continue
        cells = [cell.strip() for cell in next(csv.reader([line]))]
        if header is None:
            header = [cell.lower() for cell in cells]
            missing = [name for name in COLUMNS if name not in header]
            if missing:
                raise UserError(
                    f"{where}, line {number}: the header lacks {', '.join(missing)}; "
                    f"the first row after the # comments must be `{','.join(COLUMNS)}`"
                )
            continue
        price = _row(dict(zip(header, cells, strict=False)), len(cells) == len(header), where, number)
        key = (price.resource, price.sku, price.region)
        if key in seen:
            raise UserError(
                f"{where}, line {number}: {price.resource} {price.sku} in {price.region} is already "
                f"priced on line {seen[key]}; keep one row"
            )
        seen[key] = number
        rows.append(price)
    if header is None:
        raise UserError(f"{where}: no header row; expected `{','.join(COLUMNS)}` after the # comments")
    currency = meta.get("currency", "USD").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise UserError(f"{where}: `# currency: {currency}` is not a three-letter code such as USD")
    return PriceTable(meta.get("version") or default_version, currency, tuple(rows), where)


def _row(cells: Mapping[str, str], complete: bool, where: str, number: int) -> Price:
    def bad(problem: str) -> UserError:
        return UserError(f"{where}, line {number}: {problem} (columns: {','.join(COLUMNS)})")

    if not complete:
        raise bad("wrong number of fields")
    empty = [name for name in COLUMNS if not cells.get(name)]
    if empty:
        raise bad(f"{', '.join(empty)} is empty")
    unit = cells["unit"].lower()
    if unit not in UNITS:
        raise bad(f"unit {cells['unit']!r} is not one of {', '.join(UNITS)}")
    try:
        amount = Decimal(cells["price"])
    except InvalidOperation:
        raise bad(f"price {cells['price']!r} is not a decimal number") from None
    if not amount.is_finite() or amount < 0:
        raise bad(f"price {cells['price']!r} must be a number of zero or more")
    return Price(
        provider=cells["provider"].lower(),
        resource=cells["resource"],
        sku=cells["sku"].lower(),
        region=normalise_region(cells["region"]),
        unit=unit,
        amount=amount,
        line=number,
    )


def normalise_region(region: str) -> str:
    """`East US` and `eastus` are the same Azure location; AWS and GCP codes are unchanged."""
    return region.strip().lower().replace(" ", "")


# ---------------------------------------------------------------------------------------------- estimating


def estimate(
    resource_type: str, values: Mapping[str, Any] | None, region: str | None, table: PriceTable
) -> Estimate:
    """The monthly cost of one resource in the state `values` (None: it does not exist)."""
    if values is None:
        return Estimate(Decimal(0), "does not exist")
    priced = _PRICED.get(resource_type)
    if priced is not None:
        place = normalise_region(region) if region else None
        return priced.function(_Bill(resource_type, values, place, table))
    if resource_type in UNPRICEABLE:
        return Estimate(None, UNPRICEABLE[resource_type])
    if _matches(resource_type, SCALED):
        return Estimate(None, SCALED_REASON)
    if _matches(resource_type, USAGE_BASED):
        return Estimate(None, USAGE_REASON)
    if _matches(resource_type, FREE):
        return Estimate(Decimal(0), "no charge")
    return Estimate(None, f"{resource_type} is not in price table {table.version}")


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


class _Bill:
    """Adds up the priced parts of one resource; the first missing piece makes it unknown."""

    def __init__(self, resource_type: str, values: Mapping[str, Any], region: str | None, table: PriceTable):
        self.type = resource_type
        self.values = values
        self.region = region
        self.table = table
        self.total = Decimal(0)
        self.parts: list[str] = []
        self.notes: list[str] = []
        self.problem: str | None = None

    def charge(
        self,
        family: str,
        sku: str,
        label: str,
        quantity: Decimal = Decimal(1),
        measure: str = "each",
        times: int = 1,
        why: str = "",
        missing: str | None = None,
    ) -> None:
        """Add `quantity` (counted in `measure`) of `sku`, `times` over (`why`)."""
        if self.problem is not None:
            return
        price = self.table.find(family, sku, self.region)
        if price is None:
            self.problem = self._missing(family, sku, missing or label)
            return
        counts, unit_label, hourly = UNITS[price.unit]
        if counts != measure:
            self.problem = (
                f"{label}: the price table (line {price.line}) gives a price per {price.unit}, "
                f"which does not fit {_MEASURE_SUFFIX[measure].strip() or 'a count'}"
            )
            return
        monthly = price.amount * quantity * (HOURS_PER_MONTH if hourly else 1) * times
        self.total += monthly
        text = f"{_num(price.amount)} {self.table.currency}/{unit_label}"
        if measure != "each" or quantity != 1:
            text += f" x {_num(quantity)}{_MEASURE_SUFFIX[measure]}"
        if hourly:
            text += " x 730 h"
        if times != 1:
            text += f" x {times} ({why})" if why else f" x {times}"
        self.parts.append(f"{label}: {text}")

    def _missing(self, family: str, sku: str, what: str) -> str:
        elsewhere = self.table.regions(family, sku)
        if self.region is None:
            return f"region not known (needed to price {what})"
        reason = f"{what} not in price table {self.table.version} for {self.region}"
        if elsewhere:
            reason += f" (priced for {', '.join(elsewhere)})"
        return reason

    def note(self, text: str) -> None:
        self.notes.append(text)

    def fail(self, reason: str) -> Estimate:
        return Estimate(None, reason)

    def result(self) -> Estimate:
        if self.problem is not None:
            return Estimate(None, self.problem)
        parts = list(self.parts)
        if parts and self.region:
            label, _, rest = parts[0].partition(": ")
            parts[0] = f"{label} in {self.region}: {rest}"
        basis = " + ".join(parts) or "nothing priced"
        if self.notes:
            basis += "; " + "; ".join(self.notes)
        return Estimate(self.total, basis)


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


# ------------------------------------------------------------------------------------------ attribute access


def _text(values: Mapping[str, Any] | None, key: str) -> str | None:
    value = values.get(key) if values else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _number(values: Mapping[str, Any] | None, key: str) -> Decimal | None:
    value = values.get(key) if values else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _block(values: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    """The first (usually only) nested block `key`, as Terraform's JSON plan writes it (a list)."""
    value = values.get(key) if values else None
    if isinstance(value, Mapping):
        return value
    first = value[0] if isinstance(value, list) and value else None
    return first if isinstance(first, Mapping) else None


def _blocks(values: Mapping[str, Any] | None, key: str) -> list[Mapping[str, Any]]:
    value = values.get(key) if values else None
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return [value] if isinstance(value, Mapping) else []


def _unknown_attribute(name: str) -> str:
    return f"{name} is not in the plan (unset, or known only after apply)"


def _last_segment(value: str) -> str:
    """`zones/us-central1-a/machineTypes/e2-medium` or a full URL -> `e2-medium`."""
    return value.rstrip("/").rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------- registry


_Pricer = Callable[["_Bill"], Estimate]


@dataclass(frozen=True)
class _Priced:
    function: _Pricer
    families: tuple[str, ...]


_PRICED: dict[str, _Priced] = {}


def _prices(*types: str, families: Sequence[str]) -> Callable[[_Pricer], _Pricer]:
    def register(function: _Pricer) -> _Pricer:
        for name in types:
            _PRICED[name] = _Priced(function, tuple(families))
        return function

    return register


def priced_types() -> Mapping[str, tuple[str, ...]]:
    """Each resource type the estimator prices, with the price families it looks up."""
    return {name: priced.families for name, priced in _PRICED.items()}


# ---------------------------------------------------------------------------------------------- AWS


@_prices("aws_instance", families=("aws_instance", "aws_ebs_volume"))
def _aws_instance(bill: _Bill) -> Estimate:
    values = bill.values
    instance_type = _text(values, "instance_type")
    if instance_type is None:
        return bill.fail(_unknown_attribute("instance_type"))
    tenancy = _text(values, "tenancy")
    if tenancy in ("dedicated", "host"):
        return bill.fail(
            f"{tenancy} tenancy is not in price table {bill.table.version} (shared tenancy only)"
        )
    market = _block(values, "instance_market_options")
    if market is not None and _text(market, "market_type") == "spot":
        return bill.fail("spot instance: the price changes with the spot market")
    bill.charge("aws_instance", instance_type, instance_type, missing=f"instance type {instance_type}")
    root = _block(values, "root_block_device")
    if not _device(bill, "root volume", root):
        bill.note("root volume not included (its size and type come from the AMI unless the plan sets them)")
    for index, device in enumerate(_blocks(values, "ebs_block_device")):
        if not _device(bill, f"ebs_block_device[{index}]", device):
            bill.note(f"ebs_block_device[{index}] not included (volume_size or volume_type not in the plan)")
    bill.note("Linux on-demand price")
    return bill.result()


def _device(bill: _Bill, label: str, device: Mapping[str, Any] | None) -> bool:
    """Price an instance's block device when the plan gives its size and type."""
    size = _number(device, "volume_size")
    volume_type = _text(device, "volume_type")
    if size is None or volume_type is None:
        return False
    _ebs(bill, label, volume_type.lower(), size, _number(device, "iops"), _number(device, "throughput"))
    return True


def _ebs(
    bill: _Bill, label: str, volume_type: str, size: Decimal, iops: Decimal | None, throughput: Decimal | None
) -> None:
    """Storage, and provisioned IOPS / throughput above what the volume type includes."""
    bill.charge(
        "aws_ebs_volume",
        volume_type,
        f"{label} {volume_type}",
        size,
        "gb",
        missing=f"EBS volume type {volume_type}",
    )
    if volume_type in ("io1", "io2"):
        if iops is None:
            bill.problem = bill.problem or f"{label}: {_unknown_attribute('iops')}"
            return
        bill.charge("aws_ebs_volume", f"{volume_type}-iops", f"{label} IOPS", iops, "iops")
        if volume_type == "io2" and iops > 32000:
            bill.note("io2 IOPS above 32,000 priced at the first tier (AWS charges less above it)")
    elif volume_type == "gp3":
        if iops is not None and iops > 3000:
            bill.charge("aws_ebs_volume", "gp3-iops", f"{label} IOPS above 3000", iops - 3000, "iops")
        if throughput is not None and throughput > 125:
            bill.charge(
                "aws_ebs_volume", "gp3-throughput", f"{label} throughput above 125", throughput - 125, "mbps"
            )
    elif volume_type == "standard":
        bill.note(f"{label}: I/O requests not included")


@_prices("aws_ebs_volume", families=("aws_ebs_volume",))
def _aws_ebs_volume(bill: _Bill) -> Estimate:
    volume_type = _text(bill.values, "type")
    size = _number(bill.values, "size")
    if volume_type is None:
        return bill.fail(_unknown_attribute("type"))
    if size is None:
        return bill.fail(_unknown_attribute("size"))
    iops, throughput = _number(bill.values, "iops"), _number(bill.values, "throughput")
    _ebs(bill, "volume", volume_type.lower(), size, iops, throughput)
    return bill.result()


@_prices("aws_ebs_snapshot", families=("aws_ebs_snapshot",))
def _aws_ebs_snapshot(bill: _Bill) -> Estimate:
    """The full size of the source volume at the standard-tier price: an upper bound, since
    snapshots are incremental (`size` in GB, or Terraform's `volume_size`)."""
    size = _number(bill.values, "size")
    if size is None:
        size = _number(bill.values, "volume_size")
    if size is None:
        return bill.fail(_unknown_attribute("size"))
    bill.charge("aws_ebs_snapshot", "standard", f"{_num(size)} GB snapshot", size, "gb")
    bill.note("standard tier, full volume size (an upper bound: snapshots are incremental)")
    return bill.result()


@_prices("aws_db_instance", families=("aws_db_instance", "aws_db_storage"))
def _aws_db_instance(bill: _Bill) -> Estimate:
    values = bill.values
    instance_class = _text(values, "instance_class")
    engine = _text(values, "engine")
    if instance_class is None:
        return bill.fail(_unknown_attribute("instance_class"))
    if engine is None:
        return bill.fail(_unknown_attribute("engine"))
    copies, why = (2, "multi-AZ") if values.get("multi_az") is True else (1, "")
    bill.charge(
        "aws_db_instance",
        f"{engine.lower()}/{instance_class}",
        f"{instance_class} {engine}",
        times=copies,
        why=why,
        missing=f"{engine} instance class {instance_class}",
    )
    size = _number(values, "allocated_storage")
    storage_type = (_text(values, "storage_type") or "").lower()
    if size is None or not storage_type:
        bill.note("storage not included (allocated_storage or storage_type not in the plan)")
    else:
        bill.charge(
            "aws_db_storage",
            storage_type,
            f"{_num(size)} GB {storage_type}",
            size,
            "gb",
            copies,
            why,
            missing=f"RDS storage type {storage_type}",
        )
        iops = _number(values, "iops")
        if storage_type in ("io1", "io2") and iops is not None:
            bill.charge(
                "aws_db_storage", f"{storage_type}-iops", "provisioned IOPS", iops, "iops", copies, why
            )
        elif storage_type == "gp3" and iops is not None:
            bill.note("gp3 IOPS above the included baseline not priced")
    if copies == 1:
        bill.note("single-AZ")
    bill.note("backups beyond the free allowance not included")
    return bill.result()


@_prices("aws_rds_cluster_instance", families=("aws_rds_cluster_instance",))
def _aws_rds_cluster_instance(bill: _Bill) -> Estimate:
    instance_class = _text(bill.values, "instance_class")
    engine = _text(bill.values, "engine")
    if instance_class is None:
        return bill.fail(_unknown_attribute("instance_class"))
    if instance_class == "db.serverless":
        return bill.fail("Aurora Serverless v2: priced per ACU-hour used, not by the plan")
    if engine is None:
        return bill.fail(_unknown_attribute("engine"))
    engine = "aurora-mysql" if engine == "aurora" else engine.lower()
    bill.charge(
        "aws_rds_cluster_instance",
        f"{engine}/{instance_class}",
        f"{instance_class} {engine}",
        missing=f"{engine} instance class {instance_class}",
    )
    bill.note("cluster storage and I/O are priced by use")
    return bill.result()


@_prices("aws_nat_gateway", families=("aws_nat_gateway",))
def _aws_nat_gateway(bill: _Bill) -> Estimate:
    bill.charge("aws_nat_gateway", "nat-gateway", "NAT gateway")
    bill.note("data processing (per GB) not included")
    return bill.result()


@_prices("aws_lb", "aws_alb", families=("aws_lb",))
def _aws_lb(bill: _Bill) -> Estimate:
    kind = (_text(bill.values, "load_balancer_type") or "application").lower()
    bill.charge("aws_lb", kind, f"{kind} load balancer")
    bill.note("capacity units (LCU) not included")
    return bill.result()


@_prices("aws_elb", families=("aws_elb",))
def _aws_elb(bill: _Bill) -> Estimate:
    bill.charge("aws_elb", "classic", "classic load balancer")
    bill.note("data processed not included")
    return bill.result()


@_prices("aws_eks_cluster", families=("aws_eks_cluster",))
def _aws_eks_cluster(bill: _Bill) -> Estimate:
    bill.charge("aws_eks_cluster", "standard-support", "EKS control plane")
    bill.note("standard support (versions in extended support cost more); nodes priced separately")
    return bill.result()


@_prices("aws_elasticache_cluster", families=("aws_elasticache",))
def _aws_elasticache_cluster(bill: _Bill) -> Estimate:
    node_type = _text(bill.values, "node_type")
    if node_type is None:
        return bill.fail(_unknown_attribute("node_type"))
    nodes = _number(bill.values, "num_cache_nodes")
    if nodes is None:
        return bill.fail(_unknown_attribute("num_cache_nodes"))
    bill.charge("aws_elasticache", node_type, node_type, nodes, missing=f"node type {node_type}")
    return bill.result()


@_prices("aws_elasticache_replication_group", families=("aws_elasticache",))
def _aws_elasticache_replication_group(bill: _Bill) -> Estimate:
    node_type = _text(bill.values, "node_type")
    if node_type is None:
        return bill.fail(_unknown_attribute("node_type"))
    nodes = _number(bill.values, "num_cache_clusters")
    if nodes is None:
        groups = _number(bill.values, "num_node_groups")
        replicas = _number(bill.values, "replicas_per_node_group")
        if groups is None or replicas is None:
            return bill.fail(_unknown_attribute("num_cache_clusters"))
        nodes = groups * (replicas + 1)
    bill.charge("aws_elasticache", node_type, node_type, nodes, missing=f"node type {node_type}")
    return bill.result()


@_prices("aws_eip", families=("aws_eip",))
def _aws_eip(bill: _Bill) -> Estimate:
    bill.charge("aws_eip", "public-ipv4", "public IPv4 address")
    return bill.result()


@_prices("aws_kms_key", families=("aws_kms_key",))
def _aws_kms_key(bill: _Bill) -> Estimate:
    bill.charge("aws_kms_key", "customer-managed", "KMS key")
    bill.note("requests not included")
    return bill.result()


@_prices("aws_secretsmanager_secret", families=("aws_secretsmanager_secret",))
def _aws_secret(bill: _Bill) -> Estimate:
    bill.charge("aws_secretsmanager_secret", "secret", "secret")
    bill.note("API calls not included")
    return bill.result()


@_prices("aws_route53_zone", families=("aws_route53_zone",))
def _aws_route53_zone(bill: _Bill) -> Estimate:
    bill.charge("aws_route53_zone", "hosted-zone", "hosted zone")
    bill.note("queries not included")
    return bill.result()


@_prices("aws_dynamodb_table", families=("aws_dynamodb_table",))
def _aws_dynamodb_table(bill: _Bill) -> Estimate:
    values = bill.values
    mode = (_text(values, "billing_mode") or "PROVISIONED").upper()
    if mode == "PAY_PER_REQUEST":
        return bill.fail(USAGE_REASON)
    if (_text(values, "table_class") or "STANDARD").upper() != "STANDARD":
        return bill.fail(
            f"table_class {_text(values, 'table_class')} is not in price table {bill.table.version}"
        )
    capacity = {"rcu": Decimal(0), "wcu": Decimal(0)}
    for owner in [values, *_blocks(values, "global_secondary_index")]:
        for unit, key in (("rcu", "read_capacity"), ("wcu", "write_capacity")):
            amount = _number(owner, key)
            if amount is None:
                return bill.fail(_unknown_attribute(key))
            capacity[unit] += amount
    bill.charge("aws_dynamodb_table", "rcu", "read capacity units", capacity["rcu"])
    bill.charge("aws_dynamodb_table", "wcu", "write capacity units", capacity["wcu"])
    bill.note("provisioned capacity; storage and the free tier not included")
    return bill.result()


# ---------------------------------------------------------------------------------------------- Azure

# Managed disk tiers: tier number -> size in GiB (P/E/S share the numbering).
DISK_TIERS: Mapping[int, int] = {
    1: 4,
    2: 8,
    3: 16,
    4: 32,
    6: 64,
    10: 128,
    15: 256,
    20: 512,
    30: 1024,
    40: 2048,
    50: 4096,
    60: 8192,
    70: 16384,
    80: 32767,
}
_DISK_KINDS = {
    "premium_lrs": ("P", ""),
    "premium_zrs": ("P", "-zrs"),
    "standardssd_lrs": ("E", ""),
    "standardssd_zrs": ("E", "-zrs"),
    "standard_lrs": ("S", ""),
}


def _azure_size(size: str) -> str:
    """`Standard_B1s`, `standard_b1s` and `B1s` name the same size."""
    lowered = size.lower()
    return lowered if lowered.startswith(("standard_", "basic_")) else f"standard_{lowered}"


def _managed_disk(bill: _Bill, label: str, account_type: str, size: Decimal) -> None:
    kind = _DISK_KINDS.get(account_type.lower())
    if kind is None:
        bill.problem = bill.problem or (
            f"{label}: storage type {account_type} is not in price table {bill.table.version}"
        )
        return
    letter, suffix = kind
    tiers = []
    for price in bill.table.skus("azure_managed_disk", bill.region):
        match = re.fullmatch(rf"{letter.lower()}(\d+){re.escape(suffix)}", price.sku)
        if match and int(match.group(1)) in DISK_TIERS:
            tiers.append((DISK_TIERS[int(match.group(1))], price.sku))
    fitting = sorted(tier for tier in tiers if tier[0] >= size)
    if not fitting:
        where = f"for {bill.region}" if bill.region else "(region not known)"
        bill.problem = bill.problem or (
            f"{label}: no {account_type} disk tier of {_num(size)} GB or more in price table "
            f"{bill.table.version} {where}"
        )
        return
    tier_size, sku = fitting[0]
    bill.charge(
        "azure_managed_disk",
        sku,
        f"{label} {account_type} {_num(size)} GB -> {sku.upper()} ({tier_size} GiB)",
    )


@_prices("azurerm_managed_disk", families=("azure_managed_disk",))
def _azurerm_managed_disk(bill: _Bill) -> Estimate:
    account_type = _text(bill.values, "storage_account_type")
    size = _number(bill.values, "disk_size_gb")
    if account_type is None:
        return bill.fail(_unknown_attribute("storage_account_type"))
    if size is None:
        return bill.fail(_unknown_attribute("disk_size_gb"))
    _managed_disk(bill, "disk", account_type, size)
    if account_type.lower().startswith("standard"):
        bill.note("disk operations not included")
    return bill.result()


def _azure_vm(bill: _Bill, size_key: str, family: str, os_name: str) -> Estimate:
    size = _text(bill.values, size_key)
    if size is None:
        return bill.fail(_unknown_attribute(size_key))
    if (_text(bill.values, "priority") or "Regular").lower() == "spot":
        return bill.fail("spot VM: the price changes with the spot market")
    if not any(price.resource == family for price in bill.table.rows):
        return bill.fail(
            f"{os_name} VM prices are not in price table {bill.table.version} "
            f"(add {family} rows to a price table of your own to price them)"
        )
    bill.charge(family, _azure_size(size), size, missing=f"VM size {size} ({os_name})")
    os_disk = _block(bill.values, "os_disk")
    disk_size = _number(os_disk, "disk_size_gb")
    disk_type = _text(os_disk, "storage_account_type")
    if disk_size is not None and disk_type is not None:
        _managed_disk(bill, "OS disk", disk_type, disk_size)
    else:
        bill.note("OS disk not included (its size comes from the image unless the plan sets disk_size_gb)")
    bill.note(f"{os_name} pay-as-you-go price")
    return bill.result()


@_prices("azurerm_linux_virtual_machine", families=("azure_vm_linux", "azure_managed_disk"))
def _azurerm_linux_vm(bill: _Bill) -> Estimate:
    return _azure_vm(bill, "size", "azure_vm_linux", "Linux")


@_prices("azurerm_windows_virtual_machine", families=("azure_vm_windows", "azure_managed_disk"))
def _azurerm_windows_vm(bill: _Bill) -> Estimate:
    return _azure_vm(bill, "size", "azure_vm_windows", "Windows")


@_prices("azurerm_virtual_machine", families=("azure_vm_linux", "azure_vm_windows"))
def _azurerm_legacy_vm(bill: _Bill) -> Estimate:
    windows = bool(_blocks(bill.values, "os_profile_windows_config"))
    if windows:
        return _azure_vm(bill, "vm_size", "azure_vm_windows", "Windows")
    return _azure_vm(bill, "vm_size", "azure_vm_linux", "Linux")


@_prices("azurerm_nat_gateway", families=("azurerm_nat_gateway",))
def _azurerm_nat_gateway(bill: _Bill) -> Estimate:
    sku = _text(bill.values, "sku_name") or "Standard"
    bill.charge("azurerm_nat_gateway", sku, "NAT gateway")
    bill.note("data processed not included")
    return bill.result()


@_prices("azurerm_lb", families=("azurerm_lb",))
def _azurerm_lb(bill: _Bill) -> Estimate:
    sku = _text(bill.values, "sku")
    if sku is None:
        return bill.fail(_unknown_attribute("sku"))
    bill.charge("azurerm_lb", sku, f"{sku} load balancer", missing=f"load balancer sku {sku}")
    if sku.lower() == "standard":
        bill.note("first 5 rules; more rules and data processed not included")
    return bill.result()


@_prices("azurerm_public_ip", families=("azurerm_public_ip",))
def _azurerm_public_ip(bill: _Bill) -> Estimate:
    sku = _text(bill.values, "sku")
    if sku is None:
        return bill.fail(_unknown_attribute("sku"))
    bill.charge("azurerm_public_ip", sku, f"{sku} public IP", missing=f"public IP sku {sku}")
    return bill.result()


@_prices("azurerm_dns_zone", "azurerm_private_dns_zone", families=("azure_dns_zone",))
def _azurerm_dns_zone(bill: _Bill) -> Estimate:
    bill.charge("azure_dns_zone", "zone", "DNS zone")
    bill.note("queries not included")
    return bill.result()


def _high_availability(values: Mapping[str, Any]) -> tuple[int, str]:
    block = _block(values, "high_availability")
    if block is not None and _text(block, "mode"):
        return 2, "high availability standby"
    return 1, ""


@_prices(
    "azurerm_postgresql_flexible_server",
    families=("azure_postgresql_flexible", "azure_postgresql_flexible_storage"),
)
def _azurerm_postgresql_flexible(bill: _Bill) -> Estimate:
    sku = _text(bill.values, "sku_name")
    if sku is None:
        return bill.fail(_unknown_attribute("sku_name"))
    copies, why = _high_availability(bill.values)
    bill.charge("azure_postgresql_flexible", sku, sku, times=copies, why=why, missing=f"sku_name {sku}")
    storage_mb = _number(bill.values, "storage_mb")
    if storage_mb is None:
        bill.note("storage not included (storage_mb not in the plan)")
    else:
        size = storage_mb / 1024
        bill.charge(
            "azure_postgresql_flexible_storage",
            "storage",
            f"{_num(size)} GB storage",
            size,
            "gb",
            copies,
            why,
        )
    bill.note("backup storage beyond the free allowance not included")
    return bill.result()


@_prices(
    "azurerm_mysql_flexible_server",
    families=("azure_mysql_flexible", "azure_mysql_flexible_storage"),
)
def _azurerm_mysql_flexible(bill: _Bill) -> Estimate:
    sku = _text(bill.values, "sku_name")
    if sku is None:
        return bill.fail(_unknown_attribute("sku_name"))
    copies, why = _high_availability(bill.values)
    bill.charge("azure_mysql_flexible", sku, sku, times=copies, why=why, missing=f"sku_name {sku}")
    size = _number(_block(bill.values, "storage"), "size_gb")
    if size is None:
        bill.note("storage not included (storage.size_gb not in the plan)")
    else:
        bill.charge(
            "azure_mysql_flexible_storage", "storage", f"{_num(size)} GB storage", size, "gb", copies, why
        )
    bill.note("extra IOPS and backup storage not included")
    return bill.result()


@_prices("azurerm_mssql_database", families=("azure_mssql_database", "azure_mssql_storage"))
def _azurerm_mssql_database(bill: _Bill) -> Estimate:
    values = bill.values
    if _text(values, "elastic_pool_id") or (_text(values, "sku_name") or "").lower() == "elasticpool":
        return Estimate(Decimal(0), "in an elastic pool: priced on the pool")
    sku = _text(values, "sku_name")
    if sku is None:
        return bill.fail(_unknown_attribute("sku_name"))
    lowered = sku.lower()
    if lowered.startswith("gp_s_"):
        return bill.fail("serverless: priced per vCore-second used, not by the plan")
    if values.get("zone_redundant") is True:
        return bill.fail(f"zone-redundant {sku} is not in price table {bill.table.version}")
    bill.charge("azure_mssql_database", sku, sku, missing=f"sku_name {sku}")
    tier = lowered.split("_", 1)[0]
    if tier in ("gp", "bc"):
        size = _number(values, "max_size_gb")
        if size is None:
            bill.note("storage not included (max_size_gb not in the plan)")
        else:
            bill.charge("azure_mssql_storage", tier, f"{_num(size)} GB storage", size, "gb")
        bill.note("SQL license included (Azure Hybrid Benefit not applied)")
    else:
        bill.note("storage beyond the tier's included size not included")
    bill.note("backup storage not included")
    return bill.result()


# ---------------------------------------------------------------------------------------------- Google


@_prices("google_compute_instance", families=("google_compute_instance", "google_compute_disk"))
def _google_compute_instance(bill: _Bill) -> Estimate:
    values = bill.values
    machine_type = _text(values, "machine_type")
    if machine_type is None:
        return bill.fail(_unknown_attribute("machine_type"))
    machine_type = _last_segment(machine_type)
    scheduling = _block(values, "scheduling")
    if scheduling is not None and (
        scheduling.get("preemptible") is True or (_text(scheduling, "provisioning_model") or "") == "SPOT"
    ):
        return bill.fail("spot/preemptible VM: the price changes with the market")
    if _blocks(values, "guest_accelerator"):
        return bill.fail(f"GPUs (guest_accelerator) are not in price table {bill.table.version}")
    bill.charge("google_compute_instance", machine_type, machine_type, missing=f"machine type {machine_type}")
    params = _block(_block(values, "boot_disk"), "initialize_params")
    size = _number(params, "size")
    disk_type = _text(params, "type")
    if size is not None and disk_type is not None:
        disk_type = _last_segment(disk_type)
        bill.charge("google_compute_disk", disk_type, f"boot disk {disk_type}", size, "gb")
    else:
        bill.note("boot disk not included (its size comes from the image unless the plan sets it)")
    bill.note("list price; sustained-use discounts not applied")
    return bill.result()


@_prices("google_compute_disk", families=("google_compute_disk",))
def _google_compute_disk(bill: _Bill) -> Estimate:
    disk_type = _text(bill.values, "type")
    size = _number(bill.values, "size")
    if disk_type is None:
        return bill.fail(_unknown_attribute("type"))
    if size is None:
        return bill.fail(_unknown_attribute("size"))
    disk_type = _last_segment(disk_type)
    bill.charge("google_compute_disk", disk_type, disk_type, size, "gb", missing=f"disk type {disk_type}")
    return bill.result()


_SQL_CUSTOM = re.compile(r"db-custom-(\d+)-(\d+)")
_SQL_LEGACY = re.compile(r"db-n1-(standard|highmem)-(\d+)")


@_prices("google_sql_database_instance", families=("google_sql_database_instance",))
def _google_sql_database_instance(bill: _Bill) -> Estimate:
    settings = _block(bill.values, "settings")
    tier = _text(settings, "tier")
    if tier is None:
        return bill.fail(_unknown_attribute("settings.tier"))
    if (_text(settings, "edition") or "ENTERPRISE").upper() != "ENTERPRISE":
        return bill.fail(f"edition {_text(settings, 'edition')} is not in price table {bill.table.version}")
    version = _text(bill.values, "database_version") or ""
    if version.upper().startswith("SQLSERVER"):
        return bill.fail(f"the SQL Server license of {version} is not in price table {bill.table.version}")
    copies, why = (2, "regional HA") if _text(settings, "availability_type") == "REGIONAL" else (1, "")
    family = "google_sql_database_instance"
    custom = _SQL_CUSTOM.fullmatch(tier)
    legacy = _SQL_LEGACY.fullmatch(tier)
    if custom or legacy:
        if custom:
            cpus, memory = Decimal(custom.group(1)), Decimal(custom.group(2)) / 1024
        else:
            assert legacy is not None
            cpus = Decimal(legacy.group(2))
            memory = cpus * (Decimal("3.75") if legacy.group(1) == "standard" else Decimal("6.5"))
        bill.charge(family, "vcpu", f"{tier} vCPUs", cpus, "vcpu", copies, why)
        bill.charge(family, "memory", f"{tier} memory", memory, "gb", copies, why)
    else:
        bill.charge(family, tier, tier, times=copies, why=why, missing=f"tier {tier}")
    size = _number(settings, "disk_size")
    disk_type = (_text(settings, "disk_type") or "PD_SSD").lower()
    if size is None:
        bill.note("storage not included (settings.disk_size not in the plan)")
    else:
        bill.charge(family, disk_type, f"{_num(size)} GB {disk_type}", size, "gb", copies, why)
    bill.note("backups and unused IP addresses not included")
    return bill.result()


@_prices(
    "google_compute_forwarding_rule",
    "google_compute_global_forwarding_rule",
    families=("google_forwarding_rule",),
)
def _google_forwarding_rule(bill: _Bill) -> Estimate:
    bill.charge("google_forwarding_rule", "rule", "forwarding rule")
    bill.note(
        "per-rule price; a project's first five rules are billed together at a flat rate; data not included"
    )
    return bill.result()


@_prices("google_container_cluster", families=("google_container_cluster",))
def _google_container_cluster(bill: _Bill) -> Estimate:
    bill.charge("google_container_cluster", "management-fee", "cluster management fee")
    bill.note("nodes priced separately; one zonal or Autopilot cluster per billing account is credited")
    return bill.result()


@_prices("google_dns_managed_zone", families=("google_dns_managed_zone",))
def _google_dns_managed_zone(bill: _Bill) -> Estimate:
    bill.charge("google_dns_managed_zone", "zone", "managed zone")
    bill.note("queries not included")
    return bill.result()
