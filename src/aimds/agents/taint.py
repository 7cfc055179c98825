"""Taint tracking: does a tool call carry text the agent copied from untrusted content?

Untrusted text (tool results, documents) is cut into word 4-grams; a tool-call argument that shares a
4-gram spanning at least `MIN_COPY_CHARS` characters with it is tainted. Word shingles survive
re-wrapping and case changes, and cost one hash per word. Addresses and URLs seen in untrusted text
are tracked separately because they are short but decisive (a recipient copied from a poisoned mail).
Memory per session is bounded: the oldest shingles are forgotten first.
"""

from __future__ import annotations

import re
from typing import Any

from aimds.agents.argscan import _strings

MIN_COPY_CHARS = 20
SHINGLE_WORDS = 4
MAX_SHINGLES = 200_000
MAX_TEXT_CHARS = 1_048_576
_WORD = re.compile(r"\w{1,64}")


def _shingles(text: str) -> list[int]:
    words = _WORD.findall(text[:MAX_TEXT_CHARS].casefold())
    out = []
    for i in range(len(words) - SHINGLE_WORDS + 1):
        window = words[i : i + SHINGLE_WORDS]
        if sum(map(len, window)) + SHINGLE_WORDS - 1 >= MIN_COPY_CHARS:
            out.append(hash(tuple(window)))
    return out


class TaintTracker:
    """Per-session memory of untrusted text."""

    __slots__ = ("_shingles",)

    def __init__(self) -> None:
        self._shingles: dict[int, None] = {}

    def add_untrusted(self, text: str) -> None:
        for shingle in _shingles(text):
            self._shingles[shingle] = None
        overflow = len(self._shingles) - MAX_SHINGLES
        if overflow > 0:
            for key in list(self._shingles)[:overflow]:
                del self._shingles[key]

    def tainted_arguments(self, arguments: dict[str, Any]) -> list[str]:
        """Names of arguments that contain text copied from untrusted content."""
        if not self._shingles:
            return []
        names = []
        for name, value in _strings(arguments):
            if len(value) >= MIN_COPY_CHARS and any(s in self._shingles for s in _shingles(value)):
                names.append(name)
        return names

    def __len__(self) -> int:
        return len(self._shingles)
