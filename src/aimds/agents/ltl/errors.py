"""Typed errors for policies: a bad policy is the author's mistake and must say where it is."""

from __future__ import annotations

from aimds.errors import AimdsError


class PolicyError(AimdsError):
    """A policy cannot be loaded or used (unknown list, future operator in a runtime policy, ...)."""

    code = "invalid_policy"


class PolicySyntaxError(PolicyError):
    """The formula text does not parse; ``line`` and ``column`` are 1-based."""

    code = "policy_syntax"

    def __init__(self, message: str, line: int, column: int, source: str | None = None) -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}line {line}, column {column}: {message}")
        self.line = line
        self.column = column
        self.reason = message
