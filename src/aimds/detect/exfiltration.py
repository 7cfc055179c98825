"""Structural exfiltration detector: links and images whose URL carries data out.

A markdown or HTML image is fetched by the client as soon as the answer renders, so an image URL
with conversation data in its query leaks that data with no click at all. Signature rules catch
the *instruction* to do this; this detector catches the *URL itself*, whatever words surround it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from aimds.config import Settings
from aimds.text.views import Prepared
from aimds.types import Finding, ThreatKind

_MD_IMAGE = re.compile(r"!\[[^\]\n]{0,500}\]\(\s*<?(https?://[^\s)>]{1,4096})")
_MD_LINK = re.compile(r"(?<!!)\[[^\]\n]{0,500}\]\(\s*<?(https?://[^\s)>]{1,4096})")
_HTML_IMG = re.compile(r"<img\b[^>]{0,500}?\bsrc\s*=\s*[\"']?(https?://[^\s\"'>]{1,4096})", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{[^{}\s]{1,64}\}|\$\{|\{\{|%7b|\[[A-Z_]{3,40}\]", re.IGNORECASE)
_TOKENISH = re.compile(r"[A-Za-z0-9+/=_\-]{32,}")
_MAX_URLS = 200


@dataclass(frozen=True)
class ExfiltrationDetector:
    name: str = "exfiltration"
    tier: str = "fast"
    kinds: frozenset[ThreatKind] = frozenset({ThreatKind.DATA_EXFILTRATION})
    image_score: float = 0.88
    link_score: float = 0.55

    def scan(self, prepared: Prepared) -> list[Finding]:
        view = prepared.normalized
        text = view.text
        if "http" not in text and "HTTP" not in text:
            return []
        findings = []
        candidates = [(m, True) for m in _MD_IMAGE.finditer(text)]
        candidates += [(m, True) for m in _HTML_IMG.finditer(text)]
        candidates += [(m, False) for m in _MD_LINK.finditer(text)]
        for match, is_image in candidates[:_MAX_URLS]:
            why = _carries_data(match.group(1))
            if why is None:
                continue
            what = "image" if is_image else "link"
            findings.append(
                Finding(
                    kind=ThreatKind.DATA_EXFILTRATION,
                    detector=self.name,
                    score=self.image_score if is_image else self.link_score,
                    reason=f"a {what} to {_host(match.group(1))} whose URL {why}"
                    + (" (images load without a click)" if is_image else ""),
                    span=view.to_original(match.start(), match.end()),
                )
            )
        return findings


def _carries_data(url: str) -> str | None:
    """Why this URL looks like it carries data, or None for an ordinary URL."""
    if _PLACEHOLDER.search(url):
        return "has a placeholder to be filled with data"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    for _, value in parse_qsl(parts.query, keep_blank_values=True)[:50]:
        decoded = unquote_plus(value)
        if len(decoded) >= 40 and decoded.count(" ") >= 5:
            return "carries a sentence of text in its query"
        if _TOKENISH.fullmatch(value) and len(set(value)) > 16:
            return "carries an encoded payload in its query"
    for segment in parts.path.split("/")[-3:]:
        if len(segment) >= 64 and _TOKENISH.fullmatch(segment) and len(set(segment)) > 20:
            return "carries an encoded payload in its path"
    return None


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "an unknown host"
    except ValueError:
        return "an unknown host"


def create(settings: Settings) -> ExfiltrationDetector:
    return ExfiltrationDetector()
