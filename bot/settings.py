"""Settings: the only reader of the environment.

Values come from, highest first: the environment, the TOML file named by `FINOPS_CONFIG`,
then the defaults here. Secrets are `SecretStr`, so they never show in logs or reprs.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from finops.anomaly.detect import Thresholds
from finops.budgets import Rate as Rate_
from finops.errors import UserError
from finops.normalise import DEFAULT_TAG_ALIASES
from finops.sources import Access
from storage.db import normalise_url

CONFIG_ENV = "FINOPS_CONFIG"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///finops.db"


class ConfigError(UserError):
    """A setting is missing or wrong."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Channels(Section):
    alerts: str | None = None
    digest: str | None = None
    admin: str | None = None
    teams: dict[str, str] = Field(default_factory=dict)


class Roles(Section):
    """Who may do what: Slack user ids (U..., W...) and user group ids (S...) per role.

    Viewers read; engineers also act (budgets, anomalies); admins everything. Whoever is listed
    nowhere gets `default` (`none` shuts them out of the bot's data too).
    """

    admin: list[str] = Field(default_factory=list)
    engineer: list[str] = Field(default_factory=list)
    viewer: list[str] = Field(default_factory=list)
    default: Literal["viewer", "none"] = "viewer"

    @field_validator("admin", "engineer", "viewer")
    @classmethod
    def _slack_ids(cls, ids: list[str]) -> list[str]:
        return _slack_ids(ids)


class JiraRoute(Section):
    project: str | None = None
    component: str | None = None


class Jira(Section):
    """Follow-up issues in Jira: what to create, from which severity, and where per team."""

    issue_type: str = "Task"
    min_severity: Literal["low", "medium", "high", "critical", "none"] = "high"  # auto-create from
    priorities: dict[str, str] = Field(
        default_factory=lambda: {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}
    )
    reopen_within_days: int = Field(30, ge=0)  # a closed issue this recent is reopened, not duplicated
    tell_admins_after: int = Field(5, ge=1)  # failed attempts before the admin channel hears of it
    teams: dict[str, JiraRoute] = Field(default_factory=dict)  # team tag -> project / component


class TagAliases(Section):
    team: list[str] = Field(default_factory=lambda: list(DEFAULT_TAG_ALIASES["team"]))
    environment: list[str] = Field(default_factory=lambda: list(DEFAULT_TAG_ALIASES["environment"]))
    cost_center: list[str] = Field(default_factory=lambda: list(DEFAULT_TAG_ALIASES["cost_center"]))


class DetectionOverride(Section):
    scope: dict[str, str]
    min_impact: Decimal | None = None
    min_pct: float | None = None
    z: float | None = None


class Detection(Section):
    """Anomaly detection: thresholds (per scope if needed) and the series looked at."""

    min_impact: Decimal = Field(Thresholds.min_impact, ge=0)
    min_pct: float = Field(Thresholds.min_pct, ge=0)
    z: float = Field(Thresholds.z, gt=0)
    dimension_sets: list[list[str]] = Field(
        default_factory=lambda: [
            ["provider"],
            ["provider", "billing_account"],
            ["provider", "service"],
            ["team"],
        ]
    )
    overrides: list[DetectionOverride] = Field(default_factory=list)

    @field_validator("dimension_sets")
    @classmethod
    def _known_dimensions(cls, sets: list[list[str]]) -> list[list[str]]:
        from storage.models import DIMENSIONS

        for dimensions in sets:
            unknown = [d for d in dimensions if d not in DIMENSIONS]
            if unknown or not dimensions:
                raise ValueError(f"unknown dimension(s) {unknown}; use: {', '.join(DIMENSIONS)}")
        return sets


def _cron(value: str | None) -> str | None:
    """A crontab line (5 fields, UTC), checked the way the scheduler will read it; "" turns a
    job off."""
    if not value:
        return None
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a crontab line (minute hour day month weekday): {exc}") from None
    return value


