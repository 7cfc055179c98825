"""Views of one input text, each able to map its character offsets back to the original.

Detectors read views, never raw strings, so that a finding in a folded or decoded view still points
at the right place in what the user sent.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from aimds.types import Finding, Role, Span


@dataclass(frozen=True, slots=True)
class View:
    """A transformed copy of (part of) the original text.

    Offsets map back through ``anchors``: sorted ``(view_pos, orig_pos)`` pairs, each starting a run
    in which view and original advance together. A view decoded from an opaque payload (base64,
    hex...) has no character-level correspondence, so it carries ``origin`` instead: every offset in
    it maps to the payload's span in the original.
    """

    name: str
    text: str
    anchors: tuple[tuple[int, int], ...] = ((0, 0),)
    origin: Span | None = None
    depth: int = 0

    def to_original(self, start: int, end: int) -> Span:
        if self.origin is not None:
            return self.origin
        return Span(self._map(start), max(self._map(start), self._map_end(end)))

    def _map(self, pos: int) -> int:
        i = bisect_right(self.anchors, (pos, 1 << 62)) - 1
        view_pos, orig_pos = self.anchors[max(i, 0)]
        return orig_pos + (pos - view_pos)

    def _map_end(self, end: int) -> int:
        # The end of a half-open range maps via its last character, so removed characters that
        # follow the match are not swallowed into the span.
        if end <= 0:
            return self._map(0)
        return self._map(end - 1) + 1


def identity_view(name: str, text: str) -> View:
    return View(name=name, text=text)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Output of the normalize stage: everything detectors may read about one input."""

    raw: str
    role: Role
    views: tuple[View, ...]
    findings: tuple[Finding, ...] = ()
    context: dict = field(default_factory=dict)

    @property
    def normalized(self) -> View:
        """The main folded view (NFKC, confusables, invisibles removed); always ``views[0]``."""
        return self.views[0]

    @property
    def decoded(self) -> tuple[View, ...]:
        """Views of payloads decoded from the text (base64, hex, rot13, escapes, hidden tags).

        Decoded views have ``depth >= 1``; most map every offset to their payload's ``origin``, but
        ``decoded:rot13`` is character-aligned with ``normalized`` and keeps its anchors.
        """
        return tuple(v for v in self.views if v.depth > 0)

    @property
    def model_views(self) -> tuple[View, ...]:
        """The views the learned models score (the worst one counts): ``normalized`` (or, for text
        with HTML markup, ``text``: the same without its tags), each hidden passage and decoded
        payload, and ``folded`` when undoing tricks removed at least a quarter of the characters.

        A text that is mostly separators ("\\I\\ \\h\\a\\v\\e", "i g n o r e") reads as noise to a model
        of words; lightly folded text ("h4x" -> "hax", "well-known" -> "wellknown") reads better as
        it is, so it is left to the keyword detectors.
        """
        folded = markup_free = None
        hidden: list[View] = []
        decoded: list[View] = []
        for v in self.views:  # one pass: this runs for every input the models score
            if v.depth > 0:
                decoded.append(v)
            if v.name == "hidden:html":
                hidden.append(v)
            elif v.name == "folded" and folded is None:
                folded = v
            elif v.name == "text" and markup_free is None:
                markup_free = v
        heavy = folded is not None and len(folded.text) * 4 <= len(self.normalized.text) * 3
        base = self.normalized if markup_free is None else markup_free
        chosen = (base, folded) if heavy else (base,)
        return tuple(v for v in (*chosen, *hidden, *decoded) if v.text.strip())

    def view(self, name: str) -> View | None:
        """The first view called ``name`` ("normalized", "unicode", "folded", "decoded:base64"...)."""
        return next((v for v in self.views if v.name == name), None)
