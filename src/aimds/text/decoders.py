"""Finding encoded payloads in a text and decoding them: base64, hex, percent, HTML and unicode escapes.

Each decoder is a linear regex scan (character classes under single quantifiers; repeated groups
only of fixed-length escapes) plus a check that the result is text, so random tokens, hashes and
ids that merely look encoded are dropped. `Budget` bounds the number of payloads and the total
decoded size across one input, including nested decoding.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import urllib.parse
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Iterator

from aimds.text.gates import may_match

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{16,}={0,2}")
# Base64 of text is full of lower-case letters followed by capitals or digits ("aWdub3Jl"), which prose
# rarely has; starting with the (rare) capitals and digits lets the engine skip ahead at C speed.
_BASE64_HINT = re.compile(r"[A-Z0-9+/](?<=[a-z][A-Z0-9+/])[A-Za-z0-9+/_-]{6}")
_HEX_ESCAPES = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){4,}")
# Hex of text starts with a byte 0x20-0x7f, so these patterns start with a digit 2-7: the engine
# skips letters at C speed, which matters because a-f are everywhere in prose.
_HEX_PLAIN = re.compile(r"[2-7](?<![0-9A-Za-wyz][2-7])[0-9A-Fa-f]{15,}(?![0-9A-Za-z])")
_HEX_SPACED = re.compile(r"[2-7](?<![0-9A-Za-z][2-7])[0-9A-Fa-f](?:[ :][0-9A-Fa-f]{2}){7,}(?![0-9A-Za-z])")
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]{2}")
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_LETTER = re.compile(r"[^\W\d_]")
_EDGE_CHARS = r"[^\s<>\"'`%&\\]"
_EDGE_BEFORE = re.compile(_EDGE_CHARS + r"{1,32}$")
_EDGE_AFTER = re.compile(_EDGE_CHARS + r"{1,32}")
_MAX_GAP = 32
_MIN_TEXT = 6
_MAX_ESCAPES_COUNTED = 256


@dataclass(frozen=True, slots=True)
class Payload:
    """A decoded payload; ``start``/``end`` are offsets in the text that was scanned."""

    encoding: str
    text: str
    start: int
    end: int
    suspicious: bool


class Budget:
    """How many more payloads and decoded characters one input may still produce."""

    def __init__(self, payloads: int, chars: int) -> None:
        self.payloads = payloads
        self.chars = chars

    @property
    def spent(self) -> bool:
        return self.payloads <= 0 or self.chars <= 0

    def take(self, text: str) -> str | None:
        if self.spent:
            return None
        text = text[: self.chars]
        self.payloads -= 1
        self.chars -= len(text)
        return text


def find_payloads(text: str, budget: Budget, gates: frozenset[str] | None = None) -> list[Payload]:
    """Every payload in ``text``, in the order the decoders run, until the budget is spent.

    ``gates`` (from `aimds.text.gates`, for ``text``) lets it skip decoders that cannot match.
    """
    found: list[Payload] = []
    if gates is not None and gates.isdisjoint(GATE_PATTERNS):  # every scan is gated: none can find anything
        return found
    for scan in _SCANS:
        for payload in scan(text, budget, gates):
            kept = budget.take(payload.text)
            if kept is None:
                return found
            found.append(Payload(payload.encoding, kept, payload.start, payload.end, payload.suspicious))
    return found


def looks_like_text(decoded: str) -> bool:
    """Mostly printable characters, a good share of them letters: what a smuggled instruction is."""
    n = len(decoded)
    if n < _MIN_TEXT:
        return False
    if len(_NOT_TEXT.findall(decoded)) * 20 > n:
        return False
    return len(_LETTER.findall(decoded)) * 5 >= n * 2


# --- base64 and hex -------------------------------------------------------------------------------


def _base64(text: str, budget: Budget, gates: frozenset[str] | None) -> Iterator[Payload]:
    if not (may_match(gates, "base64") and _BASE64_HINT.search(text)):
        return
    for match in _BASE64.finditer(text):
        candidate = match.group()
        decoded = _b64decode(candidate[: budget.chars * 4 // 3 + 4])
        if decoded is not None and looks_like_text(decoded):
            yield Payload("base64", decoded, match.start(), match.end(), True)


def _b64decode(candidate: str) -> str | None:
    body = candidate.rstrip("=")
    urlsafe = "-" in body or "_" in body
    if urlsafe and ("+" in body or "/" in body):
        return None
    body = body[: len(body) - len(body) % 4] if len(body) % 4 == 1 else body
    padded = body + "=" * (-len(body) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_" if urlsafe else None, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", "replace")


def _hex(text: str, budget: Budget, gates: frozenset[str] | None) -> Iterator[Payload]:
    patterns = [p for name, p in _HEX_GATES if may_match(gates, name) and (p is not _HEX_ESCAPES or "\\x" in text)]
    for pattern in patterns:
        for match in pattern.finditer(text):
            digits = "".join(_HEX_DIGITS.findall(match.group(), 0, budget.chars * 4 + 8))
            if len(digits) % 2:
                continue
            decoded = bytes.fromhex(digits[: budget.chars * 2]).decode("utf-8", "replace")
            if looks_like_text(decoded):
                yield Payload("hex", decoded, match.start(), match.end(), True)


# --- escapes --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _EscapeFamily:
    encoding: str
    lead: str  # the character every escape starts with
    run: re.Pattern[str]
    one: re.Pattern[str]
    decode_one: Callable[[re.Match[str]], str]
    decode_all: Callable[[str], str]


def _unicode_one(match: re.Match[str]) -> str:
    digits = match.group().strip("\\uU{}")
    code = int(digits, 16)
    return chr(code) if code <= 0x10FFFF else "\ufffd"


def _unicode_all(region: str) -> str:
    decoded = _UNICODE_ONE.sub(_unicode_one, region)
    # \ud83d\ude00 pairs decode to surrogates; join them into the real character
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _html_one(match: re.Match[str]) -> str:
    return html.unescape(match.group())


def _url_one(match: re.Match[str]) -> str:
    return chr(int(match.group()[1:], 16))


_UNICODE_ONE = re.compile(r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}|\\u\{[0-9A-Fa-f]{1,6}\}")
_HTML_ONE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_URL_ONE = re.compile(r"%[0-9A-Fa-f]{2}")


def _run_of(one: re.Pattern[str]) -> re.Pattern[str]:
    """One or more escapes in a row, written ``X(?:X)*`` rather than ``(?:X)+``: the same matches, but
    the engine sees the literal each escape starts with and skips to it at C speed (60x faster)."""
    return re.compile(f"(?:{one.pattern})(?:{one.pattern})*")


_FAMILIES = (
    _EscapeFamily(
        "url", "%", _run_of(_URL_ONE), _URL_ONE, _url_one, lambda s: urllib.parse.unquote(s, errors="replace"),
    ),
    _EscapeFamily("html", "&", _run_of(_HTML_ONE), _HTML_ONE, _html_one, html.unescape),
    _EscapeFamily("unicode_escape", "\\", _run_of(_UNICODE_ONE), _UNICODE_ONE, _unicode_one, _unicode_all),
)
_ESCAPE_HINT = re.compile(r"[%&\\](?:(?<=%)[0-9A-Fa-f]{2}|(?<=&)#?[A-Za-z0-9]{1,32};|(?<=\\)[uU][0-9A-Fa-f{])")


def _escapes(text: str, budget: Budget, gates: frozenset[str] | None) -> Iterator[Payload]:
    if not (may_match(gates, "escapes") and _ESCAPE_HINT.search(text)):
        return
    for family in _FAMILIES:
        for start, end in _regions(text, family.run):
            if text.count(family.lead, start, end) < 2:  # a lone escape ("&copy;"), found at C speed
                continue
            # widening adds no escape (its characters exclude "%&\\"), so count before it
            escapes = list(islice(family.one.finditer(text, start, end), _MAX_ESCAPES_COUNTED))
            if len(escapes) < 2:
                continue
            start, end = _widen(text, start, end)
            region = text[start:end]
            decoded = family.decode_all(region[: budget.chars * 12])
            if not decoded.strip() or decoded == region:
                continue
            hidden_alnum = sum(1 for m in escapes if _is_ascii_alnum(family.decode_one(m)))
            yield Payload(family.encoding, decoded, start, end, hidden_alnum >= 3)


def _is_ascii_alnum(s: str) -> bool:
    return s.isascii() and s.isalnum()


def _regions(text: str, run: re.Pattern[str]) -> Iterator[tuple[int, int]]:
    """Runs of escapes merged across short gaps on one line."""
    start = end = -1
    for match in run.finditer(text):
        if start >= 0 and match.start() - end <= _MAX_GAP and "\n" not in text[end : match.start()]:
            end = match.end()
            continue
        if start >= 0:
            yield start, end
        start, end = match.span()
    if start >= 0:
        yield start, end


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """A region widened to the word around it (a payload's first or last letters may be plain)."""
    before = _EDGE_BEFORE.search(text, max(0, start - 32), start)
    after = _EDGE_AFTER.match(text, end, end + 32)
    return (before.start() if before else start, after.end() if after else end)


_SCANS: tuple[Callable[[str, Budget, frozenset[str] | None], Iterator[Payload]], ...] = (_base64, _hex, _escapes)
_HEX_GATES = (("hex_escapes", _HEX_ESCAPES), ("hex", _HEX_PLAIN), ("hex_spaced", _HEX_SPACED))
# The base64 hint with its lookbehind consumed instead (Hyperscan would drop it): same texts match.
_BASE64_GATE = re.compile(r"[a-z][A-Z0-9+/][A-Za-z0-9+/_-]{6}")
#: per regex `find_payloads` may skip, one that matches wherever it does, for a Hyperscan pass (see `gates`)
GATE_PATTERNS = {"base64": _BASE64_GATE, "escapes": _ESCAPE_HINT, **dict(_HEX_GATES)}
