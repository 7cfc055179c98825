"""Typed errors. Every error a caller can provoke with bad input is an `AimdsError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aimds.types import Verdict


class AimdsError(Exception):
    """Base class; ``code`` is stable and safe to show to API clients."""

    code = "aimds_error"


class ConfigError(AimdsError):
    code = "invalid_config"


class InputTooLarge(AimdsError):
    code = "input_too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"input is {size} characters; the limit is {limit} (setting max_input_chars)")
        self.size = size
        self.limit = limit


class InvalidInput(AimdsError):
    code = "invalid_input"


class RulePackError(AimdsError):
    code = "invalid_rule_pack"


class ModelError(AimdsError):
    """A model artifact is missing or corrupt; the guard fails closed unless configured otherwise."""

    code = "model_error"


class Blocked(AimdsError):
    """Raised by guarded tools and helpers when a verdict stops the action."""

    code = "blocked"

    def __init__(self, verdict: "Verdict", message: str | None = None) -> None:
        reasons = "; ".join(verdict.reasons[:3]) or "blocked by policy"
        super().__init__(message or f"{verdict.action.value}: {reasons}")
        self.verdict = verdict
