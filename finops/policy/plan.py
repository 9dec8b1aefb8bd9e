"""Terraform plans (`terraform show -json PLANFILE`), read into the changes a policy checks.

Reads plan format versions 0.x and 1.x (`format_version`); another major version is refused,
since its meaning may have changed. For each resource change it works out the tags the
resource will carry after apply, the way each provider does:

- AWS: `tags_all` when the plan knows it, else the provider's `default_tags` merged under the
  resource's `tags` (autoscaling groups take no default tags and list theirs as {key, value});
- Google: `labels` (its `tags` are network tags, not cost tags), with `effective_labels` /
  `terraform_labels` when known, else the provider's `default_labels` merged under them;
- Azure and others: `tags`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finops.errors import UserError

SUPPORTED_MAJORS = ("0", "1")
CHECKED_ACTIONS = frozenset({"create", "update"})  # a replace is delete + create
_INDEX = re.compile(r"\[[^\]]*\]")
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")  # GCP zone -> region: us-central1-a -> us-central1
_AZ = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d+)[a-z]$")  # AWS zone -> region: us-east-1a -> us-east-1


@dataclass(frozen=True)
class Tags:
    """The tags a resource will carry after apply, as far as the plan knows them."""

    known: dict[str, str]  # key -> value
    pending: frozenset[str] = frozenset()  # keys that will be set, with values known after apply
    complete: bool = True  # False: more keys may come after apply (the map, or defaults, unknown)
    sensitive: frozenset[str] = frozenset()  # keys whose values must not be shown ("*": all)
    source: str = "tags"  # where they came from, for messages: tags_all, default tags + tags, labels…

    def has(self, key: str, insensitive: bool = False) -> str | None:
        """The key as the resource spells it, when it carries it with a value (or a pending one)."""
        for present in (*self.known, *self.pending):
            same = present == key or (insensitive and present.lower() == key.lower())
            if same and (present in self.pending or self.known[present].strip()):
                return present
        return None

    def shown(self, key: str) -> str:
        """A value fit to print."""
        return "(sensitive)" if "*" in self.sensitive or key in self.sensitive else self.known.get(key, "")


@dataclass(frozen=True)
class Change:
    address: str  # module.app.aws_instance.web[0]
    type: str  # aws_instance
    provider: str  # aws | azurerm | google | … (the provider's type name)
    actions: tuple[str, ...]  # ("create",), ("update",), ("delete", "create"), ("no-op",) …
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    after_unknown: Mapping[str, Any]
    tags: Tags | None  # None: the type carries no tags
    region: str | None
    plan: str  # the plan file it came from

    @property
    def checked(self) -> bool:
        """Whether tag rules apply: only what is created or updated (a replace creates)."""
        return bool(CHECKED_ACTIONS.intersection(self.actions))

    @property
    def action(self) -> str:
        if set(self.actions) == {"delete", "create"}:
            return "replace"
        return "+".join(self.actions)

    @property
    def config_address(self) -> str:
        """The address without instance keys: module.app.aws_instance.web."""
        return _INDEX.sub("", self.address)


@dataclass(frozen=True)
class Plan:
    path: str
    format_version: str
    terraform_version: str | None
    changes: list[Change] = field(default_factory=list)


def read(path: Path) -> Plan:
    """Read one plan file; `UserError` when it is not a readable Terraform JSON plan."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path}: not JSON ({exc.msg} at line {exc.lineno}); "
            "give the output of `terraform show -json PLANFILE`, not the binary plan"
        ) from None
    return parse(document, str(path))


def parse(document: Any, path: str) -> Plan:
    if not isinstance(document, dict) or "format_version" not in document:
        raise UserError(
            f"{path}: not a Terraform JSON plan (no format_version); run `terraform show -json PLANFILE`"
        )
    version = str(document["format_version"])
    major = version.split(".")[0]
    if major not in SUPPORTED_MAJORS:
        raise UserError(
            f"{path}: plan format_version {version} is not supported (this finops-bot reads 0.x and 1.x); "
            "upgrade finops-bot or produce the plan with a Terraform that writes format 1.x"
        )
    if "resource_changes" not in document and "planned_values" not in document:
        raise UserError(
            f"{path}: has no resource_changes: it looks like a state, not a plan; "
            "run `terraform show -json PLANFILE` on a saved plan (`terraform plan -out PLANFILE`)"
        )
    if document.get("errored"):
        raise UserError(f"{path}: Terraform reported errors while planning; fix the plan first")
    providers = _Providers(document)
    changes = [
        _change(raw, providers, path)
        for raw in _list(document.get("resource_changes"), path, "resource_changes")
        if isinstance(raw, dict) and raw.get("mode", "managed") == "managed"
    ]
    return Plan(path, version, document.get("terraform_version"), changes)


