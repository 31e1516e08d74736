"""Configuration: one typed object read from the environment (and `.env`).

Variable names follow the seed's README (DATABASE_HOST, REDIS_HOST, MPESA_*, TAX_*, ...) and also
accept URL forms (DATABASE_URL, REDIS_URL, NATS_URL). When no location is configured for a server,
the platform starts an embedded real one (see `platform.embedded`).
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

KNOWN_COUNTRIES = ("KE", "NG", "GH")
# A development-only signing key; production refuses to start without its own JWT_SECRET.
_DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me-0000"  # noqa: S105
# Development-only crash settings: staging and production need their own chain key, and a game
# there has no salt (and plays no rounds) until the operator fixes one after the commitment.
_DEV_CRASH_CHAIN_KEY = "dev-only-insecure-crash-chain-key-0000000"
DEV_CRASH_SALT = "letsbet-development-salt"
_GAME_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_SALT = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII: the salt is HMAC's ASCII key


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"


class ProviderMode(StrEnum):
    SIMULATOR = "simulator"
    SANDBOX = "sandbox"
    PRODUCTION = "production"


class ConfigError(Exception):
    """A bad setting: names the variable and says why, in one line."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # service
    service_name: str = "letsbet"
    environment: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    data_dir: Path = Path(".letsbet")
    demo_data: bool | None = None  # default: on in development only

    # PostgreSQL: DATABASE_URL, or the seed's parts; neither → embedded server
    database_url: str | None = None
    database_host: str | None = None
    database_port: int = Field(5432, ge=1, le=65535)
    database_name: str = "letsbet"
    database_user: str = "postgres"
    database_password: str = ""
    database_ssl_mode: str = "disable"
    database_pool_size: int = Field(10, ge=1, le=200)

    # Redis
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int = Field(6379, ge=1, le=65535)
    redis_password: str = ""

    # NATS
    nats_url: str | None = None

    # auth
    jwt_secret: str | None = None
    jwt_issuer: str = "letsbet"
    jwt_audience: str = "letsbet-api"
    access_token_ttl_seconds: int = Field(900, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(30 * 86_400, ge=3600, le=90 * 86_400)
    login_max_failures: int = Field(5, ge=1, le=100)
    login_lockout_seconds: int = Field(900, ge=10, le=86_400)

    # HTTP edge (reloadable ones marked)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)  # reloadable
    rate_limit_default: str = "300/minute"  # reloadable
    rate_limit_auth: str = "20/minute"  # reloadable
    rate_limit_money: str = "60/minute"  # reloadable
    rate_limit_fail_open_reads: bool = True
    rate_limit_fail_open_money: bool = False
    max_body_bytes: int = Field(1_048_576, ge=1024, le=50 * 1_048_576)
    shutdown_drain_seconds: float = Field(15.0, ge=0, le=300)
    shutdown_readiness_delay_seconds: float = Field(0.0, ge=0, le=60)
    trust_forwarded_for: bool = False

    # countries
    allowed_countries: Annotated[list[str], NoDecode] = Field(  # reloadable
        default_factory=lambda: list(KNOWN_COUNTRIES)
    )

    # logging
    log_level: str = "info"  # reloadable
    log_format: str | None = None  # json | console; default console in development

    # geolocation (compliance.geo): GeoLite2-Country file; proxies whose country and client-IP
    # headers are believed; whether money endpoints are fenced (default: on outside development
    # and test); where a player may move money from (home: their own country only)
    geoip_db_path: Path | None = None
    geo_trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    geo_enforce: bool | None = None
    geo_travel_policy: Literal["home", "allowed"] = "home"

    # responsible gaming: minutes between reality checks on the WebSocket (players may choose)
    rg_reality_check_minutes: int = Field(60, ge=1, le=1440)

    # Smile ID
    smile_id_api_key: str = ""
    smile_id_partner_id: str = ""
    smile_id_env: ProviderMode = ProviderMode.SIMULATOR
    smile_id_base_url: str = ""  # default: Smile ID's sandbox/production host, or the simulator's
    # Set: checks run async (/v1/async_id_verification) and Smile ID calls back here
    # (+ /api/kyc/smile-id/callback); unset: sync /v1/id_verification.
    smile_id_callback_base_url: str = ""

    # M-Pesa (Daraja)
    mpesa_consumer_key: str = ""
    mpesa_consumer_secret: str = ""
    mpesa_shortcode: str = "174379"
    mpesa_passkey: str = ""
    mpesa_environment: ProviderMode = ProviderMode.SIMULATOR
    mpesa_initiator_name: str = ""
    mpesa_initiator_password: str = ""
    mpesa_certificate_path: Path | None = None
    mpesa_callback_base_url: str = ""
    mpesa_callback_allowed_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    mpesa_base_url: str = ""  # default: Daraja's sandbox/production host, or the simulator's

    # Flutterwave
    flutterwave_secret_key: str = ""
    flutterwave_public_key: str = ""
    flutterwave_encryption_key: str = ""
    flutterwave_secret_hash: str = ""
    flutterwave_environment: ProviderMode = ProviderMode.SIMULATOR
    flutterwave_base_url: str = ""  # default: api.flutterwave.com, or the simulator's
    flutterwave_callback_base_url: str = ""  # our public URL for redirects and transfer callbacks

    # payments (both providers)
    payments_http_timeout_seconds: float = Field(10.0, gt=0, le=120)
    payments_reconcile_after_seconds: float = Field(60.0, ge=0, le=86_400)
    payments_reconcile_every_seconds: float = Field(10.0, gt=0, le=3600)
    payments_give_up_after_seconds: float = Field(900.0, ge=0, le=7 * 86_400)

    # the simulated odds feed (role odds): the margin built into its books and how it is spread
    # (proportional, or power: more of it on long shots); match minutes per minute of the clock
    odds_margin: float = Field(0.06, ge=0, le=0.5)
    odds_margin_method: Literal["proportional", "power"] = "power"
    odds_sim_speed: float = Field(1.0, gt=0, le=60)

    # taxes: select or override the country's effective-dated regime (see compliance/tax)
    tax_ggr_rate: float | None = Field(None, ge=0, le=1)
    tax_wht_rate: float | None = Field(None, ge=0, le=1)
    tax_threshold: int | None = Field(None, ge=0)

    # crash game: game ids, each optionally "id:salt" (the salt fixed after its commitment)
    crash_games: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["crash"])
    crash_salt: str | None = None  # for games listed without their own
    crash_edge: Decimal = Field(Decimal(1), ge=0, lt=50, decimal_places=2)  # percent
    crash_betting_window_seconds: float = Field(5.0, ge=1, le=60)
    crash_cooldown_seconds: float = Field(3.0, ge=0, le=60)
    crash_tick_ms: int = Field(100, ge=50, le=1000)
    crash_max_bets_per_round: int = Field(2, ge=1, le=10)
    crash_max_profit: int = Field(1_000_000, ge=1, le=10**12)  # major units per currency
    crash_chain_key: str | None = None

    @field_validator(
        "allowed_countries",
        "cors_origins",
        "mpesa_callback_allowed_ips",
        "crash_games",
        "geo_trusted_proxies",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("allowed_countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        codes = [code.upper() for code in value]
        unknown = [code for code in codes if code not in KNOWN_COUNTRIES]
        if unknown:
            raise ValueError(f"unknown country {unknown[0]!r}; use a comma list of KE, NG, GH")
        if not codes:
            raise ValueError("at least one country is required")
        return codes

    @field_validator("crash_games")
    @classmethod
    def _crash_games(cls, value: list[str]) -> list[str]:
        ids = []
        for entry in value:
            game_id, _, salt = entry.partition(":")
            if not _GAME_ID.match(game_id) or game_id in ("rounds", "bets"):
                raise ValueError(
                    f"bad game id {game_id!r}: 1-32 of a-z, 0-9 and '-', starting alphanumeric"
                    " (not 'rounds' or 'bets')"
                )
            if salt and not _SALT.match(salt):
                raise ValueError(f"bad salt for {game_id!r}: 1-128 printable ASCII characters")
            ids.append(game_id)
        if len(set(ids)) != len(ids):
            raise ValueError("each game id may be listed once")
        return value

    @field_validator("geo_trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP range like 173.245.48.0/20: {entry!r}") from exc
        return value

    @field_validator("crash_salt")
    @classmethod
    def _crash_salt(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not _SALT.match(value):
            raise ValueError("1-128 printable ASCII characters")
        return value or None

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError("use one of debug, info, warning, error, critical")
        return level

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in {"json", "console", "text"}:
            raise ValueError("use json or console")
        return None if value is None else value.lower()

    @field_validator("rate_limit_default", "rate_limit_auth", "rate_limit_money")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate like '100/minute': {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(
            ("postgresql://", "postgres://", "postgresql+asyncpg://")
        ):
            raise ValueError("must start with postgresql://")
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must start with redis:// or rediss://")
        return value or None

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str | None) -> str | None:
        if value and not all(
            part.strip().startswith(("nats://", "tls://")) for part in value.split(",")
        ):
            raise ValueError("must start with nats:// or tls://")
        return value or None

    @model_validator(mode="after")
    def _production_refuses_dev_defaults(self) -> Settings:
        if self.environment in (Environment.STAGING, Environment.PRODUCTION) and (
            not self.jwt_secret or len(self.jwt_secret) < 32
        ):
            # The development key is in the source: anyone could mint tokens with it.
            raise ConfigError(
                "JWT_SECRET", f"{self.environment.value} needs a secret of at least 32 characters"
            )
        if self.environment in (Environment.STAGING, Environment.PRODUCTION) and (
            not self.crash_chain_key or len(self.crash_chain_key) < 32
        ):
            # It seals the chain checkpoints: with the development key in the source, anyone
            # who can read the database could compute every crash point still to come.
            raise ConfigError(
                "CRASH_CHAIN_KEY",
                f"{self.environment.value} needs a key of at least 32 characters",
            )
        if self.environment != Environment.PRODUCTION:
            return self
        for variable, mode in (
            ("MPESA_ENVIRONMENT", self.mpesa_environment),
            ("FLUTTERWAVE_ENVIRONMENT", self.flutterwave_environment),
            ("SMILE_ID_ENV", self.smile_id_env),
        ):
            if mode == ProviderMode.SIMULATOR:
                raise ConfigError(variable, "production cannot use the simulator")
        if self.geo_enforce is False:
            raise ConfigError("GEO_ENFORCE", "production cannot turn geofencing off")
        if "*" in self.cors_origins:
            raise ConfigError("CORS_ORIGINS", "production cannot allow every origin (*)")
        for variable, callback in (
            ("MPESA_CALLBACK_BASE_URL", self.mpesa_callback_base_url),
            ("FLUTTERWAVE_CALLBACK_BASE_URL", self.flutterwave_callback_base_url),
            ("SMILE_ID_CALLBACK_BASE_URL", self.smile_id_callback_base_url),
        ):
            if callback and not callback.startswith("https://"):
                # Daraja requires HTTPS callbacks, and the callback token must not travel in clear.
                raise ConfigError(variable, "production callbacks must use https://")
        if self.demo_data:
            raise ConfigError("DEMO_DATA", "production cannot seed demo accounts")
        for variable, url in (
            ("DATABASE_URL", self.resolved_database_url()),
            ("REDIS_URL", self.resolved_redis_url()),
            ("NATS_URL", self.nats_url),
        ):
            if url is None:
                raise ConfigError(variable, "production needs an external server, not embedded")
        return self

    # -- derived values -------------------------------------------------------------------
    def mpesa_url(self) -> str:
        if self.mpesa_base_url:
            return self.mpesa_base_url.rstrip("/")
        return {
            ProviderMode.SANDBOX: "https://sandbox.safaricom.co.ke",
            ProviderMode.PRODUCTION: "https://api.safaricom.co.ke",
            ProviderMode.SIMULATOR: "http://127.0.0.1:8091",
        }[self.mpesa_environment]

    def smile_id_url(self) -> str:
        if self.smile_id_base_url:
            return self.smile_id_base_url.rstrip("/")
        return {
            ProviderMode.SANDBOX: "https://testapi.smileidentity.com",
            ProviderMode.PRODUCTION: "https://api.smileidentity.com",
            ProviderMode.SIMULATOR: "http://127.0.0.1:8093",
        }[self.smile_id_env]

    def flutterwave_url(self) -> str:
        if self.flutterwave_base_url:
            return self.flutterwave_base_url.rstrip("/")
        if self.flutterwave_environment == ProviderMode.SIMULATOR:
            return "http://127.0.0.1:8092"
        return "https://api.flutterwave.com"

    @property
    def is_development(self) -> bool:
        return self.environment in (Environment.DEVELOPMENT, Environment.TEST)

    @property
    def geofenced(self) -> bool:
        """Money endpoints check where the request comes from (GEO_ENFORCE; default: on
        outside development and test, where requests come from 127.0.0.1)."""
        if self.geo_enforce is None:
            return not self.is_development
        return self.geo_enforce

    @property
    def seeds_demo_data(self) -> bool:
        if self.demo_data is None:
            return self.environment == Environment.DEVELOPMENT
        return self.demo_data

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return "console" if self.log_format == "text" else self.log_format
        return "console" if self.environment == Environment.DEVELOPMENT else "json"

    @property
    def signing_secret(self) -> str:
        return self.jwt_secret or _DEV_JWT_SECRET

    @property
    def crash_chain_secret(self) -> str:
        return self.crash_chain_key or _DEV_CRASH_CHAIN_KEY

    def crash_game_salts(self) -> dict[str, str | None]:
        """game id -> its salt: its own, else CRASH_SALT, else (development and test only) the
        development salt; None means the game plays no rounds yet."""
        fallback = self.crash_salt or (DEV_CRASH_SALT if self.is_development else None)
        games: dict[str, str | None] = {}
        for entry in self.crash_games:
            game_id, _, salt = entry.partition(":")
            games[game_id] = salt or fallback
        return games

    def resolved_database_url(self) -> str | None:
        """DATABASE_URL, else one built from the seed's DATABASE_* parts, else None."""
        if self.database_url:
            return self.database_url
        if not self.database_host:
            return None
        password = f":{quote(self.database_password, safe='')}" if self.database_password else ""
        user = quote(self.database_user, safe="")
        return (
            f"postgresql://{user}{password}@{self.database_host}:{self.database_port}"
            f"/{self.database_name}?sslmode={self.database_ssl_mode}"
        )

    def resolved_redis_url(self) -> str | None:
        if self.redis_url:
            return self.redis_url
        if not self.redis_host:
            return None
        password = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
        return f"redis://{password}{self.redis_host}:{self.redis_port}/0"

    def with_servers(self, *, database: str, redis: str, nats: str) -> Settings:
        """A copy pointing at concrete server URLs (used once embedded servers are up)."""
        return self.model_copy(
            update={"database_url": database, "redis_url": redis, "nats_url": nats}
        )


# Settings that SIGHUP may change without a restart; the rest need one.
RELOADABLE = (
    "log_level",
    "rate_limit_default",
    "rate_limit_auth",
    "rate_limit_money",
    "allowed_countries",
    "cors_origins",
)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; raise ConfigError naming the first bad variable."""
    try:
        return Settings(**overrides)
    except ConfigError:
        raise
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = str(error["loc"][0]).upper() if error["loc"] else "CONFIG"
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, ConfigError):
            raise ctx_error from None
        message = str(error["msg"]).removeprefix("Value error, ")
        raw = error.get("input")
        if isinstance(raw, str) and "://" in raw:
            raw = redact_url(raw)
        if (
            isinstance(raw, str)
            and "SECRET" not in variable
            and "PASSWORD" not in variable
            and "KEY" not in variable
        ):
            message = f"{message} (got {raw!r})"
        raise ConfigError(variable, message) from None


def reload_changes(current: Settings, fresh: Settings) -> dict[str, tuple[Any, Any]]:
    """What a SIGHUP would change: {name: (old, new)} over the reloadable subset."""
    return {
        name: (getattr(current, name), getattr(fresh, name))
        for name in RELOADABLE
        if getattr(current, name) != getattr(fresh, name)
    }


def redact_url(url: str) -> str:
    """postgresql://user:secret@host/db → postgresql://user:***@host/db (safe to print)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def random_password() -> str:
    return secrets.token_urlsafe(12)
