"""Credentials in text: cloud and SaaS keys, private keys, JWTs, passwords in URLs and configs.

Provider token formats (rules/secrets.yaml) are distinctive enough to report on a match; generic
shapes (``password=...``, ``api_key = "..."``) must pass a validator first: placeholders such as
``${DB_PASSWORD}`` or ``<your-key>`` are ignored, and key-like values must look random (Shannon
entropy). Like PII, the scan covers the raw text and the normalized view.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from collections.abc import Callable

from aimds.config import Settings
from aimds.detect.pii import Candidate, Check, compiled_pack, make_finding, resolve_overlaps, scan_views
from aimds.detect.sharedscan import PatternGroup, ScanHits
from aimds.text.views import Prepared
from aimds.types import Finding, ThreatKind

PRIVATE_KEY_MAX_CHARS = 16_384
MIN_ENTROPY_BITS = 3.0


def shannon_entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


_PLACEHOLDER = re.compile(
    r"^(?:[$%{<\[(*#x.]|\{\{)|^(?:password|passwd|secret|changeme_?placeholder|none|null|nil|true|false|"
    r"undefined|example|redacted|hidden|xxx+|\*+|\.{3,}|your[_-]?\w*|<.*>)$",
    re.IGNORECASE,
)


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) or len(set(value)) < 2


_CODE_REFERENCE = re.compile(r"^[A-Za-z_]\w{0,40}(?:\.[A-Za-z_]\w{0,40}){1,6}$")


def _is_code(value: str, match: re.Match[str], text: str) -> bool:
    """``os.environ["X"]``, ``settings.API_KEY``, ``get_token()``: a reference, not a value."""
    following = text[match.end():match.end() + 1]
    return bool(_CODE_REFERENCE.match(value)) or following in ("(", "[") or value[-1:] in ("(", "[")


def _check_password(value: str, match: re.Match[str], text: str) -> Check | None:
    return None if _is_placeholder(value) else Check(0.99)


def _check_password_assignment(value: str, match: re.Match[str], text: str) -> Check | None:
    if _is_placeholder(value) or _is_code(value, match, text) or value.lower() in ("required", "optional", "string", "str"):
        return None
    if value.endswith(")") or value.isalpha() and value.islower() and len(value) < 8:
        return None  # a function call or an ordinary word in prose
    return Check(0.99)


def _check_entropy(value: str, match: re.Match[str], text: str) -> Check | None:
    if _is_placeholder(value) or _is_code(value, match, text) or shannon_entropy(value) < MIN_ENTROPY_BITS:
        return None
    classes = sum(bool(re.search(p, value)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    if classes < 2 or value.isdigit():
        return None
    return Check(0.99, f"entropy {shannon_entropy(value):.1f} bits/char")


def _check_private_key(value: str, match: re.Match[str], text: str) -> Check | None:
    end_marker = text.find("-----END", match.end(), match.end() + PRIVATE_KEY_MAX_CHARS)
    if end_marker < 0:
        return Check(0.95, "header only")
    close = text.find("-----", end_marker + 8, end_marker + 80)
    return Check(0.99, "complete block", end=close + 5 if close >= 0 else end_marker + 8)


def _check_jwt(value: str, match: re.Match[str], text: str) -> Check | None:
    header = value.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(decoded, dict) or "alg" not in decoded:
        return None
    return Check(0.95, "header names an algorithm")


VALIDATORS: dict[str, Callable[[str, re.Match[str], str], Check | None]] = {
    "password": _check_password,
    "password_assignment": _check_password_assignment,
    "entropy": _check_entropy,
    "private_key_block": _check_private_key,
    "jwt": _check_jwt,
}


class SecretDetector:
    name = "secrets"
    tier = "fast"
    kinds = frozenset({ThreatKind.SECRET})

    def __init__(self) -> None:
        self._rules, self._patterns = compiled_pack("secrets.yaml")
        self._validators = [VALIDATORS.get(r.get("validator", "")) for r in self._rules]

    def pattern_groups(self) -> tuple[PatternGroup, ...]:
        """What `SharedScan` compiles for the secret patterns."""
        return (self._patterns.group,) if self._patterns.group is not None else ()

    def find(self, text: str, shared: ScanHits | None = None) -> list[Candidate]:
        out: list[Candidate] = []
        for index, match in self._patterns.finditer(text, shared):
            rule = self._rules[index]
            group = "value" if "value" in match.re.groupindex else 0
            start, end = match.span(group)
            score, detail = float(rule.get("score", 0.9)), ""
            validator = self._validators[index]
            if validator is not None:
                check = validator(match.group(group), match, text)
                if check is None:
                    continue
                score, detail = min(score, check.score), check.detail
                end = check.end if check.end is not None else end
            out.append(Candidate("SECRET", start, end, score, rule["id"], rule["label"], detail))
        return resolve_overlaps(out)

    def scan(self, prepared: Prepared, shared: ScanHits | None = None) -> list[Finding]:
        found = scan_views(prepared, lambda text: self.find(text, shared))
        return [make_finding(c, v, ThreatKind.SECRET, self.name) for c, v in found]


def create(settings: Settings) -> SecretDetector:
    return SecretDetector()
