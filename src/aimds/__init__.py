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


def __getattr__(name: str):
    # Guard pulls in the detectors and their models; importing it lazily keeps `import aimds`
    # cheap for code that only needs the types (the server's schemas, the agent runtime).
    if name == "Guard":
        from aimds.guard import Guard

        return Guard
    raise AttributeError(f"module 'aimds' has no attribute {name!r}")
