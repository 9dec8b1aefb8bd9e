from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.settings import DEFAULT_DATABASE_URL, ConfigError, load_settings


def test_defaults_need_no_environment(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.slack_bot_token is None
    assert "user:team" in settings.tag_aliases.team


def test_environment_is_read_and_urls_get_their_async_driver(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FINOPS_DATABASE_URL", "postgresql://finops:pw@db.internal:5432/finops")
    clean_env.setenv("SLACK_API_URL", "http://127.0.0.1:9999/api/")
    settings = load_settings()
    assert settings.database_url == "postgresql+asyncpg://finops:pw@db.internal:5432/finops"
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"


def test_unsupported_database_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FINOPS_DATABASE_URL", "mysql://root@localhost/finops")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("FINOPS_DATABASE_URL")
    assert "mysql" in message and "postgresql+asyncpg" in message
    assert "\n" not in message


def test_bad_value_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FINOPS_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError, match=r"^FINOPS_LOG_LEVEL: "):
        load_settings()


def test_missing_required_setting_is_one_clear_line(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    with pytest.raises(ConfigError) as raised:
        settings.require("slack_signing_secret", "slack_bot_token")
    assert str(raised.value).startswith("SLACK_SIGNING_SECRET is not set; set it to the signing secret")
    clean_env.setenv("SLACK_SIGNING_SECRET", "s3cr3t-value")
    settings = load_settings()
    with pytest.raises(ConfigError, match=r"^SLACK_BOT_TOKEN is not set"):
        settings.require("slack_signing_secret", "slack_bot_token")


def test_secrets_never_show_in_repr_or_dump(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    clean_env.setenv("JIRA_API_TOKEN", "jira-very-secret")
    settings = load_settings()
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())
    assert settings.secret("slack_bot_token") == "xoxb-very-secret"


def test_toml_file_is_read_and_environment_wins(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(
        'database_url = "sqlite:///from-toml.db"\n'
        'jira_project = "FIN"\n'
        "[channels]\n"
        'alerts = "C0ALERTS"\n'
        'teams = { data = "C0DATA" }\n'
        "[roles]\n"
        'admin = ["U1", "S0ADMINS"]\n'
        "[tag_aliases]\n"
        'team = ["squad"]\n'
    )
    clean_env.setenv("FINOPS_CONFIG", str(config))
    clean_env.setenv("JIRA_PROJECT", "OPS")
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///from-toml.db"
    assert settings.jira_project == "OPS"
    assert settings.channels.alerts == "C0ALERTS"
    assert settings.channels.teams == {"data": "C0DATA"}
    assert (settings.roles.admin, settings.roles.default) == (["U1", "S0ADMINS"], "viewer")
    assert settings.tag_aliases.team == ["squad"]


def test_missing_config_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("FINOPS_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"^FINOPS_CONFIG points to .*nope\.toml, which is not a file"):
        load_settings()


def test_invalid_toml_names_file_and_line(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[channels]\nalerts = "C1"\nthis is not toml\n')
    clean_env.setenv("FINOPS_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML: .*line 3"):
        load_settings()


def test_unknown_toml_key_is_reported(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text('[channels]\nalert = "C1"\n')
    clean_env.setenv("FINOPS_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"unknown setting 'channels\.alert' in FINOPS_CONFIG file"):
        load_settings()


def test_wrong_type_in_toml_names_the_key(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "types.toml"
    config.write_text('[roles]\nadmin = "U1"\n')
    clean_env.setenv("FINOPS_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"types\.toml: \[roles\.admin\]"):
        load_settings()


def test_detection_section_from_toml_and_bad_dimensions(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(
        "[detection]\nmin_impact = 200\ndimension_sets = [['provider', 'service']]\n"
        "overrides = [{ scope = { service = 'AWS Support' }, min_impact = 500 }]\n"
    )
    clean_env.setenv("FINOPS_CONFIG", str(config))
    detection = load_settings().detection
    assert (detection.min_impact, detection.z, detection.dimension_sets) == (
        Decimal(200),
        3.1,
        [["provider", "service"]],
    )
    assert detection.overrides[0].scope == {"service": "AWS Support"}
    config.write_text("[detection]\ndimension_sets = [['colour']]\n")
    with pytest.raises(ConfigError, match=r"unknown dimension\(s\) \['colour'\]"):
        load_settings()


def test_api_sources_poll_every_six_hours_unless_told(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "finops.toml"
    config.write_text(
        "[[schedules.sources]]\nname = 'ce'\nlocation = 'aws-ce://?months=2'\n"
        "[[schedules.sources]]\nname = 'folder'\nlocation = '/data/cur'\n"
        "[[schedules.sources]]\nname = 'bq'\nlocation = 'bigquery://p.d.t'\nevery_minutes = 60\n"
    )
    clean_env.setenv("FINOPS_CONFIG", str(config))
    clean_env.setenv("FINOPS_AZURE_TOKEN", "eyJ0eXAi.t0k3nvalue")
    settings = load_settings()
    assert [s.poll_minutes for s in settings.schedules.sources] == [360.0, 1.0, 60.0]
    access = settings.api_access()
    assert access.azure_token == "eyJ0eXAi.t0k3nvalue"
    assert "t0k3nvalue" not in repr(access) and "t0k3nvalue" not in repr(settings)
