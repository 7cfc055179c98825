"""AIMDS, the AI Manipulation Defense System.

The public API is what this module exports; everything else may change between minor versions.
"""

from aimds.config import Settings, Threshold, load_settings
from aimds.errors import (
    AimdsError,
    Blocked,
    ConfigError,
    InputTooLarge,
    InvalidInput,
    ModelError,
    RulePackError,
)
from aimds.types import Action, Finding, Role, Span, ThreatKind, Verdict

__version__ = "0.1.0"

__all__ = [
    "Action",
    "AgentDefense",
    "Event",
    "OutputScanner",
    "Policy",
    "StreamBlocked",
    "AimdsError",
    "Blocked",
    "ConfigError",
    "Finding",
    "Guard",
    "InputTooLarge",
    "InvalidInput",
    "ModelError",
    "Role",
    "RulePackError",
    "Settings",
    "Span",
    "ThreatKind",
    "Threshold",
    "Verdict",
    "load_settings",
    "__version__",
]


_LAZY = {
    "Guard": "aimds.guard",
    "AgentDefense": "aimds.agents",
    "Event": "aimds.agents",
    "Policy": "aimds.agents",
    "OutputScanner": "aimds.output",
    "StreamBlocked": "aimds.output",
}


def __getattr__(name: str):
    # Guard pulls in the detectors and their models, the agent runtime its policy compiler;
    # importing them lazily keeps `import aimds` cheap for code that only needs the types.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aimds' has no attribute {name!r}")
