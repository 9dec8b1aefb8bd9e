"""The AWS calls a plan may make, each proven, made and checked the same way for every playbook.

A small registry keyed by (service, operation), as boto3 names them. For each operation:

- `dry_run(aws, call)` proves the call before it is approved: the resource exists (described
  first: EC2's DryRun alone does not always say so), then the call is made with `DryRun=True`;
  AWS answers `DryRunOperation` when it would have succeeded. APIs without a DryRun form
  (elbv2 `delete_load_balancer`) are proven by describing the resource.
- `perform(aws, call, token)` makes the call and returns a short JSON-safe summary for people.
  It is safe to repeat: "already gone" errors count as done, and `create_snapshot` tags the
  snapshot it makes with `finops:remediation-step = token` and reuses one already tagged so.
- `verify(aws, call, token)` says whether the call's effect is in place now. The executor asks
  after each call, and on resume after a crash to decide whether a started step must be made again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from finops.errors import UserError
from finops.remediation.base import Aws
from finops.remediation.model import Call, DryRun

STEP_TAG = "finops:remediation-step"  # on snapshots made by `create_snapshot`; its value is the token
DRY_RUN_OK = "DryRunOperation"

# Codes that mean "you may not", for a hint on what to do.
_DENIED = frozenset(
    {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthFailure", "OptInRequired"}
)
_BAD_CREDENTIALS = frozenset(
    {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException"}
)
NO_CREDENTIALS = (
    "no AWS credentials found; set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
    "or run the bot with an IAM role"
)


class CallFailed(UserError):
    """AWS refused or failed a call; `code` is AWS's error code (e.g. `IncorrectState`)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------------- errors


def error_code(exc: BaseException) -> str | None:
    """AWS's error code of a botocore `ClientError`, else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return None
    code = (response.get("Error") or {}).get("Code")
    return str(code) if code else None


def error_text(exc: BaseException) -> str:
    """`Code: message` of a `ClientError`, for people."""
    response = getattr(exc, "response", None)
    error = (response.get("Error") or {}) if isinstance(response, Mapping) else {}
    code, message = error.get("Code"), error.get("Message")
    if not code:
        return str(exc)
    return f"{code}: {message}" if message else str(code)


def _hint(code: str | None, api: str) -> str:
    if code in _DENIED:
        return f"; allow {api} in the IAM policy of the bot's AWS identity"
    if code in _BAD_CREDENTIALS:
        return "; the AWS credentials are wrong or expired: renew them (AWS_PROFILE, AWS_ACCESS_KEY_ID...)"
    return ""


def _api_of(exc: BaseException, service: str | None) -> str:
    operation = getattr(exc, "operation_name", None) or "the call"
    return f"{service}:{operation}" if service else str(operation)


@contextmanager
def aws_errors(region: str, service: str | None = None) -> Iterator[None]:
    """Turn what botocore raises into a `UserError` that says what to do."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
    )
    from botocore.exceptions import ConnectionError as Unreachable

    try:
        yield
    except NoCredentialsError:
        raise UserError(NO_CREDENTIALS) from None
    except NoRegionError:
        raise UserError("no AWS region given; name the regions to scan in the config") from None
    except ClientError as exc:
        api = _api_of(exc, service)
        raise UserError(
            f"AWS refused {api} in {region} ({error_text(exc)}){_hint(error_code(exc), api)}"
        ) from None
    except (Unreachable, HTTPClientError) as exc:
        raise UserError(
            f"cannot reach AWS in {region}: {exc}; check the network, the region and AWS_ENDPOINT_URL if set"
        ) from None
    except ParamValidationError as exc:
        raise UserError(f"an AWS call in {region} has parameters AWS does not accept: {exc}") from None
    except BotoCoreError as exc:
        raise UserError(f"an AWS call in {region} failed: {exc}") from None


# ---------------------------------------------------------------------------------------------- registry


