"""Several detectors' Hyperscan patterns in one database, so each text is scanned once per check.

Signatures and intent classes look at the same lower-cased bytes; PII, names and secrets at the
same one-byte-per-character bytes. Each detector compiled and scanned its own database, paying the
call, the encoding and a pass over the text once per view each. `Guard` builds one `SharedScan`
from the detectors that offer `pattern_groups()` and hands each check's `ScanHits` to their
``scan(prepared, shared)``: the first detector to ask about a text scans it for all of them, the
others read their own hits. A detector called without it (``scan(prepared)``) scans alone, as before.

A group's hits are ``(pattern id, byte end)`` pairs in Hyperscan's report order, which is by end
offset, as from a database of the group alone (hits of different patterns ending at the same byte
may come in another order; only signatures' findings list order could show it). A solo scan of
signatures stops after too many far-apart matches of one rule; the shared scan cannot stop for one
group, so the signature matcher replays the hits and stops reading where it would have stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

try:
    import hyperscan
except ImportError:  # pragma: no cover - platforms without hyperscan wheels
    hyperscan = None

# "lowered": UTF-8 of the text lower-cased where that keeps its length (else of the text itself);
# "ascii": one byte per character, non-ASCII characters as '?'.
Form = Literal["lowered", "ascii"]
Hit = tuple[int, int]  # (pattern id within its group, byte end)


@dataclass(frozen=True, eq=False)
class PatternGroup:
    """One detector's patterns: what it would compile alone. Compared by identity: it is the key
    its detector reads its hits by."""

    form: Form
    expressions: tuple[bytes, ...]
    ids: tuple[int, ...]
    flags: tuple[int, ...]


def lowered(text: str) -> str:
    """The text the "lowered" form encodes (and that its detectors confirm hits in)."""
    low = text.lower()
    return low if len(low) == len(text) else text


def encode(form: Form, text: str) -> bytes:
    if form == "lowered":
        return lowered(text).encode("utf-8", "surrogatepass")
    return text.encode("ascii", "replace")


class SharedScan:
    """One database per form for all groups; thread-safe (a Hyperscan scratch per thread)."""

    def __init__(self, groups: Sequence[PatternGroup]) -> None:
        from aimds.detect.hscache import compile_database

        self._dbs: dict[str, Any] = {}
        # global id -> (group, local id), per form
        self._owners: dict[str, list[tuple[PatternGroup, int]]] = {}
        for form in ("lowered", "ascii"):
            members = [g for g in groups if g.form == form]
            if not members:
                continue
            owners = [(g, local) for g in members for local in g.ids]
            expressions = [e for g in members for e in g.expressions]
            flags = [f for g in members for f in g.flags]
            self._dbs[form] = compile_database(expressions, list(range(len(owners))), flags)
            self._owners[form] = owners
        self.groups = frozenset(groups)
        self._local = threading.local()

    @classmethod
    def for_detectors(cls, detectors: Sequence[Any]) -> tuple["SharedScan | None", frozenset[int]]:
        """The shared scan for those of ``detectors`` that offer pattern groups, and their ``id``s;
        ``(None, frozenset())`` where sharing would save nothing or Hyperscan cannot compile it."""
        if hyperscan is None:
            return None, frozenset()
        sharing = [d for d in detectors if callable(getattr(d, "pattern_groups", None))]
        groups = list(dict.fromkeys(g for d in sharing for g in d.pattern_groups()))
        if len(groups) < 2:
            return None, frozenset()
        try:
            return cls(groups), frozenset(map(id, sharing))
        except hyperscan.error:  # each group compiles alone, so its detector scans alone
            return None, frozenset()

    def bind(self) -> "ScanHits":
        """A memo of hits for one check's texts (drop it with the check)."""
        return ScanHits(self)

    def _scratch(self, form: str) -> Any:
        scratches = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = {}
        scratch = scratches.get(form)
        if scratch is None:
            scratch = scratches[form] = hyperscan.Scratch(self._dbs[form])
        return scratch

    def scan(self, form: Form, data: bytes) -> dict[PatternGroup, list[Hit]]:
        owners = self._owners[form]
        by_group: dict[PatternGroup, list[Hit]] = {}

        def on_match(pattern_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            group, local = owners[pattern_id]
            hits = by_group.get(group)
            if hits is None:
                hits = by_group[group] = []
            hits.append((local, end))

        self._dbs[form].scan(data, match_event_handler=on_match, scratch=self._scratch(form))
        return by_group


class ScanHits:
    """The hits of one check's texts, each text scanned at most once per form."""

    def __init__(self, shared: SharedScan) -> None:
        self._shared = shared
        self._memo: dict[tuple[str, int], tuple[str, dict[PatternGroup, list[Hit]]]] = {}

    def covers(self, group: PatternGroup) -> bool:
        return group in self._shared.groups

    def hits(self, group: PatternGroup, text: str) -> list[Hit]:
        key = (group.form, id(text))
        entry = self._memo.get(key)
        if entry is None or entry[0] is not text:
            entry = self._memo[key] = (text, self._shared.scan(group.form, encode(group.form, text)))
        return entry[1].get(group, [])
