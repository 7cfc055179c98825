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


def hidden_passages(text: str) -> list[tuple[Span, str]]:
    """Spans of hidden passages in ``text`` and their readable text (tags stripped), in order."""
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
    for match in _OPEN_TAG.finditer(text):
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
    bounds = np.array([m.span() for m in _TAGS.finditer(text)], dtype=np.int64).reshape(-1, 2)
    if not len(bounds):
        return None
    starts, ends = bounds[:, 0], bounds[:, 1]
    # each tag becomes one space: at view position `at`, mapped to its '<'; the text after it resumes
    # at `at + 1`, mapped to the tag's end
    at = starts - np.concatenate(([0], np.cumsum(ends - starts - 1)[:-1]))
    anchors = offsets.pack(np.stack([at, at + 1], axis=1).ravel(), np.stack([starts, ends], axis=1).ravel())
    out = _TAGS.sub(" ", text)
    return View(TEXT_VIEW, out, offsets.compose(anchors, view.anchors))
