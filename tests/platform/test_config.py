"""Configuration: validation names the variable, production refuses dev defaults, SIGHUP reload."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from letsbet.platform.config import ConfigError, Settings, load_settings, reload_changes


def _load(**values: object) -> Settings:
    return load_settings(_env_file=None, **values)


def test_defaults_are_development_with_embedded_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "DATABASE_HOST", "REDIS_URL", "REDIS_HOST", "NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    s = _load()
    assert s.environment == "development" and s.port == 8080
    assert s.resolved_database_url() is None and s.resolved_redis_url() is None
    assert s.allowed_countries == ["KE", "NG", "GH"]
    assert s.seeds_demo_data and s.effective_log_format == "console"


def test_seed_style_variables_build_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_HOST", "db.internal")
    monkeypatch.setenv("DATABASE_PORT", "6543")
    monkeypatch.setenv("DATABASE_NAME", "betting_db")
    monkeypatch.setenv("DATABASE_USER", "app")
    monkeypatch.setenv("DATABASE_PASSWORD", "p@ss:word")
    monkeypatch.setenv("DATABASE_SSL_MODE", "require")
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_PASSWORD", "r3dis")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    s = _load()
    assert s.resolved_database_url() == (
        "postgresql://app:p%40ss%3Aword@db.internal:6543/betting_db?sslmode=require"
    )
    assert s.resolved_redis_url() == "redis://:r3dis@cache.internal:6379/0"


def test_url_forms_win_over_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_HOST", "ignored")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:1/d")
    assert _load().resolved_database_url() == "postgresql://u@h:1/d"


def test_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_COUNTRIES", "ke, gh")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    s = _load()
    assert s.allowed_countries == ["KE", "GH"]
    assert s.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("PORT", "eighty", "PORT"),
        ("PORT", "70000", "PORT"),
        ("ALLOWED_COUNTRIES", "KE,US", "unknown country 'US'"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("DATABASE_URL", "mysql://x", "must start with postgresql://"),
        ("RATE_LIMIT_DEFAULT", "lots", "RATE_LIMIT_DEFAULT"),
        ("MPESA_ENVIRONMENT", "live", "MPESA_ENVIRONMENT"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        _load()
    assert caught.value.variable == variable
    assert fragment in str(caught.value)


def test_secrets_are_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", "short-secret")
    with pytest.raises(ConfigError) as caught:
        _load()
    assert caught.value.variable == "JWT_SECRET"
    assert "short-secret" not in str(caught.value)


PRODUCTION_OK = {
    "ENVIRONMENT": "production",
    "JWT_SECRET": "s" * 40,
    "CRASH_CHAIN_KEY": "c" * 40,
    "DATABASE_URL": "postgresql://u@db/letsbet",
    "REDIS_URL": "redis://cache:6379/0",
    "NATS_URL": "nats://nats:4222",
    "MPESA_ENVIRONMENT": "production",
    "FLUTTERWAVE_ENVIRONMENT": "production",
    "SMILE_ID_ENV": "production",
    "CORS_ORIGINS": "https://letsbet.example",
    "MPESA_CALLBACK_BASE_URL": "https://letsbet.example",
}


def test_production_accepts_a_complete_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in PRODUCTION_OK.items():
        monkeypatch.setenv(key, value)
    s = _load()
    assert s.environment == "production" and not s.seeds_demo_data
    assert s.effective_log_format == "json"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JWT_SECRET", ""),
        ("MPESA_ENVIRONMENT", "simulator"),
        ("SMILE_ID_ENV", "simulator"),
        ("FLUTTERWAVE_ENVIRONMENT", "simulator"),
        ("CORS_ORIGINS", "*"),
        ("DEMO_DATA", "true"),
        ("NATS_URL", ""),
        ("MPESA_CALLBACK_BASE_URL", "http://letsbet.example"),
        ("FLUTTERWAVE_CALLBACK_BASE_URL", "http://letsbet.example"),
    ],
)
def test_production_refuses_development_defaults(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    for key, good in PRODUCTION_OK.items():
        monkeypatch.setenv(key, good)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        _load()
    assert caught.value.variable == variable


def test_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "NATS"))}
    env["PORT"] = "not-a-port"
    result = subprocess.run(
        [sys.executable, "-m", "letsbet", "config", "check"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("letsbet: config error: PORT:")


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("PORT=9123\nLOG_LEVEL=debug\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    s = load_settings()
    assert s.port == 9123 and s.log_level == "debug"


def test_reload_changes_only_the_reloadable_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _load()
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("ALLOWED_COUNTRIES", "KE")
    monkeypatch.setenv("PORT", "9999")  # needs a restart: not applied by reload
    changes = reload_changes(before, _load())
    assert changes == {
        "log_level": ("info", "debug"),
        "allowed_countries": (["KE", "NG", "GH"], ["KE"]),
    }


def test_env_example_documents_every_setting() -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", text, re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_staging_also_needs_its_own_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "staging")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(ConfigError) as caught:
        _load()
    assert caught.value.variable == "JWT_SECRET"


def test_config_check_never_prints_passwords(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "NATS"))}
    env.update(
        DATABASE_URL="postgresql://app:pg-s3cret@db/letsbet",
        REDIS_URL="redis://:r3dis-s3cret@cache:6379/0",
        MPESA_PASSKEY="passkey-s3cret",
        JWT_SECRET="jwt-s3cret-" + "x" * 30,
    )
    result = subprocess.run(
        [sys.executable, "-m", "letsbet", "config", "check"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in result.stdout
    assert "DATABASE_URL=postgresql://app:***@db/letsbet" in result.stdout