# The delay of each provider's own billing data: a source with no newer data than this (plus the
# day being billed) is late. FOCUS ProviderName values, lower case.
PROVIDER_DELAY_HOURS = {"aws": 24.0, "amazon web services": 24.0, "microsoft": 36.0, "azure": 36.0}
DEFAULT_DELAY_HOURS = 24.0
API_POLL_MINUTES = 360.0


class Source(Section):
    """A billing source the scheduler ingests: a file, a watched folder or an s3:// prefix."""

    name: str = Field(min_length=1, max_length=200)  # stored with its data; keep it stable
    location: str = Field(min_length=1)
    format: str = "auto"
    cron: str | None = None  # crontab (UTC); default: poll every `every_minutes`
    # Default: every minute for files and folders (a look is cheap), every 6 hours for a provider's
    # API (a query costs money and the provider refreshes a few times a day).
    every_minutes: float | None = Field(None, gt=0)
    settle_seconds: float = Field(10.0, ge=0)  # a file changed more recently is still being written
    late_after_hours: float | None = Field(None, gt=0)  # default: the provider's own delay

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        return _cron(value)

    @property
    def poll_minutes(self) -> float:
        if self.every_minutes is not None:
            return self.every_minutes
        from finops import connectors, sources

        connectors.names()  # importing the connectors registers their API schemes
        return API_POLL_MINUTES if sources.scheme_of(self.location) else 1.0

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        from finops import connectors

        if value != "auto":
            try:
                connectors.get(value)
            except UserError as exc:  # it lists the valid names
                raise ValueError(str(exc)) from None
        return value


class Schedules(Section):
    """What `finops-bot run` does on its own, and when (UTC)."""

    sources: list[Source] = Field(default_factory=list)
    detect: str | None = "30 6 * * *"  # daily, even without new data (it also resolves quiet anomalies)
    budgets: str | None = "0 7 * * *"
    digest: str | None = "0 9 * * *"
    jira_sync_minutes: float = Field(15.0, gt=0)
    outbox_seconds: float = Field(5.0, gt=0)
    snooze_minutes: float = Field(1.0, gt=0)
    escalation_minutes: float = Field(5.0, gt=0)  # how often unacknowledged budget alerts are looked at
    remediation_seconds: float = Field(30.0, gt=0)  # approved plans to run, dead executions, expiries
    freshness_minutes: float = Field(10.0, gt=0)
    leader_seconds: float = Field(15.0, gt=0)  # how often a standby replica tries to take over
    shutdown_seconds: float = Field(20.0, ge=0)  # how long running jobs get to finish on SIGTERM

    @field_validator("detect", "budgets", "digest")
    @classmethod
    def _crontabs(cls, value: str | None) -> str | None:
        return _cron(value)

    @field_validator("sources")
    @classmethod
    def _unique(cls, sources: list[Source]) -> list[Source]:
        names = [s.name for s in sources]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"source name(s) {', '.join(twice)} used twice; each source needs its own")
        return sources


BUDGET_PERIODS = ("monthly", "quarterly", "yearly")


def _slack_ids(ids: list[str]) -> list[str]:
    bad = [i for i in ids if not (i[:1] in ("U", "W", "S") and i[1:].isalnum() and i.isupper())]
    if bad:
        raise ValueError(f"{', '.join(bad)} not Slack user (U...) or user group (S...) id(s)")
    return ids


