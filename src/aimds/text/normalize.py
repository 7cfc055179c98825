"""The normalize stage: one pass from a raw text to every view detectors read, plus findings about it.

Views, in order (a view is present only when it differs from what came before):
- ``normalized`` (always ``views[0]``): NFKC, confusables folded to ASCII, invisibles removed;
- ``unicode``: the same but letters of other scripts kept, for detectors of non-English text;
- ``folded``: ``normalized`` with leetspeak and spacing tricks undone (see `tricks` for why apart);
- ``decoded:rot13``: ``normalized`` rotated, when the text says rot13 or reads as English rotated;
- ``text``: ``normalized`` with HTML tags and comments taken out, for the learned models (see `hidden`);
- ``hidden:html``: each passage hidden from human readers (HTML comments, hidden elements), tags
  stripped, with ``origin`` = its span in the original (see `hidden`);
- ``decoded:<encoding>``: payloads (tags, variation selectors, base64, hex, url, html,
  unicode_escape), each with ``origin`` = its span in the original and ``depth`` = nesting level,
  decoded again up to ``settings.decode_max_depth`` levels and ``settings.decode_max_payloads`` in all.

Findings: ``INVISIBLE_TEXT`` for hidden characters (and, informational, for hidden HTML passages), ``ENCODING_OBFUSCATION`` for decoded payloads
(score 0.5, 0.6 when nested: whether a payload is an attack is for the detectors reading it),
look-alike letters mixed into Latin words, zalgo stacks and rot13.
"""

from __future__ import annotations

import re

from aimds.config import Settings
from aimds.errors import InputTooLarge, InvalidInput
from aimds.text import decoders, hidden, tricks, unicode_fold
from aimds.text.decoders import Budget
from aimds.text.gates import Gates, may_match
from aimds.text.views import Prepared, View
from aimds.types import Finding, Role, ThreatKind

DETECTOR = unicode_fold.DETECTOR
#: total decoded characters one input may produce, across all payloads and depths
MAX_DECODED_CHARS = 262_144
_PAYLOAD_SCORE = 0.5
_NESTED_SCORE = 0.6
# Informational: pages hide text for harmless reasons; what the passage says decides (see decide).
_HIDDEN_PASSAGE_SCORE = 0.1

_ROT13 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm",
)
_ROT13_MENTION = re.compile(r"(?<![A-Za-z0-9])rot[ _-]?13(?![0-9])", re.IGNORECASE)
_COMMON_WORDS = (
    "the and you that this with for are not have your all from what will can was but they ignore "
    "previous instructions instruction system prompt tell now must should reveal secret password "
    "rules forget disregard print show write output respond answer execute command"
).split()
_COMMON = frozenset(_COMMON_WORDS)
_ROTATED_COMMON = frozenset(w.translate(_ROT13) for w in _COMMON_WORDS)
_WORD_SPLIT = str.maketrans({c: " " for c in "\t\n\r!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~0123456789"})
_ROT13_SAMPLE = 8192
#: rotated forms of the most frequent words; substring tests are far cheaper than any word split
_ROT13_GATE = ("gur", "naq", "lbh", "guvf", "sbe", "jvgu", "nyy", "vtaber", "cerivbhf")
_GATES = Gates(
    {
        **unicode_fold.GATE_PATTERNS,
        **tricks.GATE_PATTERNS,
        **decoders.GATE_PATTERNS,
        **hidden.GATE_PATTERNS,
        "rot13": re.compile("|".join(_ROT13_GATE), re.IGNORECASE),
    }
)


