"""One settings object for the whole library, read from ``AIMDS_*`` variables and an optional YAML file.

Precedence: explicit keyword arguments > environment > YAML file (``AIMDS_CONFIG`` or ``path``) >
defaults. Validation happens once, at start, and a bad value raises `ConfigError` naming the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from aimds import yamlio
from aimds.errors import ConfigError
from aimds.types import ThreatKind


class Threshold(BaseModel):
    """Score cut-offs for one threat kind; a value above 1 switches that action off.

    At or above ``sanitize`` the text is cleaned (invisible characters stripped, PII redacted); at or
    above ``review`` it goes to review; at or above ``block`` it is blocked.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sanitize: float = Field(1.01, ge=0.0, le=1.01)
    review: float = Field(ge=0.0, le=1.01)
    block: float = Field(ge=0.0, le=1.01)

    @model_validator(mode="after")
    def _ordered(self) -> "Threshold":
        if self.review > self.block:
            raise ValueError("review threshold must not exceed block threshold")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AIMDS_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    # --- limits -------------------------------------------------------------------------------
    max_input_chars: int = Field(1_048_576, ge=1, description="longer inputs raise InputTooLarge")
    chunk_chars: int = Field(4096, ge=256, description="long inputs are scanned in chunks this size")
    chunk_overlap: int = Field(256, ge=0, description="overlap so a payload on a boundary is seen whole")
    decode_max_depth: int = Field(2, ge=0, le=5, description="nested encodings decoded at most this deep")
    decode_max_payloads: int = Field(32, ge=0, le=1000)
    cache_size: int = Field(10_000, ge=0, description="decisions remembered; 0 turns the cache off")

    # --- detection ----------------------------------------------------------------------------
    detectors: tuple[str, ...] | None = Field(
        None, description="names of detectors to run; None means every registered one"
    )
    rule_packs: tuple[Path, ...] = Field((), description="extra YAML rule packs added to the shipped ones")
    semantic: Literal["auto", "always", "off"] = Field(
        "auto", description="deep tier: when the fast tier is unsure, on every text, or never"
    )
    semantic_band: tuple[float, float] = Field(
        (0.03, 0.85), description="fast-tier risk range in which the deep tier is consulted"
    )
    thresholds: dict[ThreatKind, Threshold] = Field(default_factory=dict)
    fail_closed: bool = Field(True, description="block when a detector cannot run")

    # --- act: redaction -------------------------------------------------------------------------
    redact_mode: Literal["mask", "placeholder", "hash", "anonymize"] = Field(
        "placeholder", description="how PII and secrets are replaced when a verdict sanitizes"
    )
    redact_key: SecretStr | None = Field(
        None, description="key for hash-mode tags and vault entries; random per process when unset"
    )
    vault_ttl: float = Field(3600.0, gt=0, description="seconds an anonymize placeholder stays reversible")

    # --- output checks --------------------------------------------------------------------------
    output_system_prompt: str | None = Field(None, description="answers that quote it are a leak")
    output_allowed_domains: tuple[str, ...] = Field((), description="links and images here are fine")
    canary_key: SecretStr | None = Field(
        None, description="key that signs canaries; set it so canaries verify across instances"
    )
    stream_lookback: int = Field(1024, ge=64, description="characters re-scanned across stream chunks")
    stream_holdback: int = Field(64, ge=0, description="characters held back until the next chunk")

    @field_validator("semantic", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` as False; accept what the user meant.
        return {False: "off", True: "always"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        low, high = self.semantic_band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError("semantic_band must be two numbers 0 <= low <= high <= 1")
        if self.chunk_overlap >= self.chunk_chars // 2:
            raise ValueError("chunk_overlap must be less than half of chunk_chars")
        if self.stream_holdback > self.stream_lookback:
            raise ValueError("stream_holdback must not exceed stream_lookback")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build validated settings; ``path`` (or ``AIMDS_CONFIG``) names an optional YAML file."""
    file_values: dict[str, Any] = {}
    path = path or os.environ.get("AIMDS_CONFIG")
    if path:
        try:
            loaded = yamlio.load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of settings")
        file_values = loaded or {}
    env_keys = {k[len("AIMDS_"):].lower().split("__")[0] for k in os.environ if k.startswith("AIMDS_")}
    merged = {k: v for k, v in file_values.items() if k not in env_keys} | overrides
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:  # an AIMDS_* variable that is not valid JSON for its field
        raise ConfigError(f"invalid configuration: {exc}") from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "settings"
        parts.append(f"{key}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)
