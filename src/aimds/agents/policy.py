"""Policies: a named temporal formula with a severity and the response it triggers.

A policy file is YAML::

    lists:                      # named lists that formulas refer to (users override them)
      allowed_domains: [example.com]
    policies:
      - name: no-exfiltration-after-untrusted-read
        description: ...
        severity: high          # low | medium | high | critical
        action: block           # log | sanitize | review | block | quarantine | reset | reroute
        fallback: [draft_email, human]   # reroute only: the chain tried in order instead of the call
        formula: |
          always (tool("send_email") and once(untrusted)
                  -> arg_domain("to") in allowed_domains or arg_domain("to") in user_mentioned)

A formula of the form ``always φ`` with past-time φ is a *runtime* policy: the monitor checks φ at
every event. Any other formula is an *offline* policy, evaluated at the start of a finished trace by
``aimds policy check``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aimds import yamlio
from aimds.agents.ltl import ast
from aimds.agents.ltl.errors import PolicyError, PolicySyntaxError
from aimds.agents.ltl.parser import parse

MAX_POLICY_FILE_BYTES = 1_048_576
MAX_POLICIES = 1000


class Severity(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class PolicyAction(str, Enum):
    """What a violation triggers. ``quarantine`` also blocks the agent's later calls until released;
    ``reset`` also clears the session's context and monitor state; ``reroute`` stops the call and
    offers the policy's fallback chain instead (safer tools, or ``human`` for a human handoff)."""

    LOG = "log"
    SANITIZE = "sanitize"
    REVIEW = "review"
    BLOCK = "block"
    QUARANTINE = "quarantine"
    RESET = "reset"
    REROUTE = "reroute"


HUMAN_HANDOFF = "human"
MAX_FALLBACKS = 8


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str = Field("", max_length=2000)
    formula: str = Field(min_length=1, max_length=16_384)
    severity: Severity = Severity.HIGH
    action: PolicyAction = PolicyAction.BLOCK
    fallback: tuple[str, ...] = Field(
        default=(), max_length=MAX_FALLBACKS,
        description="reroute: tool names (or 'human') tried in order in place of the stopped call")

    @field_validator("fallback")
    @classmethod
    def _fallback_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not 1 <= len(name) <= 128 or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
                raise ValueError(f"fallback {name!r} is not a tool name")
        return value

    @model_validator(mode="after")
    def _fallback_only_for_reroute(self) -> "PolicySpec":
        if self.fallback and self.action is not PolicyAction.REROUTE:
            raise ValueError("fallback is only used with action: reroute")
        return self


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lists: dict[str, list[str]] = Field(default_factory=dict)
    policies: list[PolicySpec] = Field(default_factory=list, max_length=MAX_POLICIES)


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    formula_text: str
    formula: ast.Formula
    severity: Severity
    action: PolicyAction
    source: str | None = None
    fallback: tuple[str, ...] = ()

    @property
    def runtime_body(self) -> ast.Formula | None:
        return ast.runtime_body(self.formula)

    @property
    def is_runtime(self) -> bool:
        return self.runtime_body is not None


@dataclass
class PolicySet:
    policies: list[Policy] = field(default_factory=list)

    @property
    def runtime(self) -> list[Policy]:
        return [p for p in self.policies if p.is_runtime]

    @property
    def offline(self) -> list[Policy]:
        return [p for p in self.policies if not p.is_runtime]

    def names(self) -> list[str]:
        return [p.name for p in self.policies]


def make_policy(
    name: str,
    formula: str,
    *,
    description: str = "",
    severity: str | Severity = Severity.HIGH,
    action: str | PolicyAction = PolicyAction.BLOCK,
    lists: Mapping[str, Sequence[str]] | None = None,
    source: str | None = None,
    fallback: Sequence[str] = (),
) -> Policy:
    try:
        spec = PolicySpec(name=name, description=description, formula=formula, severity=severity, action=action,
                          fallback=tuple(fallback))
    except ValidationError as exc:
        raise PolicyError(f"policy {name!r}: " + "; ".join(e["msg"] for e in exc.errors())) from None
    return _build(spec, lists or {}, source)


def _build(spec: PolicySpec, lists: Mapping[str, Sequence[str]], source: str | None) -> Policy:
    where = f"{source}: policy {spec.name}" if source else f"policy {spec.name}"
    try:
        formula = parse(spec.formula, lists, source=where)
    except PolicySyntaxError:
        raise
    return Policy(spec.name, spec.description, spec.formula, formula, spec.severity, spec.action, source,
                  spec.fallback)


def load_policy_text(
    text: str, source: str = "<policies>", lists: Mapping[str, Sequence[str]] | None = None
) -> PolicySet:
    """Parse one policy document; ``lists`` given here override the file's own lists."""
    if len(text.encode("utf-8")) > MAX_POLICY_FILE_BYTES:
        raise PolicyError(f"{source}: policy file larger than {MAX_POLICY_FILE_BYTES} bytes")
    try:
        raw = yamlio.load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if isinstance(raw, list):
        raw = {"policies": raw}
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: a policy file holds a mapping with 'policies' (and optional 'lists')")
    try:
        document = PolicyFile.model_validate(raw)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        raise PolicyError(f"{source}: " + "; ".join(parts)) from None
    merged = {**document.lists, **(lists or {})}
    return PolicySet([_build(spec, merged, source) for spec in document.policies])


def load_policies(
    paths: Iterable[str | Path], lists: Mapping[str, Sequence[str]] | None = None
) -> PolicySet:
    """Load policy files or directories of ``*.yaml`` files; names must be unique across them."""
    result = PolicySet()
    for path in paths:
        path = Path(path)
        files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except OSError as exc:
                raise PolicyError(f"cannot read policy file {file}: {exc.strerror}") from None
            result.policies.extend(load_policy_text(text, str(file), lists).policies)
    _check_unique(result)
    return result


def default_policies(lists: Mapping[str, Sequence[str]] | None = None) -> PolicySet:
    """The policy library shipped in ``aimds/agents/policies``."""
    result = PolicySet()
    folder = resources.files("aimds.agents") / "policies"
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            result.policies.extend(
                load_policy_text(entry.read_text(encoding="utf-8"), f"aimds:{entry.name}", lists).policies
            )
    _check_unique(result)
    return result


def _check_unique(policies: PolicySet) -> None:
    seen: set[str] = set()
    for policy in policies.policies:
        if policy.name in seen:
            raise PolicyError(f"policy name {policy.name!r} is used twice")
        seen.add(policy.name)


def describe(policy: Policy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "description": policy.description,
        "formula": policy.formula_text.strip(),
        "severity": policy.severity.value,
        "action": policy.action.value,
        "fallback": list(policy.fallback),
        "mode": "runtime" if policy.is_runtime else "offline",
    }