def _list(value: Any, path: str, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UserError(f"{path}: {name} is not a list; is this `terraform show -json` output?")
    return value


def _change(raw: dict[str, Any], providers: _Providers, path: str) -> Change:
    change = raw.get("change")
    if not isinstance(change, dict) or not isinstance(change.get("actions"), list):
        raise UserError(f"{path}: resource change {raw.get('address', '?')} has no change.actions")
    address = str(raw.get("address", ""))
    resource_type = str(raw.get("type", ""))
    provider = _provider_type(str(raw.get("provider_name", "")), resource_type)
    after = change.get("after") if isinstance(change.get("after"), dict) else None
    before = change.get("before") if isinstance(change.get("before"), dict) else None
    unknown = change.get("after_unknown")
    after_unknown: dict[str, Any] = unknown if isinstance(unknown, dict) else {}
    config = providers.config_for(_INDEX.sub("", address), provider)
    state = after if after is not None else before
    return Change(
        address=address,
        type=resource_type,
        provider=provider,
        actions=tuple(str(action) for action in change["actions"]),
        before=before,
        after=after,
        after_unknown=after_unknown,
        tags=_tags(provider, resource_type, state, after_unknown, change.get("after_sensitive"), config),
        region=_region(provider, state, config),
        plan=path,
    )


def _provider_type(provider_name: str, resource_type: str) -> str:
    """registry.terraform.io/hashicorp/aws -> aws; a missing name falls back to the type prefix."""
    if provider_name:
        return provider_name.rstrip("/").rsplit("/", 1)[-1]
    return resource_type.split("_", 1)[0]


class _Providers:
    """Provider blocks from the plan's configuration: which block each resource uses, and the
    constant (or variable-given) values of its arguments."""

    def __init__(self, document: dict[str, Any]) -> None:
        configuration = document.get("configuration") or {}
        self.blocks: dict[str, dict[str, Any]] = configuration.get("provider_config") or {}
        self.variables = {
            name: value.get("value")
            for name, value in (document.get("variables") or {}).items()
            if isinstance(value, dict)
        }
        self.keys: dict[str, str] = dict(_resource_provider_keys(configuration.get("root_module") or {}, ""))

    def config_for(self, config_address: str, provider: str) -> dict[str, Any]:
        key = self.keys.get(config_address)
        if key is None or key not in self.blocks:
            key = provider if provider in self.blocks else None
        block = self.blocks.get(key, {}) if key else {}
        return {name: self._value(expr) for name, expr in (block.get("expressions") or {}).items()}

    def _value(self, expression: Any) -> Any:
        """A constant, a `var.NAME` reference resolved from the plan's variables, or a nested
        block list (`default_tags { tags = … }` is a list of one mapping); else None."""
        if isinstance(expression, list):
            return [
                {k: self._value(v) for k, v in item.items()} if isinstance(item, dict) else None
                for item in expression
            ]
        if not isinstance(expression, dict):
            return None
        if "constant_value" in expression:
            return expression["constant_value"]
        for ref in expression.get("references") or []:
            if isinstance(ref, str) and ref.startswith("var.") and ref[4:] in self.variables:
                return self.variables[ref[4:]]
        return None


def _resource_provider_keys(module: dict[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for resource in module.get("resources") or []:
        if isinstance(resource, dict) and "address" in resource and "provider_config_key" in resource:
            yield prefix + str(resource["address"]), str(resource["provider_config_key"])
    for name, call in (module.get("module_calls") or {}).items():
        if isinstance(call, dict):
            yield from _resource_provider_keys(call.get("module") or {}, f"{prefix}module.{name}.")


def _tags(
    provider: str,
    resource_type: str,
    state: Mapping[str, Any] | None,
    after_unknown: Mapping[str, Any],
    after_sensitive: Any,
    config: Mapping[str, Any],
) -> Tags | None:
    if state is None:
        return None
    sensitive = _sensitive_keys(after_sensitive)
    if provider == "google":
        if "labels" not in state and "labels" not in after_unknown:
            return None
        totals: tuple[str, ...] = ("effective_labels", "terraform_labels")
        return _effective(
            state, after_unknown, totals, "labels", _defaults(config, "default_labels"), sensitive
        )
    if resource_type == "aws_autoscaling_group":
        return _asg_tags(state, after_unknown, sensitive)
    if "tags" not in state and "tags_all" not in state and "tags" not in after_unknown:
        return None
    defaults = _defaults(config, "default_tags") if provider == "aws" else {}
    return _effective(state, after_unknown, ("tags_all",), "tags", defaults, sensitive)


def _defaults(config: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The provider's default tags or labels: {} when it sets none, None when it sets some the
    plan does not show (a value known only at apply)."""
    if name not in config:
        return {}
    value = config[name]
    if isinstance(value, list):  # aws: a `default_tags { tags = … }` block
        block = value[0] if value and isinstance(value[0], dict) else {}
        value = block.get("tags", {}) if "tags" in block else {}
    if value is None:
        return None
    return value if isinstance(value, dict) else {}


def _effective(
    state: Mapping[str, Any],
    after_unknown: Mapping[str, Any],
    totals: Sequence[str],
    own: str,
    defaults: dict[str, Any] | None,
    sensitive: frozenset[str],
) -> Tags:
    """The provider's computed total map when known, else its defaults merged under `own`."""
    for total in totals:
        if isinstance(state.get(total), dict) and after_unknown.get(total) is not True:
            known, pending = _split(state[total], after_unknown.get(total))
            return Tags(known, pending, sensitive=sensitive, source=total)
    if after_unknown.get(own) is True:
        return Tags({}, complete=False, sensitive=sensitive, source=own)
    known, pending = _split(state.get(own) or {}, after_unknown.get(own))
    if defaults is None:
        return Tags(
            known, pending, complete=False, sensitive=sensitive, source=f"{own}; provider defaults unknown"
        )
    if defaults:
        merged = {str(k): "" if v is None else str(v) for k, v in defaults.items()}
        merged.update(known)
        return Tags(merged, pending, sensitive=sensitive, source=f"provider defaults + {own}")
    return Tags(known, pending, sensitive=sensitive, source=own)


def _split(values: Any, unknown: Any) -> tuple[dict[str, str], frozenset[str]]:
    """Known tag values, and the keys whose values are known only after apply."""
    pending = (
        frozenset(k for k, v in unknown.items() if v is True) if isinstance(unknown, dict) else frozenset()
    )
    known = {
        str(k): "" if v is None else str(v)
        for k, v in (values.items() if isinstance(values, dict) else ())
        if k not in pending
    }
    return known, pending


def _asg_tags(state: Mapping[str, Any], after_unknown: Mapping[str, Any], sensitive: frozenset[str]) -> Tags:
    """Autoscaling groups list their tags as `tag` blocks (and, in old providers, a `tags` list
    of maps) of {key, value, propagate_at_launch}; the provider's default_tags do not apply."""
    known: dict[str, str] = {}
    pending: set[str] = set()
    for name in ("tag", "tags"):
        items = state.get(name)
        unknown_items = after_unknown.get(name)
        if unknown_items is True:
            return Tags(known, frozenset(pending), complete=False, sensitive=sensitive, source=name)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict) or item.get("key") is None:
                continue
            unknown_item = (
                unknown_items[index] if isinstance(unknown_items, list) and index < len(unknown_items) else {}
            )
            if isinstance(unknown_item, dict) and unknown_item.get("value") is True:
                pending.add(str(item["key"]))
            else:
                known[str(item["key"])] = "" if item.get("value") is None else str(item["value"])
    return Tags(known, frozenset(pending), sensitive=sensitive, source="tag blocks")


def _sensitive_keys(after_sensitive: Any) -> frozenset[str]:
    if not isinstance(after_sensitive, dict):
        return frozenset()
    keys: set[str] = set()
    for name in ("tags", "tags_all", "labels", "effective_labels", "terraform_labels"):
        marked = after_sensitive.get(name)
        if isinstance(marked, dict):
            keys.update(k for k, v in marked.items() if v is True)
        elif marked is True:
            keys.add("*")
    return frozenset(keys)


def _region(provider: str, state: Mapping[str, Any] | None, config: Mapping[str, Any]) -> str | None:
    values = state or {}
    if provider == "aws":
        zone = values.get("availability_zone")
        if isinstance(zone, str) and (found := _AZ.match(zone)):
            return found.group(1)
        region = values.get("region") or config.get("region")
        return str(region) if region else None
    if provider == "azurerm":
        location = values.get("location")
        return str(location).replace(" ", "").lower() if location else None
    if provider == "google":
        for name in ("region", "location"):
            if isinstance(values.get(name), str) and values[name]:
                return str(values[name]).rsplit("/", 1)[-1]
        zone = values.get("zone")
        if isinstance(zone, str) and (found := _ZONE.match(zone.rsplit("/", 1)[-1])):
            return found.group(1)
        region = config.get("region")
        return str(region) if region else None
    return None
