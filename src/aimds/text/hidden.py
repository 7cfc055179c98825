"""Text that a document hides from its human readers: HTML comments and hidden elements.

Web pages, emails and tool outputs hide text for harmless reasons (templates, menus, tracking), but
an instruction meant for an AI and kept out of a person's sight is the classic indirect injection.
The normalize stage gives each hidden passage its own view (``hidden:html``) so that detectors read
it alone, not diluted by the page around it, and the decide stage counts the hiding as a witness
when what is hidden reads as an instruction to the model (``decide/defaults.yaml``).

Found by plain string scans, linear in the text: comments by ``find``; elements by their opening
tag's attributes (``display:none``, ``visibility:hidden``, zero font size or opacity, white text,
``hidden``, ``aria-hidden="true"``) and the next closing tag of the same name.
"""

from __future__ import annotations

import re

import numpy as np

from aimds.text import offsets
from aimds.text.views import View
from aimds.types import Span

VIEW = "hidden:html"
TEXT_VIEW = "text"  # the text with its markup taken out, for the learned models
RULE_ID = "normalize.hidden_html"  # the (informational) finding that marks each passage
MAX_PASSAGES = 16
MAX_PASSAGE_CHARS = 4_000  # an instruction is short; a longer hidden block is read up to here
_MIN_TEXT_CHARS = 12  # shorter passages ("&nbsp;", a tracking pixel's dot) say nothing to a model

# An opening tag: name, then attributes up to the next '<' or '>' (each character is scanned from
# at most one '<', so the whole pass is linear).
_OPEN_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9]{0,15})([^<>]{1,2000})>")
_HIDING = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px|pt|em|rem|%)?\s*(?:[;\"']|$)"
    r"|opacity\s*:\s*0(?:\.0+)?\s*(?:[;\"']|$)|(?<![-\w])color\s*:\s*(?:white|#fff(?:fff)?)\b"
    r"|(?<![-\w])hidden(?![-\w])|aria-hidden\s*=\s*[\"']?true",
    re.IGNORECASE,
)
_TAGS = re.compile(r"<[^<>]{0,2000}>")
_TAG_SPLIT = re.compile(f"({_TAGS.pattern})")  # split on it: text, tag, text, tag, ..., text
# Every match of `_HIDING` holds one of these words (under re.IGNORECASE, which also matches
# "İ", "ı" and "ſ" to ASCII letters): a text without any has no hidden element to look for.
_HIDING_WORDS = ("display", "visibility", "font-size", "opacity", "color", "hidden")
_HIDING_BYTES = tuple(word.encode("ascii") for word in _HIDING_WORDS)
_FOLDS_TO_ASCII_LETTER = "\u0130\u0131\u017f"
#: per regex `hidden_passages` may skip, one that matches wherever it does, for a Hyperscan pass (see `gates`)
GATE_PATTERNS = {"hiding": re.compile("|".join(_HIDING_WORDS), re.IGNORECASE)}


def hidden_passages(text: str, gates: frozenset[str] | None = None) -> list[tuple[Span, str]]:
    """Spans of hidden passages in ``text`` and their readable text (tags stripped), in order.

    ``gates`` (from `aimds.text.gates`, for ``text``) lets it skip looking for hidden elements.
    """
    if "<" not in text:
        return []
    found: list[tuple[int, int]] = []
    at = text.find("<!--")
    while at >= 0 and len(found) < MAX_PASSAGES:
        end = text.find("-->", at + 4)
        if end < 0:
            end = len(text)
        found.append((at + 4, min(end, at + 4 + MAX_PASSAGE_CHARS)))
        at = text.find("<!--", end + 3)
    may_hide = _may_hide(text) if gates is None else "hiding" in gates
    for match in _OPEN_TAG.finditer(text) if may_hide else ():
        if len(found) >= 2 * MAX_PASSAGES:
            break
        if not _HIDING.search(match.group(2)):
            continue
        close = text.find(f"</{match.group(1)}", match.end(), match.end() + MAX_PASSAGE_CHARS)
        if close >= 0:  # void or unclosed elements (<input type="hidden">) hide no text
            found.append((match.end(), close))
    passages = []
    for start, end in sorted(set(found))[:MAX_PASSAGES]:
        readable = " ".join(_TAGS.sub(" ", text[start:end]).split())
        if len(readable) >= _MIN_TEXT_CHARS:
            passages.append((Span(start, end), readable))
    return passages


def _may_hide(text: str) -> bool:
    """False only when no opening tag can match `_HIDING`: most pages hide nothing, and testing
    each of their tags costs more than the rest of this module."""
    lowered = text.encode("ascii", "ignore").lower()  # the words are ASCII; lower() is slow on other text
    if any(word in lowered for word in _HIDING_BYTES):
        return True
    return not text.isascii() and any(c in text for c in _FOLDS_TO_ASCII_LETTER)


def without_markup(view: View) -> View | None:
    """``view`` with every tag and comment replaced by one space, mapped back to the original; None
    when it holds no markup.

    The learned models judge what a text says; tags are not language, and a page full of
    ``display:none`` and ``type="hidden"`` had read to them like the wrappers of injected text.
    What hidden elements and comments say reaches the models through the ``hidden:html`` views.
    """
    text = view.text
    if "<" not in text:
        return None
    parts = _TAG_SPLIT.split(text)
    if len(parts) == 1:
        return None
    # Each tag becomes one space, which the run before it maps to the tag's '<'; the text after it
    # starts a run at (its view offset, the tag's end): one anchor per tag, each with a new shift.
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    ends = np.cumsum(lengths)[1::2]
    resumes = np.cumsum(lengths[0::2])[:-1] + np.arange(1, len(ends) + 1)
    anchors = ((0, 0), *zip(resumes.tolist(), ends.tolist()))
    return View(TEXT_VIEW, " ".join(parts[0::2]), offsets.compose(anchors, view.anchors))
