"""Name → detector factory. Adding a detector means adding one file and one line here.

Factories take the validated `Settings` so a detector can read its own options; they are imported
lazily so that a detector whose optional dependency is missing costs nothing until it is asked for.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable

from aimds.config import Settings
from aimds.detect.base import Detector

# name: "module:factory" — the factory is called as factory(settings) -> Detector
REGISTRY: dict[str, str] = {
    "signatures": "aimds.detect.signatures:create",
    "exfiltration": "aimds.detect.exfiltration:create",
    "intent": "aimds.detect.intent:create",
    "pii": "aimds.detect.pii:create",
    "secrets": "aimds.detect.secrets:create",
    "learned": "aimds.detect.learned:create",
    "semantic": "aimds.detect.semantic:create",
}


def available() -> list[str]:
    return list(REGISTRY)


def build(name: str, settings: Settings) -> Detector:
    try:
        target = REGISTRY[name]
    except KeyError:
        from aimds.errors import ConfigError

        raise ConfigError(f"detectors: unknown detector {name!r}; known: {', '.join(REGISTRY)}") from None
    module_name, _, attr = target.partition(":")
    factory: Callable[[Settings], Detector] = getattr(import_module(module_name), attr)
    return factory(settings)