class BudgetConfig(Section):
    """A budget declared in the config file: the file is the source of truth for it (Slack and
    the CLI refuse to change it)."""

    name: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(gt=0, lt=Decimal("1e12"))
    currency: str = "USD"
    period: Literal["monthly", "quarterly", "yearly"] = "monthly"
    scope: dict[str, str | list[str]] = Field(default_factory=dict)  # dimension -> value(s)
    thresholds: list[int] = Field(default_factory=lambda: [50, 80, 100])
    forecast_alert: bool = True  # alert when the forecast for the period end crosses 100%
    owners: list[str] = Field(default_factory=list)  # Slack users or user groups
    approvers: list[str] = Field(default_factory=list)  # who approves an increase (default: admins)
    escalation: str | None = None  # mentioned when an alert is not acknowledged in time
    channel: str | None = None
    parent: str | None = None
    rollover: bool = False
    rollover_cap: Decimal | None = Field(None, ge=0)  # most carried over (default: the amount)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        from finops.currency import is_currency

        if not is_currency(value.upper()):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code, e.g. USD or EUR")
        return value.upper()

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, values: list[int]) -> list[int]:
        if not values or not all(0 < t <= 1000 for t in values):
            raise ValueError("thresholds are percentages between 1 and 1000, e.g. [50, 80, 100]")
        return sorted(set(values))

    @field_validator("scope")
    @classmethod
    def _scope(cls, scope: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        from storage.models import DIMENSIONS

        unknown = [k for k in scope if k not in DIMENSIONS and not k.startswith("tag:")]
        if unknown:
            raise ValueError(f"unknown scope key(s) {', '.join(unknown)}; use: {', '.join(DIMENSIONS)}")
        return scope

    @field_validator("owners", "approvers")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return _slack_ids(ids)

    @field_validator("escalation")
    @classmethod
    def _contact(cls, value: str | None) -> str | None:
        return _slack_ids([value])[0] if value else None


class BudgetAlerts(Section):
    """Budget alerts nobody acknowledges escalate: the budget's escalation contact is mentioned in
    the alert's thread after `escalate_after_minutes`, the admins after `admins_after_minutes`."""

    escalate_after_minutes: float = Field(240.0, gt=0)
    admins_after_minutes: float = Field(480.0, gt=0)


class Remediation(Section):
    """Remediation plans (`finops-bot remediate`): who approves, where they are posted, what is
    never touched, and the kill switch."""

    execute: bool = True  # the kill switch: false and approved plans are not executed (plans still are made)
    approver_role: Literal["engineer", "admin"] = "admin"  # the lowest role that may approve a plan
    channel: str | None = None  # where plans are posted; default the alerts channel
    opt_out_tag: str = Field("finops:skip=true", min_length=1)  # KEY=VALUE, or KEY for any value
    expire_hours: float = Field(72.0, gt=0)  # a plan not approved by then must be made again
    lease_seconds: float = Field(600.0, gt=0)  # an execution silent this long has died and is resumed
    regions: list[str] = Field(default_factory=list)  # default: AWS_DEFAULT_REGION, else us-east-1
    playbooks: dict[str, dict[str, Any]] = Field(default_factory=dict)  # settings per playbook name

    @model_validator(mode="after")
    def _playbooks(self) -> Remediation:
        """Known playbooks with valid settings, and a readable opt-out tag, at start-up."""
        from finops import remediation
        from finops.remediation.base import OptOut

        try:
            OptOut.parse(self.opt_out_tag)
            for name, values in self.playbooks.items():
                remediation.get(name).params(values)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return self


class Rate(Section):
    """An exchange rate from a day on: 1 `currency` is `rate` of `to` (the inverse is used for
    the other direction)."""

    currency: str
    to: str
    since: date
    rate: Decimal = Field(gt=0)

    @field_validator("currency", "to")
    @classmethod
    def _code(cls, value: str) -> str:
        from finops.currency import is_currency

        if not is_currency(value.upper()):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code, e.g. USD or EUR")
        return value.upper()


def _budgets(budgets: list[BudgetConfig]) -> list[BudgetConfig]:
    names = [b.name.lower() for b in budgets]
    twice = sorted({b.name for b in budgets if names.count(b.name.lower()) > 1})
    if twice:
        raise ValueError(f"budget name(s) {', '.join(twice)} declared twice")
    known = set(names)
    orphans = [
        f"{b.name} (parent {b.parent!r})" for b in budgets if b.parent and b.parent.lower() not in known
    ]
    if orphans:
        raise ValueError(f"budget parent(s) not declared: {', '.join(orphans)}")
    return budgets


def late_after(source: Source, provider: str | None) -> float:
    """Hours without newer data after which `source` is late."""
    if source.late_after_hours is not None:
        return source.late_after_hours
    return PROVIDER_DELAY_HOURS.get((provider or "").lower(), DEFAULT_DELAY_HOURS)


def _env(name: str, field: str) -> Any:
    return AliasChoices(name, field)


# What to tell someone whose required setting is missing.
REQUIRED_HINTS = {
    "slack_bot_token": "the bot token (xoxb-...) from your Slack app's OAuth & Permissions page",
    "slack_signing_secret": "the signing secret from your Slack app's Basic Information page",
    "slack_app_token": "an app-level token (xapp-...) with connections:write, for Socket Mode",
    "jira_url": "your Jira base URL, e.g. https://example.atlassian.net",
    "jira_api_token": "a Jira API token (Cloud) or personal access token (Data Center)",
    "jira_project": "the key of the Jira project for follow-up issues",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", populate_by_name=False)

    database_url: str = Field(
        DEFAULT_DATABASE_URL, validation_alias=_env("FINOPS_DATABASE_URL", "database_url")
    )
    config_file: Path | None = Field(None, validation_alias=_env(CONFIG_ENV, "config_file"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("FINOPS_LOG_LEVEL", "log_level")
    )
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", validation_alias=_env("FINOPS_LOG_FORMAT", "log_format")
    )
    alert_channel: str | None = Field(None, validation_alias=_env("FINOPS_ALERT_CHANNEL", "alert_channel"))

    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_APP_TOKEN", "slack_app_token")
    )
    slack_api_url: str | None = Field(None, validation_alias=_env("SLACK_API_URL", "slack_api_url"))

    jira_url: str | None = Field(None, validation_alias=_env("JIRA_URL", "jira_url"))
    jira_user: str | None = Field(None, validation_alias=_env("JIRA_USER", "jira_user"))
    jira_api_token: SecretStr | None = Field(None, validation_alias=_env("JIRA_API_TOKEN", "jira_api_token"))
    jira_project: str | None = Field(None, validation_alias=_env("JIRA_PROJECT", "jira_project"))

    # Provider APIs, for azure:// and bigquery:// sources (the SDKs find their own credentials).
    azure_endpoint: str = Field(
        "https://management.azure.com", validation_alias=_env("FINOPS_AZURE_ENDPOINT", "azure_endpoint")
    )
    azure_token: SecretStr | None = Field(None, validation_alias=_env("FINOPS_AZURE_TOKEN", "azure_token"))
    bigquery_endpoint: str | None = Field(
        None, validation_alias=_env("FINOPS_BIGQUERY_ENDPOINT", "bigquery_endpoint")
    )

    # Sections of the TOML file (FINOPS_CONFIG); later issues give the free-form ones a schema.
    # GitHub Actions (the policy check's job summary and pull request comment)
    github_token: SecretStr | None = Field(None, validation_alias=_env("GITHUB_TOKEN", "github_token"))
    github_api_url: str = Field(
        "https://api.github.com", validation_alias=_env("GITHUB_API_URL", "github_api_url")
    )
    github_repository: str | None = Field(
        None, validation_alias=_env("GITHUB_REPOSITORY", "github_repository")
    )
    github_event_path: Path | None = Field(
        None, validation_alias=_env("GITHUB_EVENT_PATH", "github_event_path")
    )
    github_step_summary: Path | None = Field(
        None, validation_alias=_env("GITHUB_STEP_SUMMARY", "github_step_summary")
    )
    channels: Channels = Field(default_factory=Channels, validation_alias=_env("FINOPS_CHANNELS", "channels"))
    roles: Roles = Field(default_factory=Roles, validation_alias=_env("FINOPS_ROLES", "roles"))
    detection: Detection = Field(
        default_factory=Detection, validation_alias=_env("FINOPS_DETECTION", "detection")
    )
    jira: Jira = Field(default_factory=Jira, validation_alias=_env("FINOPS_JIRA", "jira"))
    tag_aliases: TagAliases = Field(
        default_factory=TagAliases, validation_alias=_env("FINOPS_TAG_ALIASES", "tag_aliases")
    )
    budgets: list[BudgetConfig] = Field(
        default_factory=list, validation_alias=_env("FINOPS_BUDGETS", "budgets")
    )
    budget_alerts: BudgetAlerts = Field(
        default_factory=BudgetAlerts, validation_alias=_env("FINOPS_BUDGET_ALERTS", "budget_alerts")
    )
    rates: list[Rate] = Field(default_factory=list, validation_alias=_env("FINOPS_RATES", "rates"))
    policies: dict[str, Any] = Field(
        default_factory=dict, validation_alias=_env("FINOPS_POLICIES", "policies")
    )
    schedules: Schedules = Field(
        default_factory=Schedules, validation_alias=_env("FINOPS_SCHEDULES", "schedules")
    )
    remediation: Remediation = Field(
        default_factory=Remediation, validation_alias=_env("FINOPS_REMEDIATION", "remediation")
    )

    @field_validator("budgets")
    @classmethod
    def _unique_budgets(cls, budgets: list[BudgetConfig]) -> list[BudgetConfig]:
        return _budgets(budgets)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            return normalise_url(value).render_as_string(hide_password=False)
        except UserError as exc:
            raise ValueError(str(exc)) from exc

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        path = os.environ.get(CONFIG_ENV)
        if path:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=Path(path)),)
        return sources

    def api_access(self) -> Access:
        """How ingestion reaches the providers' APIs."""
        return Access(
            azure_endpoint=self.azure_endpoint,
            azure_token=self.azure_token.get_secret_value() if self.azure_token else None,
            bigquery_endpoint=self.bigquery_endpoint,
        )

    @property
    def has_database(self) -> bool:
        """Whether a database was configured (not just the default SQLite file)."""
        return "database_url" in self.model_fields_set

    def rate_table(self) -> list[Rate_]:
        """The configured exchange rates, for the budget maths."""
        return [Rate_(r.currency, r.to, r.since, r.rate) for r in self.rates]

    def require(self, *names: str) -> None:
        """Raise `ConfigError` naming the first of `names` that is not set."""
        for name in names:
            if getattr(self, name) in (None, ""):
                env = env_name(name)
                hint = REQUIRED_HINTS.get(name, "")
                raise ConfigError(f"{env} is not set" + (f"; set it to {hint}" if hint else ""))

    def secret(self, name: str) -> str:
        """The plain value of a required secret (only to hand to a client, never to log)."""
        self.require(name)
        value: SecretStr = getattr(self, name)
        return value.get_secret_value()


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, AliasChoices)
    first = alias.choices[0]
    return first if isinstance(first, str) else field