def _one(call: Call, key: str) -> str:
    value = call.params.get(key)
    if not isinstance(value, str) or not value:
        raise UserError(f"{call.api} needs {key} in its parameters; got {call.params!r}")
    return value


def _instance_ids(call: Call) -> list[str]:
    ids = call.params.get("InstanceIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise UserError(f"{call.api} needs InstanceIds (a list of instance ids); got {call.params!r}")
    return list(ids)


# Describes the resource and returns what AWS answered; raises ClientError (e.g. *.NotFound) when it is gone.
Exists = Callable[[Any, Call], Any]
Perform = Callable[[Any, Call, str], dict[str, Any]]
Verify = Callable[[Any, Call, str], bool]


@dataclass(frozen=True)
class Operation:
    service: str
    operation: str
    exists: Exists  # describes the resource the call acts on
    what: str  # the resource, for people: "volume", "load balancer"
    perform: Perform
    verify: Verify | None  # None: in place once the resource is gone (`exists` fails with `gone`)
    has_dry_run: bool = True
    gone: frozenset[str] = frozenset()  # error codes meaning the call's effect is already there


OPERATIONS: dict[tuple[str, str], Operation] = {}


def _register(operation: Operation) -> None:
    OPERATIONS[(operation.service, operation.operation)] = operation


def operation(call: Call) -> Operation:
    """The registered operation of `call`; a clear error for one the bot does not know."""
    try:
        return OPERATIONS[(call.service, call.operation)]
    except KeyError:
        known = ", ".join(f"{s}.{o}" for s, o in sorted(OPERATIONS))
        raise UserError(
            f"{call.service}.{call.operation} ({call.api}) is not an operation the bot can run; "
            f"it runs: {known}"
        ) from None


def supported(call: Call) -> bool:
    return (call.service, call.operation) in OPERATIONS


# ---------------------------------------------------------------------------------------------- public


def dry_run(aws: Aws, call: Call) -> DryRun:
    """Prove `call` without making it: ok, or what failed (the AWS error code and message)."""
    from botocore.exceptions import ClientError

    op = operation(call)
    client = aws.client(call.service, call.region)
    with aws_errors(call.region, call.service):
        try:
            op.exists(client, call)
        except ClientError as exc:
            return DryRun(False, f"{error_text(exc)} (checking that the {op.what} exists)")
        if not op.has_dry_run:
            return DryRun(
                True, f"no DryRun form in the API; checked that the {op.what} {_target(call)} exists"
            )
        try:
            getattr(client, call.operation)(**_dry_run_params(call), DryRun=True)
        except ClientError as exc:
            if error_code(exc) == DRY_RUN_OK:
                return DryRun(True, "DryRun: permitted")
            return DryRun(False, error_text(exc))
    return DryRun(False, f"{call.api} with DryRun=True returned without DryRunOperation; not proven")


def perform(aws: Aws, call: Call, token: str) -> dict[str, Any]:
    """Make `call` (safe to repeat) and return what happened, JSON-safe, for people."""
    from botocore.exceptions import ClientError

    op = operation(call)
    client = aws.client(call.service, call.region)
    with aws_errors(call.region, call.service):
        try:
            return op.perform(client, call, token)
        except ClientError as exc:
            code = error_code(exc)
            if code in op.gone:
                return {"already_done": True, "detail": error_text(exc)}
            raise CallFailed(
                f"{call.api} on {_target(call)} in {call.region} failed: {error_text(exc)}"
                f"{_hint(code, call.api)}",
                code or "unknown",
            ) from None


def verify(aws: Aws, call: Call, token: str) -> bool:
    """Whether the effect of `call` is in place now (see each operation's `verify`)."""
    op = operation(call)
    client = aws.client(call.service, call.region)
    check = op.verify or _gone_when_missing(op.exists, op.gone)
    with aws_errors(call.region, call.service):
        return check(client, call, token)


def _target(call: Call) -> str:
    for key in ("InstanceIds", "VolumeId", "SnapshotId", "AllocationId", "LoadBalancerArn"):
        if key in call.params:
            value = call.params[key]
            return ", ".join(value) if isinstance(value, list) else str(value)
    return str(call.params)


def _dry_run_params(call: Call) -> dict[str, Any]:
    if call.operation == "create_snapshot":
        return _snapshot_params(call, "dry-run")
    return dict(call.params)


def _not_found(exc: BaseException, codes: frozenset[str]) -> bool:
    return error_code(exc) in codes


def _gone_when_missing(
    exists: Exists, codes: frozenset[str], going: Callable[[Any], bool] | None = None
) -> Verify:
    """A `verify` that holds when `exists` fails with one of `codes` (the resource is gone), or,
    given `going`, when `going` holds for what `exists` answered."""

    def verify(client: Any, call: Call, token: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            found = exists(client, call)
        except ClientError as exc:
            if _not_found(exc, codes):
                return True
            raise
        return going is not None and going(found)

    return verify


# ------------------------------------------------------------------------------------------- ec2: instances

_INSTANCE_GONE = frozenset({"InvalidInstanceID.NotFound"})
# Not running any more: the saving is in place (a terminated instance cannot be stopped, nor need to be).
_NOT_RUNNING = frozenset({"stopping", "stopped", "shutting-down", "terminated"})


def _instances(client: Any, ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("describe_instances").paginate(InstanceIds=ids):
        for reservation in page.get("Reservations", []):
            found.extend(reservation.get("Instances", []))
    return found


def _exists_instances(client: Any, call: Call) -> None:
    _instances(client, _instance_ids(call))


def _perform_stop(client: Any, call: Call, token: str) -> dict[str, Any]:
    response = client.stop_instances(**call.params)
    states = {i["InstanceId"]: i["CurrentState"]["Name"] for i in response.get("StoppingInstances", [])}
    if len(states) == 1:
        (instance_id, state), *_ = states.items()
        return {"instance_id": instance_id, "state": state}
    return {"states": states}


def _verify_stop(client: Any, call: Call, token: str) -> bool:
    """Every instance is stopping or stopped (or gone: nothing runs any more)."""
    from botocore.exceptions import ClientError

    ids = _instance_ids(call)
    try:
        found = _instances(client, ids)
    except ClientError as exc:
        if _not_found(exc, _INSTANCE_GONE) and len(ids) == 1:
            return True
        raise
    states = {i["InstanceId"]: i["State"]["Name"] for i in found}
    return all(states.get(i, "terminated") in _NOT_RUNNING for i in ids)


_register(
    Operation(
        "ec2",
        "stop_instances",
        _exists_instances,
        "instance",
        _perform_stop,
        _verify_stop,
        gone=_INSTANCE_GONE,
    )
)


# ------------------------------------------------------------------------------------------- ec2: snapshots


def _snapshot_params(call: Call, token: str) -> dict[str, Any]:
    """The call's parameters with the step tag added to the snapshot's TagSpecifications."""
    params = dict(call.params)
    step_tag = {"Key": STEP_TAG, "Value": token}
    specs = [dict(spec) for spec in params.get("TagSpecifications", [])]
    for spec in specs:
        if spec.get("ResourceType") == "snapshot":
            spec["Tags"] = [t for t in spec.get("Tags", []) if t.get("Key") != STEP_TAG] + [step_tag]
            break
    else:
        specs.append({"ResourceType": "snapshot", "Tags": [step_tag]})
    params["TagSpecifications"] = specs
    return params


def snapshots_of_step(client: Any, token: str) -> list[dict[str, Any]]:
    """The account's snapshots tagged `finops:remediation-step = token`, not failed, oldest first."""
    found: list[dict[str, Any]] = []
    pages = client.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": f"tag:{STEP_TAG}", "Values": [token]}]
    )
    for page in pages:
        found.extend(s for s in page.get("Snapshots", []) if s.get("State") != "error")
    return sorted(found, key=lambda s: (s.get("StartTime") is None, s.get("StartTime"), s["SnapshotId"]))


def _exists_volume(client: Any, call: Call) -> Any:
    return client.describe_volumes(VolumeIds=[_one(call, "VolumeId")])


def _perform_create_snapshot(client: Any, call: Call, token: str) -> dict[str, Any]:
    existing = snapshots_of_step(client, token)
    if existing:
        snapshot = existing[0]
        return {"snapshot_id": snapshot["SnapshotId"], "state": snapshot.get("State", ""), "reused": True}
    snapshot = client.create_snapshot(**_snapshot_params(call, token))
    return {"snapshot_id": snapshot["SnapshotId"], "state": snapshot.get("State", "")}


def _verify_create_snapshot(client: Any, call: Call, token: str) -> bool:
    """A snapshot tagged with the step's token exists (pending or completed: AWS takes the
    point-in-time copy when the call returns)."""
    return bool(snapshots_of_step(client, token))


_register(
    Operation(
        "ec2",
        "create_snapshot",
        _exists_volume,
        "volume",
        _perform_create_snapshot,
        _verify_create_snapshot,
    )
)


def _exists_snapshot(client: Any, call: Call) -> None:
    client.describe_snapshots(SnapshotIds=[_one(call, "SnapshotId")])


_SNAPSHOT_GONE = frozenset({"InvalidSnapshot.NotFound"})


def _perform_delete_snapshot(client: Any, call: Call, token: str) -> dict[str, Any]:
    client.delete_snapshot(**call.params)
    return {"deleted": _one(call, "SnapshotId")}


_register(
    Operation(
        "ec2",
        "delete_snapshot",
        _exists_snapshot,
        "snapshot",
        _perform_delete_snapshot,
        None,
        gone=_SNAPSHOT_GONE,
    )
)


# ---------------------------------------------------------------------------------------------- ec2: volumes

_VOLUME_GONE = frozenset({"InvalidVolume.NotFound"})


def _perform_delete_volume(client: Any, call: Call, token: str) -> dict[str, Any]:
    client.delete_volume(**call.params)
    return {"deleted": _one(call, "VolumeId")}


def _deleting(response: Any) -> bool:
    """The described volume is being deleted (or is deleted)."""
    return all(v.get("State") in ("deleting", "deleted") for v in response.get("Volumes", []))


_register(
    Operation(
        "ec2",
        "delete_volume",
        _exists_volume,
        "volume",
        _perform_delete_volume,
        _gone_when_missing(_exists_volume, _VOLUME_GONE, _deleting),
        gone=_VOLUME_GONE,
    )
)


# ------------------------------------------------------------------------------------------- ec2: addresses

_ADDRESS_GONE = frozenset({"InvalidAllocationID.NotFound"})


def _exists_address(client: Any, call: Call) -> None:
    client.describe_addresses(AllocationIds=[_one(call, "AllocationId")])


def _perform_release(client: Any, call: Call, token: str) -> dict[str, Any]:
    client.release_address(**call.params)
    return {"released": _one(call, "AllocationId")}


_register(
    Operation(
        "ec2",
        "release_address",
        _exists_address,
        "Elastic IP address",
        _perform_release,
        None,
        gone=_ADDRESS_GONE,
    )
)


# ---------------------------------------------------------------------------------------------- elbv2

_LB_GONE = frozenset({"LoadBalancerNotFound"})


def _exists_load_balancer(client: Any, call: Call) -> None:
    client.describe_load_balancers(LoadBalancerArns=[_one(call, "LoadBalancerArn")])


def _perform_delete_lb(client: Any, call: Call, token: str) -> dict[str, Any]:
    client.delete_load_balancer(**call.params)
    return {"deleted": _one(call, "LoadBalancerArn")}


_register(
    Operation(
        "elbv2",
        "delete_load_balancer",
        _exists_load_balancer,
        "load balancer",
        _perform_delete_lb,
        None,
        has_dry_run=False,
        gone=_LB_GONE,
    )
)
