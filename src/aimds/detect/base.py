"""The one protocol every detector implements.

A detector reads a `Prepared` input (all views of the text) and returns findings with spans and
reasons. It holds no per-request state, so one instance serves every thread. A detector whose cost is
mostly per call (numpy, a model) may also define ``scan_many(prepared: Sequence[Prepared]) ->
list[list[Finding]]``, returning exactly what ``scan`` returns for each: `Guard.check_many` calls it
once for a whole batch. A detector built on Hyperscan may define ``pattern_groups() ->
tuple[PatternGroup, ...]`` and accept ``scan(prepared, shared)``: `Guard` then compiles all such
groups into one `aimds.detect.sharedscan.SharedScan` and each check scans a text once for all of
them (``scan(prepared)`` alone must still work, and find exactly the same).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from aimds.text.views import Prepared
from aimds.types import Finding, ThreatKind

Tier = Literal["fast", "deep"]


@runtime_checkable
class Detector(Protocol):
    name: str
    tier: Tier
    kinds: frozenset[ThreatKind]

    def scan(self, prepared: Prepared) -> list[Finding]: ...