def _check_config_file(path_value: str) -> Path:
    path = Path(path_value).expanduser()
    if not path.is_file():
        raise ConfigError(f"{CONFIG_ENV} points to {path}, which is not a file; fix the path or unset it")
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{CONFIG_ENV} file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{CONFIG_ENV} file {path} cannot be read: {exc.strerror}") from exc
    return path


def _field_of(alias: str) -> str:
    for name, info in Settings.model_fields.items():
        choices = info.validation_alias.choices if isinstance(info.validation_alias, AliasChoices) else ()
        if alias == name or alias in choices:
            return name
    return alias


def _describe(error: Any, config_file: str | None) -> str:
    loc = [str(part) for part in error["loc"]]
    if loc:
        loc[0] = _field_of(loc[0])
    message = error["msg"].removeprefix("Value error, ")
    where = f"{CONFIG_ENV} file {config_file}" if config_file else "the settings"
    if error["type"] == "extra_forbidden":
        return f"unknown setting {'.'.join(loc)!r} in {where}; see the configuration table in README.md"
    if len(loc) == 1 and loc[0] in Settings.model_fields:
        name = env_name(loc[0])
        return message if message.startswith(name) else f"{name}: {message}"
    return f"{where}: [{'.'.join(loc)}] {message}"


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; any problem is one `ConfigError` line naming the variable or key."""
    config_file = os.environ.get(CONFIG_ENV)
    if config_file:
        _check_config_file(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError("; ".join(_describe(err, config_file) for err in exc.errors())) from None
