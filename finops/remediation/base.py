"""The playbook interface and what every playbook gets: AWS clients, the opt-out tag, the clock.

A playbook finds candidates (`discover`), and checks one again just before it is changed
(`recheck`); the calls themselves are run and verified by `finops.remediation.operations`, the
same way for every playbook.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from finops.errors import UserError
from finops.policy.prices import PriceTable, load_table
from finops.remediation.model import Change, Discovery

DEFAULT_OPT_OUT = "finops:skip=true"


@dataclass(frozen=True)
class OptOut:
    """Resources tagged `key` (with `value`, any case; any value when `value` is None) are never touched."""

    key: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> OptOut:
        key, sep, value = text.partition("=")
        if not key.strip():
            raise UserError(f"The opt-out tag {text!r} has no key; write it as KEY=VALUE or KEY.")
        return cls(key.strip(), value.strip() if sep else None)

    def matches(self, tags: Mapping[str, str]) -> bool:
        if self.key not in tags:
            return False
        return self.value is None or str(tags[self.key]).strip().lower() == self.value.lower()

    def __str__(self) -> str:
        return self.key if self.value is None else f"{self.key}={self.value}"


class Aws:
    """boto3 clients, one per (service, region), made when first asked for. boto3 finds credentials
    and `AWS_ENDPOINT_URL` itself; retries use its standard mode."""

    def __init__(self, session: Any | None = None) -> None:
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}

    def default_region(self) -> str:
        """The region boto3 would use (AWS_DEFAULT_REGION, the profile), else us-east-1."""
        import boto3

        session = self._session or boto3.session.Session()
        return str(session.region_name or "us-east-1")

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            import boto3  # imported here: only remediation needs the EC2/ELB/CloudWatch clients
            from botocore.config import Config

            session = self._session or boto3.session.Session()
            config = Config(
                retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=30
            )
            self._clients[key] = session.client(service, region_name=region, config=config)
        return self._clients[key]


@dataclass(frozen=True)
class Scan:
    """What discovery and rechecks run with."""

    aws: Aws
    regions: tuple[str, ...]
    now: datetime  # timezone-aware UTC; tests move it to age resources
    opt_out: OptOut = field(default_factory=lambda: OptOut.parse(DEFAULT_OPT_OUT))
    prices: PriceTable = field(default_factory=load_table)


class Params(BaseModel):
    """A playbook's settings (`[remediation.playbooks.NAME]` in the config); unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Inside `Playbook` its `Params` attribute hides the class above: annotations there use this name.
AnyParams = Params


class Playbook(ABC):
    name: ClassVar[str]  # registry key, e.g. "stop-idle-instances"
    title: ClassVar[str]  # for people, e.g. "Stop idle EC2 instances"
    Params: ClassVar[type[Params]]

    @classmethod
    def params(cls, raw: Mapping[str, Any] | None) -> AnyParams:
        """The playbook's settings from the config; a `UserError` naming the key when one is wrong."""
        try:
            return cls.Params.model_validate(dict(raw or {}))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(settings)'}: {e['msg']}" for e in exc.errors()
            )
            raise UserError(f"[remediation.playbooks.{cls.name}] in the config: {problems}") from None

    @abstractmethod
    def discover(self, scan: Scan, params: AnyParams) -> Discovery:
        """The resources to change now, each as a `Change`, and those left alone with why."""

    @abstractmethod
    def recheck(self, scan: Scan, params: AnyParams, change: Change) -> str | None:
        """Just before executing: None when `change` still applies (the resource exists, still
        matches, and is not opted out), else why it is dropped, for people."""
