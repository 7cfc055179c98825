"""Replace the spans of PII/secret findings: mask, typed placeholder, keyed hash or reversible anonymization.

Only the reported spans change; everything else is copied through byte for byte, and every
replacement is reported with its position before and after, so callers (and tests) can verify that.
Overlapping findings are merged into one replacement labelled by the most confident of them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from aimds.act.vault import PLACEHOLDER, Vault
from aimds.errors import InvalidInput
from aimds.types import Finding, ThreatKind


class RedactMode(str, Enum):
    MASK = "mask"                # same length, every character replaced by mask_char
    PLACEHOLDER = "placeholder"  # <EMAIL_1>, numbered per text
    HASH = "hash"                # <EMAIL:3f2a9c...>, keyed HMAC: same value, same tag; not reversible
    ANONYMIZE = "anonymize"      # <EMAIL_1> remembered in the session's vault, reversible


@dataclass(frozen=True, slots=True)
class Replacement:
    """``[start, end)`` in the input became ``[out_start, out_end)`` in the output."""

    start: int
    end: int
    out_start: int
    out_end: int
    entity: str


@dataclass(frozen=True, slots=True)
class Redacted:
    text: str
    replacements: tuple[Replacement, ...]

    @property
    def changed(self) -> bool:
        return bool(self.replacements)


def entity_of(finding: Finding) -> str:
    entity = finding.metadata.get("entity") if finding.metadata else None
    return str(entity or finding.kind.value).upper()


class Redactor:
    def __init__(
        self,
        mode: RedactMode | str = RedactMode.PLACEHOLDER,
        *,
        hash_key: bytes | None = None,
        vault: Vault | None = None,
        mask_char: str = "*",
        kinds: Iterable[ThreatKind] = (ThreatKind.PII, ThreatKind.SECRET),
    ) -> None:
        try:
            self.mode = RedactMode(mode)
        except ValueError:
            raise InvalidInput(f"redaction mode must be one of {[m.value for m in RedactMode]}") from None
        if len(mask_char) != 1:
            raise InvalidInput("mask_char must be a single character")
        # Without a configured key, hashes are stable only within this Redactor's lifetime.
        self._hash_key = hash_key or _secrets.token_bytes(32)
        self.vault = vault if vault is not None else (Vault() if self.mode is RedactMode.ANONYMIZE else None)
        self.mask_char = mask_char
        self.kinds = frozenset(kinds)

    def redact(self, text: str, findings: Iterable[Finding], session_id: str | None = None) -> Redacted:
        if self.mode is RedactMode.ANONYMIZE and session_id is None:
            raise InvalidInput("anonymize mode needs a session_id to keep its vault")
        groups = self._merge(text, findings, self._literal_placeholders(text))
        parts: list[str] = []
        replacements: list[Replacement] = []
        numbering: dict[tuple[str, str], str] = {}
        counters: dict[str, int] = {}
        cursor = out_len = 0
        for start, end, entity in groups:
            parts.append(text[cursor:start])
            out_len += start - cursor
            value = text[start:end]
            if self.mode is RedactMode.MASK:
                new = self.mask_char * (end - start)
            elif self.mode is RedactMode.HASH:
                tag = hmac.new(self._hash_key, f"{entity}\0{value}".encode(), hashlib.sha256).hexdigest()[:12]
                new = f"<{entity}:{tag}>"
            elif self.mode is RedactMode.ANONYMIZE:
                assert self.vault is not None and session_id is not None
                new = self.vault.placeholder(session_id, entity, value, avoid=_Literal(text))
            else:
                key = (entity, value)
                while key not in numbering:
                    counters[entity] = counters.get(entity, 0) + 1
                    token = f"<{entity}_{counters[entity]}>"
                    if token not in text:
                        numbering[key] = token
                new = numbering[key]
            parts.append(new)
            replacements.append(Replacement(start, end, out_len, out_len + len(new), entity))
            out_len += len(new)
            cursor = end
        parts.append(text[cursor:])
        return Redacted("".join(parts), tuple(replacements))

    def deanonymize(self, text: str, session_id: str) -> str:
        if self.vault is None:
            raise InvalidInput("deanonymize needs a vault (anonymize mode)")
        return self.vault.deanonymize(text, session_id)

    def _literal_placeholders(self, text: str) -> list[tuple[int, int, float, str]]:
        """In anonymize mode, text that already looks like a placeholder is itself vaulted, so that
        deanonymize cannot mistake it for one of the session's values: the round trip stays exact."""
        if self.mode is not RedactMode.ANONYMIZE:
            return []
        return [(m.start(), m.end(), 0.0, m.group(1)) for m in PLACEHOLDER.finditer(text)]

    def _merge(
        self, text: str, findings: Iterable[Finding], extra: list[tuple[int, int, float, str]]
    ) -> list[tuple[int, int, str]]:
        spans = list(extra)
        for f in findings:
            if f.kind not in self.kinds or f.span is None or f.span.start == f.span.end:
                continue
            if f.span.end > len(text):
                raise InvalidInput(f"finding span {f.span.start}-{f.span.end} lies outside a text of {len(text)} characters")
            spans.append((f.span.start, f.span.end, f.score, entity_of(f)))
        spans.sort()
        merged: list[list] = []
        for start, end, score, entity in spans:
            if merged and start < merged[-1][1]:
                last = merged[-1]
                last[1] = max(last[1], end)
                if score > last[2]:
                    last[2], last[3] = score, entity
            else:
                merged.append([start, end, score, entity])
        return [(s, e, ent) for s, e, _, ent in merged]


class _Literal:
    """``token in _Literal(text)`` asks whether the text already contains that placeholder."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and token in self._text