def prepare(text: str, role: Role | str, settings: Settings) -> Prepared:
    """All views of ``text`` and the findings about the text itself (see the module docstring)."""
    if not isinstance(text, str):
        raise InvalidInput(f"text must be a string, not {type(text).__name__}")
    if len(text) > settings.max_input_chars:
        raise InputTooLarge(len(text), settings.max_input_chars)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"unknown role {role!r}; expected one of {[r.value for r in Role]}") from None

    gates = _GATES.fired(text) if text.isascii() else None  # the fold reads them only for ASCII text
    uf = unicode_fold.fold(text, gates)
    normalized = uf.normalized
    if gates is None or normalized.text is not text:  # the rest reads the normalized text
        gates = _GATES.fired(normalized.text)
    views: list[View] = [normalized]
    findings: list[Finding] = list(uf.findings)
    if uf.unicode is not None:
        views.append(uf.unicode)
    folded = tricks.fold_tricks(normalized, gates)
    if folded is not None:
        views.append(folded)
    rot13 = _rot13(normalized) if may_match(gates, "rot13") else None
    if rot13 is not None:
        views.append(rot13[0])
        findings.append(rot13[1])

    markup_free = hidden.without_markup(normalized)
    if markup_free is not None:
        views.append(markup_free)
    for span, passage in hidden.hidden_passages(normalized.text, gates):
        origin = normalized.to_original(span.start, span.end)
        views.append(View(hidden.VIEW, passage, origin=origin))
        findings.append(Finding(
            kind=ThreatKind.INVISIBLE_TEXT, detector=DETECTOR, score=_HIDDEN_PASSAGE_SCORE,
            reason=f"{len(passage)} characters of text hidden from readers (HTML comment or hidden element)",
            span=origin, rule_id=hidden.RULE_ID, view=hidden.VIEW,
        ))

    budget = Budget(settings.decode_max_payloads, MAX_DECODED_CHARS)
    for payload in uf.payloads if settings.decode_max_depth > 0 else ():
        taken = budget.take(payload.text)
        if taken is not None:
            view = View(payload.name, _fold_payload(taken), origin=payload.span, depth=1)
            views.append(view)
            _decode(view, 1, settings.decode_max_depth, budget, views, findings)
    _decode(normalized, 0, settings.decode_max_depth, budget, views, findings, gates)
    return Prepared(raw=text, role=role, views=tuple(views), findings=tuple(findings))


def _decode(
    source: View,
    depth: int,
    max_depth: int,
    budget: Budget,
    views: list[View],
    findings: list[Finding],
    gates: frozenset[str] | None = None,
) -> None:
    """Decode payloads in ``source`` (and in them, depth-first) into ``views``."""
    if depth >= max_depth or budget.spent:
        return
    for payload in decoders.find_payloads(source.text, budget, gates):
        origin = source.to_original(payload.start, payload.end)
        view = View(f"decoded:{payload.encoding}", _fold_payload(payload.text), origin=origin, depth=depth + 1)
        views.append(view)
        if payload.suspicious:
            findings.append(_payload_finding(view, payload.encoding))
        _decode(view, depth + 1, max_depth, budget, views, findings)


def _fold_payload(text: str) -> str:
    """Decoded text gets the same unicode fold, so homoglyphs inside a payload are folded too."""
    return unicode_fold.fold(text).normalized.text


def _payload_finding(view: View, encoding: str) -> Finding:
    nested = view.depth > 1
    where = f" nested {view.depth} levels deep" if nested else ""
    return Finding(
        kind=ThreatKind.ENCODING_OBFUSCATION,
        detector=DETECTOR,
        score=_NESTED_SCORE if nested else _PAYLOAD_SCORE,
        reason=f"{encoding} payload{where} decoded to {len(view.text)} characters of text",
        span=view.origin,
        rule_id=f"normalize.decoded.{encoding}",
        view=view.name,
        metadata={"encoding": encoding, "depth": view.depth, "decoded_chars": len(view.text)},
    )


def _rot13(normalized: View) -> tuple[View, Finding] | None:
    """A rot13 view when the text mentions rot13 or far more common words appear once rotated.

    Counting rotated common words in the text itself gives the decoded count without decoding; the
    rotated words ("gur", "naq", "lbh") are rare in any real language, so the test is cheap and tight.
    Distinct words are counted, from the first 8 kB, with set operations only.
    """
    text = normalized.text
    sample = text[:_ROT13_SAMPLE].lower()
    if not any(word in sample for word in _ROT13_GATE):
        return None
    words = set(sample.translate(_WORD_SPLIT).split())
    rotated_hits = len(words & _ROTATED_COMMON)
    if rotated_hits == 0:
        return None
    mentioned = _ROT13_MENTION.search(text) is not None
    if not mentioned and (rotated_hits < 3 or rotated_hits <= 2 * len(words & _COMMON)):
        return None
    view = View("decoded:rot13", text.translate(_ROT13), normalized.anchors, depth=1)
    first = _first_word(text, words & _ROTATED_COMMON)
    finding = Finding(
        kind=ThreatKind.ENCODING_OBFUSCATION,
        detector=DETECTOR,
        score=_PAYLOAD_SCORE,
        reason=f"rot13-encoded text ({rotated_hits} common words once decoded)",
        span=normalized.to_original(first, len(text)),
        rule_id="normalize.decoded.rot13",
        view=view.name,
        metadata={"encoding": "rot13", "depth": 1},
    )
    return view, finding


def _first_word(text: str, words: set[str]) -> int:
    lowered = text.lower()  # may differ in length outside ASCII: clamp
    return min(min((i for i in (lowered.find(w) for w in words) if i >= 0), default=0), len(text))
