"""The policy file: which tags resources must carry and how much a change may add to the bill.

A YAML file (`finops-bot policy check --policy FILE`) or the `[policies]` section of
FINOPS_CONFIG, both of this shape:

    tags:
      required: [owner, cost-center]          # every in-scope resource created or updated
      resources: [aws_instance, "aws_db_*"]   # type names or globs; default: every taggable type
      required_by_type: {"aws_db_*": [backup-policy]}   # more keys for some types
      allowed: {environment: [prod, staging, dev], owner: "^[a-z.-]+@example[.]com$"}
      exempt: ["module.legacy.*"]             # resource addresses (globs)
      case: {keys: sensitive, values: any}    # keys: sensitive|insensitive; values: any|lower|upper
      unknown: warn                           # tags only known after apply: warn|fail
    cost:
      max_monthly_increase: 500               # in `currency`, added per month by the plan
      currency: USD
      budgets: true                           # the increase must fit the matching budget's headroom
      prices: prices.csv                      # a price table to use instead of the shipped one

Every error names the file and the key, and says what is accepted.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from finops.errors import UserError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Case(_Section):
    keys: Literal["sensitive", "insensitive"] = "sensitive"
    values: Literal["any", "lower", "upper"] = "any"


class TagPolicy(_Section):
    required: list[str] = Field(default_factory=list)
    resources: list[str] = Field(default_factory=list)  # empty: every taggable type
    required_by_type: dict[str, list[str]] = Field(default_factory=dict)
    allowed: dict[str, list[str] | str] = Field(default_factory=dict)
    exempt: list[str] = Field(default_factory=list)
    case: Case = Field(default_factory=Case)
    unknown: Literal["warn", "fail"] = "warn"

    @field_validator("allowed")
    @classmethod
    def _patterns(cls, allowed: dict[str, list[str] | str]) -> dict[str, list[str] | str]:
        for key, rule in allowed.items():
            if isinstance(rule, str):
                try:
                    re.compile(rule)
                except re.error as exc:
                    raise ValueError(f"{key}: {rule!r} is not a regular expression ({exc})") from None
        return allowed

    @field_validator("required", "exempt", "resources")
    @classmethod
    def _no_blanks(cls, values: list[str]) -> list[str]:
        if any(not value.strip() for value in values):
            raise ValueError("holds an empty name")
        return values

    def keys_for(self, resource_type: str) -> list[str]:
        """The tag keys a resource of this type must carry."""
        keys = list(self.required)
        for pattern, more in self.required_by_type.items():
            if fnmatchcase(resource_type, pattern):
                keys += [key for key in more if key not in keys]
        return keys

    def allows(self, key: str, value: str) -> bool:
        """Whether `value` is allowed for tag `key` (any value when the policy says nothing)."""
        rule = self.allowed.get(key)
        if rule is None:
            return True
        if isinstance(rule, str):
            return re.fullmatch(rule, value) is not None
        return value in rule


class CostPolicy(_Section):
    max_monthly_increase: Decimal | None = Field(None, ge=0)
    currency: str = "USD"
    budgets: bool = True
    prices: Path | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{3}", value):
            raise ValueError(f"{value!r} is not a three-letter currency code such as USD")
        return value.upper()


class Policy(_Section):
    tags: TagPolicy = Field(default_factory=TagPolicy)
    cost: CostPolicy = Field(default_factory=CostPolicy)


def parse(document: Any, where: str, base: Path | None = None) -> Policy:
    """A policy from a parsed document; `where` names it in errors; a relative `cost.prices`
    path is taken from `base` (the policy file's folder)."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise UserError(f"{where}: a policy is a mapping with `tags:` and `cost:` sections")
    try:
        policy = Policy.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {_said(error)}"
            for error in exc.errors()
        )
        raise UserError(f"{where}: {problems} (see the policy example in the README)") from None
    prices = policy.cost.prices
    if prices is not None and base is not None and not prices.is_absolute():
        policy = policy.model_copy(update={"cost": policy.cost.model_copy(update={"prices": base / prices})})
    return policy


def _said(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    return str(error["msg"]).removeprefix("Value error, ")


def load(path: Path) -> Policy:
    """Read a YAML policy file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"policy file {path} does not exist: pass --policy FILE") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read policy file {path}: {exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"policy file {path} is not valid YAML: {exc}") from None
    return parse(document, f"policy file {path}", path.parent)


def from_config(section: dict[str, Any], config_file: Path | None) -> Policy | None:
    """The `[policies]` section of FINOPS_CONFIG: inline, or `file = "policy.yml"` (relative
    to the config file); None when it says nothing."""
    if not section:
        return None
    base = config_file.parent if config_file else Path.cwd()
    if "file" in section:
        if len(section) > 1:
            raise UserError("FINOPS_CONFIG [policies]: give either `file` or the policy inline, not both")
        return load(base / str(section["file"]))
    return parse(section, "FINOPS_CONFIG [policies]", base)


DEFAULT_FILES = ("finops-policy.yml", "finops-policy.yaml", ".finops-policy.yml")  # in the working directory


def resolve(path: Path | None, section: dict[str, Any], config_file: Path | None) -> Policy | None:
    """The policy in force: `path` when given, else FINOPS_CONFIG's `[policies]`, else a
    finops-policy.yml in the working directory; None when there is none."""
    if path is not None:
        return load(path)
    configured = from_config(section, config_file)
    if configured is not None:
        return configured
    found = next((Path(name) for name in DEFAULT_FILES if Path(name).is_file()), None)
    return load(found) if found else None
