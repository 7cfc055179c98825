"""Settings of the HTTP service, separate from the detection settings in `aimds.config`.

Read from ``AIMDS_*`` variables and the ``server:`` section of the YAML file given to ``aimds serve
--config`` (the rest of that file configures the guard). Environment wins over the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from aimds.errors import ConfigError


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIMDS_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64)

    # --- state --------------------------------------------------------------------------------
    data_dir: Path = Field(Path.home() / ".local" / "share" / "aimds", description="SQLite file and audit key")
    redis_url: str | None = Field(None, description="share state between instances through this Redis")
    store_url: str | None = Field(None, description="memory:// or sqlite:///file; default: SQLite in data_dir")
    store_failure: Literal["closed", "open"] = Field(
        "closed", description="closed: 503 when the store fails; open: serve checks without limits or audit"
    )
    audit_key: SecretStr | None = Field(None, description="hex HMAC key for text digests; default: data_dir/audit.key")
    verdict_ttl_s: float = Field(7 * 86400, gt=0, description="how long GET /v1/verdicts/{id} can find a verdict")

    # --- abuse limits -------------------------------------------------------------------------
    rate_per_key_per_min: float = Field(6000, gt=0)
    burst_per_key: float = Field(200, ge=1)
    rate_per_client_per_min: float = Field(12000, gt=0)
    burst_per_client: float = Field(400, ge=1)
    max_body_bytes: int = Field(2_097_152, ge=1024)
    max_text_chars: int = Field(200_000, ge=1)
    max_batch: int = Field(256, ge=1, le=10_000)
    request_timeout_s: float = Field(10.0, gt=0)
    inline_check_chars: int = Field(
        16_384, ge=0, description="shorter texts are checked on the event loop; longer ones in a thread with a timeout"
    )
    trust_forwarded_for: bool = Field(False, description="take the client address from X-Forwarded-For")
    keep_alive_s: int = Field(5, ge=1)
    max_concurrency: int | None = Field(None, ge=1, description="uvicorn answers 503 beyond this many connections")

    # --- JWT (optional; needs all three) ------------------------------------------------------
    jwt_keys_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: tuple[str, ...] = ("RS256", "ES256")
    jwt_role_claim: str = "aimds_role"

    # --- agents (POST /v1/events and the agent routes) ----------------------------------------
    agent_policies: tuple[Path, ...] = Field(
        (), description="policy YAML files or folders; empty means the shipped library"
    )
    agent_lists: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="named lists policies refer to, e.g. allowed_domains"
    )
    agent_fallbacks: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="tool -> fallback chain offered by reroute policies"
    )

    access_log: bool = Field(True, description="one JSON log line per request")
    bench_noop: bool = Field(False, description="expose POST /v1/noop (auth and limits, no check) for benchmarks")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @model_validator(mode="after")
    def _jwt_complete(self) -> "ServerSettings":
        jwt = (self.jwt_keys_file, self.jwt_issuer, self.jwt_audience)
        if any(jwt) and not all(jwt):
            raise ValueError("JWT validation needs jwt_keys_file, jwt_issuer and jwt_audience together")
        return self

    @property
    def store_location(self) -> str:
        return self.redis_url or self.store_url or "sqlite://"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


def load_server_settings(section: dict[str, Any] | None = None, **overrides: Any) -> ServerSettings:
    """Command-line ``overrides`` > environment > the YAML ``server:`` section > defaults."""
    try:
        base = ServerSettings(**(section or {}))
        given = {k: v for k, v in overrides.items() if v is not None}
        return base.model_copy(update=given) if given else base
    except ValidationError as exc:
        parts = [f"{'.'.join(map(str, e['loc'])) or 'server'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid server configuration: " + "; ".join(parts)) from None
