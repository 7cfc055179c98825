"""Checks on what a model says: system-prompt leaks, secrets and PII leaving, exfiltration links, jailbreak personas.

`OutputScanner.check(answer, prompt=...)` returns a `Verdict` for a whole answer;
`OutputScanner.stream(chunks)` wraps an async iterator of answer chunks, scans each new chunk
together with a bounded look-back (so a value split across chunks is still seen whole), holds back
a few characters so that what it has not yet checked is not yet shown, and stops at the first
blocking finding with its offset.

Canary tokens are keyed: `canary()` returns ``aimds-canary-<nonce><mac>``, and any 20-hex-digit
run in an answer whose MAC verifies is a leak, so no list of issued canaries has to be kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from aimds import yamlio
from aimds.act.redact import Redactor, RedactMode
from aimds.detect.pii import PiiDetector
from aimds.detect.secrets import SecretDetector
from aimds.errors import AimdsError, InputTooLarge, InvalidInput, RulePackError
from aimds.text.views import Prepared, identity_view
from aimds.types import Action, Finding, Role, Span, ThreatKind, Verdict, strictest

CANARY_PREFIX = "aimds-canary-"
_CANARY_HEX = re.compile(r"(?<![0-9a-f])[0-9a-f]{20}(?![0-9a-f])")
_WORD = re.compile(r"[^\W_]{1,40}", re.UNICODE)
_URLS = (
    ("image", 0.95, re.compile(r"!\[[^\]\n]{0,1000}\]\(\s{0,8}<?([^\s)>]{1,4096})")),
    ("image", 0.95, re.compile(r"<img\b[^>]{0,500}?\bsrc\s{0,3}=\s{0,3}[\"']?([^\"'\s>]{1,4096})", re.I)),
    ("link", 0.8, re.compile(r"(?<!!)\[[^\]\n]{0,1000}\]\(\s{0,8}<?([^\s)>]{1,4096})")),
    ("reference", 0.8, re.compile(r"(?m)^\s{0,3}\[[^\]\n]{1,200}\]:\s{0,8}<?(\S{1,4096})")),
    ("url", 0.7, re.compile(r"(?<![(<\"'=])\bhttps?://[^\s<>\"')\]]{1,4096}")),
)
# Canaries (33 chars) and persona phrases are short: rescanning this much of older text finds any
# that a chunk boundary split.
_RESCAN_MARGIN = 256
_ENCODED_VALUE = re.compile(r"^(?:[A-Za-z0-9+/_-]{16,}={0,2}|[0-9a-fA-F]{16,}|(?:%[0-9A-Fa-f]{2}){4,}.*)$")


class StreamBlocked(AimdsError):
    """The answer stream was stopped: ``offset`` is where the blocking finding starts in the answer,
    ``emitted`` how many characters had already been passed on (all before ``offset`` unless the
    finding reaches back further than the hold-back)."""

    code = "stream_blocked"

    def __init__(self, finding: Finding, offset: int, emitted: int) -> None:
        super().__init__(f"answer stream stopped at character {offset}: {finding.reason}")
        self.finding = finding
        self.offset = offset
        self.emitted = emitted


@dataclass(frozen=True, slots=True)
class OutputRules:
    actions: dict[str, dict[str, float]]
    shingle_words: int
    review_coverage: float
    block_coverage: float
    min_value_chars: int
    min_total_query_chars: int
    max_urls: int
    persona: tuple[tuple[str, float, re.Pattern[str]], ...]

    @classmethod
    def load(cls, path: str | None = None) -> "OutputRules":
        try:
            if path is None:
                text = resources.files("aimds").joinpath("output.yaml").read_text(encoding="utf-8")
            else:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
            data = yamlio.load(text)
            persona = tuple(
                (p["id"], float(p["score"]), re.compile(p["pattern"], re.IGNORECASE)) for p in data["persona"]
            )
            sim, exf = data["similarity"], data["exfiltration"]
            return cls(
                actions=data["actions"],
                shingle_words=int(sim["shingle_words"]),
                review_coverage=float(sim["review_coverage"]),
                block_coverage=float(sim["block_coverage"]),
                min_value_chars=int(exf["min_value_chars"]),
                min_total_query_chars=int(exf["min_total_query_chars"]),
                max_urls=int(exf["max_urls"]),
                persona=persona,
            )
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, re.error) as exc:
            raise RulePackError(f"output rules {path or 'output.yaml'}: {exc}") from None


@dataclass
class _StreamState:
    matched_shingles: set[int] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    seen: set[tuple[str | None, int, int]] = field(default_factory=set)


class OutputScanner:
    """Scans model answers. Build it with `from_guard(guard)` or from the pieces it needs."""

    def __init__(
        self,
        *,
        system_prompt: str | None = None,
        canary_key: bytes | None = None,
        canaries: Iterable[str] = (),
        allowed_domains: Iterable[str] = (),
        pii: PiiDetector | None = None,
        secrets: SecretDetector | None = None,
        prepare: Callable[[str, Role], Prepared] | None = None,
        redactor: Redactor | None = None,
        rules: OutputRules | None = None,
        max_chars: int = 1_048_576,
    ) -> None:
        self.rules = rules or OutputRules.load()
        self._canary_key = canary_key or _secrets.token_bytes(32)
        self._canaries = tuple(c for c in canaries if c)
        self.allowed_domains = tuple(d.lower().lstrip(".") for d in allowed_domains)
        self._pii = pii or PiiDetector()
        self._secrets = secrets or SecretDetector()
        self._prepare = prepare
        self._redactor = redactor or Redactor(RedactMode.PLACEHOLDER)
        self.max_chars = max_chars
        self._system_shingles = self._shingles(system_prompt) if system_prompt else frozenset()

    @classmethod
    def from_guard(cls, guard: Any, **kwargs: Any) -> "OutputScanner":
        """Reuse a Guard's normalizer and settings; other options as in the constructor."""
        from aimds.detect.registry import build

        kwargs.setdefault("prepare", guard.prepare)
        kwargs.setdefault("pii", build("pii", guard.settings))
        kwargs.setdefault("secrets", build("secrets", guard.settings))
        kwargs.setdefault("max_chars", guard.settings.max_input_chars)
        return cls(**kwargs)

    # --- canaries -----------------------------------------------------------------------------

    def canary(self) -> str:
        """A fresh random marker to plant in a system prompt; seeing it in an answer means a leak."""
        nonce = _secrets.token_hex(6)
        return f"{CANARY_PREFIX}{nonce}{self._canary_mac(nonce)}"

    def _canary_mac(self, nonce: str) -> str:
        return hmac.new(self._canary_key, nonce.encode(), hashlib.sha256).hexdigest()[:8]

    def _find_canaries(self, text: str, offset: int, pos: int = 0) -> list[Finding]:
        out = []
        for m in _CANARY_HEX.finditer(text, pos):
            nonce, mac = m.group()[:12], m.group()[12:]
            if hmac.compare_digest(mac, self._canary_mac(nonce)):
                out.append(self._canary_finding(m.start() + offset, m.end() + offset, "output.canary"))
        for planted in self._canaries:
            start = text.find(planted, pos)
            while start >= 0:
                out.append(self._canary_finding(start + offset, start + offset + len(planted), "output.canary_listed"))
                start = text.find(planted, start + 1)
        return out

    @staticmethod
    def _canary_finding(start: int, end: int, rule_id: str) -> Finding:
        return Finding(ThreatKind.SYSTEM_PROMPT_EXTRACTION, "output", 1.0,
                       f"canary token from the system prompt at {start}-{end}", Span(start, end), rule_id)

    # --- system prompt similarity -------------------------------------------------------------

    def _shingles(self, text: str) -> frozenset[int]:
        words = [w.lower() for w in _WORD.findall(text)]
        k = min(self.rules.shingle_words, len(words))
        if k == 0:
            return frozenset()
        return frozenset(hash(tuple(words[i:i + k])) for i in range(len(words) - k + 1))

    def _similarity(self, text: str, state: _StreamState, pos: int = 0) -> list[Finding]:
        if not self._system_shingles:
            return []
        state.matched_shingles |= self._shingles(text[pos:]) & self._system_shingles
        coverage = len(state.matched_shingles) / len(self._system_shingles)
        if coverage < self.rules.review_coverage:
            return []
        score = min(1.0, 0.6 + 0.3 * (coverage - self.rules.review_coverage)
                    / max(1e-9, self.rules.block_coverage - self.rules.review_coverage))
        return [Finding(ThreatKind.SYSTEM_PROMPT_EXTRACTION, "output", score,
                        f"answer repeats {coverage:.0%} of the system prompt", None, "output.system_prompt_overlap",
                        metadata={"coverage": round(coverage, 3)})]

    # --- exfiltration links --------------------------------------------------------------------

    def _allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)

    def _find_links(self, text: str, offset: int, context: str) -> list[Finding]:
        out: list[Finding] = []
        if "://" not in text:
            return out
        covered: list[tuple[int, int]] = []
        for kind, base_score, pattern in _URLS:
            for m in pattern.finditer(text):
                if len(covered) >= self.rules.max_urls:
                    return out
                start, end = m.span(1) if pattern.groups else m.span()
                if any(s <= start < e for s, e in covered):
                    continue
                covered.append((start, end))
                url = m.group(1) if pattern.groups else m.group()
                signal = self._carries_data(url, context)
                if signal is None:
                    continue
                try:
                    host = urlsplit(url).hostname or ""
                except ValueError:
                    host = ""
                out.append(Finding(
                    ThreatKind.DATA_EXFILTRATION, "output", base_score,
                    f"{kind} to {host or 'unknown host'} carries data ({signal}) at {start + offset}-{end + offset}",
                    Span(start + offset, end + offset), f"output.exfil_{kind}",
                    metadata={"host": host, "signal": signal},
                ))
        return out

    def _carries_data(self, url: str, context: str) -> str | None:
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme.lower() not in ("http", "https", "") or not parts.hostname or self._allowed(parts.hostname):
            return None
        values = [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
        values += [unquote(parts.fragment)] if parts.fragment else []
        values += [unquote(seg) for seg in parts.path.split("/") if len(seg) >= self.rules.min_value_chars]
        decoded = unquote(url)
        if self._secrets.find(decoded) or self._pii.find(decoded):
            return "secret or personal data"
        for value in values:
            if len(value) >= 8 and context and value in context:
                return "text from the conversation"
            if len(value) >= self.rules.min_value_chars and _ENCODED_VALUE.match(value):
                return "encoded value"
        if len(parts.query) >= self.rules.min_total_query_chars:
            return "long query string"
        return None

    # --- jailbreak personas ----------------------------------------------------------------------

    def _find_personas(self, text: str, pos: int = 0) -> list[Finding]:
        out = []
        for rule_id, score, pattern in self.rules.persona:
            m = pattern.search(text, pos)
            if m:
                start = m.start() + (1 if m.group().startswith("\n") else 0)
                out.append(Finding(ThreatKind.JAILBREAK, "output", score,
                                   f"answer speaks as a jailbreak persona at {start}-{m.end()}",
                                   Span(start, m.end()), rule_id))
        return out

    # --- whole answers ----------------------------------------------------------------------------

    def _views(self, text: str) -> Prepared:
        if self._prepare is not None:
            return self._prepare(text, Role.ASSISTANT)
        return Prepared(raw=text, role=Role.ASSISTANT, views=(identity_view("normalized", text),))

    def _scan_window(
        self, text: str, offset: int, prompt: str | None, state: _StreamState, fresh: int = 0
    ) -> list[Finding]:
        """Findings in ``text`` (which starts at ``offset`` in the answer). Text before ``fresh``
        was scanned in an earlier window: the Python-regex checks (short patterns) skip it but for a
        margin; the hyperscan-backed detectors are cheap enough to rescan the whole window."""
        prepared = self._views(text)
        norm = prepared.normalized.text
        pos = max(0, fresh - _RESCAN_MARGIN)
        norm_pos = max(0, len(norm) - (len(text) - fresh) - _RESCAN_MARGIN)
        found = self._find_canaries(text, offset, pos)
        if norm != text:
            found += [self._shift(f, prepared.normalized, offset) for f in self._find_canaries(norm, 0, norm_pos)]
        found += self._similarity(norm, state, norm_pos)
        found += [_shifted(f, offset) for f in self._secrets.scan(prepared)]
        for f in self._pii.scan(prepared):
            f = _shifted(f, offset)
            if prompt and f.span and text[f.span.start - offset:f.span.end - offset] in prompt:
                f = Finding(f.kind, f.detector, f.score * 0.5, f.reason + " (repeated from the prompt)",
                            f.span, f.rule_id, f.view, dict(f.metadata, echoed=True))
            found.append(f)
        found += self._find_links(text, offset, (prompt or ""))
        found += [_shifted(self._map(f, prepared), offset) for f in self._find_personas(norm, norm_pos)]
        return found

    @staticmethod
    def _map(f: Finding, prepared: Prepared) -> Finding:
        span = prepared.normalized.to_original(f.span.start, f.span.end) if f.span else None
        return Finding(f.kind, f.detector, f.score, f.reason, span, f.rule_id, "normalized", f.metadata)

    def _shift(self, f: Finding, view: Any, offset: int) -> Finding:
        span = view.to_original(f.span.start, f.span.end) if f.span else None
        return _shifted(Finding(f.kind, f.detector, f.score, f.reason, span, f.rule_id, view.name, f.metadata), offset)

    def action_for(self, finding: Finding) -> Action:
        levels = self.rules.actions.get(finding.kind.value, {})
        if finding.score >= levels.get("block", 2.0):
            return Action.BLOCK
        if finding.score >= levels.get("review", 2.0):
            return Action.REVIEW
        if finding.score >= levels.get("sanitize", 2.0):
            return Action.SANITIZE
        return Action.ALLOW

    def scan(self, answer: str, prompt: str | None = None) -> list[Finding]:
        """All findings in a complete answer, spans into ``answer``."""
        _check_text(answer, self.max_chars)
        return _dedupe(self._scan_window(answer, 0, prompt, _StreamState()))

    def check(self, answer: str, prompt: str | None = None, session_id: str | None = None) -> Verdict:
        started = time.perf_counter()
        findings = self.scan(answer, prompt)
        action = strictest([self.action_for(f) for f in findings])
        sanitized = None
        if action is Action.SANITIZE:
            to_redact = [f for f in findings if self.action_for(f) is Action.SANITIZE]
            sanitized = self._redactor.redact(answer, to_redact, session_id=session_id).text
        return Verdict(
            action=action,
            risk=max((f.score for f in findings), default=0.0),
            findings=tuple(findings),
            role=Role.ASSISTANT,
            latency_ms=(time.perf_counter() - started) * 1000,
            sanitized_text=sanitized,
            session_id=session_id,
        )

    # --- streams ------------------------------------------------------------------------------------

    def stream(
        self,
        chunks: AsyncIterable[str],
        *,
        prompt: str | None = None,
        lookback: int = 1024,
        holdback: int = 64,
    ) -> "OutputStream":
        if lookback < 64 or holdback < 0 or holdback > lookback:
            raise InvalidInput("stream needs lookback >= 64 and 0 <= holdback <= lookback")
        return OutputStream(self, chunks, prompt, lookback, holdback)


class OutputStream:
    """Async iterator over the checked chunks of an answer. After it ends, ``findings`` holds every
    non-blocking finding (spans into the whole answer); on a blocking one it raises `StreamBlocked`."""

    def __init__(self, scanner: OutputScanner, chunks: AsyncIterable[str], prompt: str | None,
                 lookback: int, holdback: int) -> None:
        self._scanner = scanner
        self._chunks = chunks
        self._prompt = prompt
        self._lookback = lookback
        self._holdback = holdback
        self._state = _StreamState()
        self.findings = self._state.findings
        self.chunks_scanned = 0

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        scanner = self._scanner
        buf, base, sent, total = "", 0, 0, 0
        async for chunk in self._chunks:
            if not isinstance(chunk, str):
                raise InvalidInput(f"stream chunks must be str, got {type(chunk).__name__}")
            total += len(chunk)
            if total > scanner.max_chars:
                raise InputTooLarge(total, scanner.max_chars)
            buf += chunk
            self._inspect(buf, base, total, sent, fresh=len(buf) - len(chunk))
            self.chunks_scanned += 1
            ready = total - self._holdback
            if ready > sent:
                yield buf[sent - base:ready - base]
                sent = ready
            keep_from = max(base, sent - self._lookback)
            buf, base = buf[keep_from - base:], keep_from
        self._inspect(buf, base, total, sent, fresh=len(buf), final=True)
        if total > sent:
            yield buf[sent - base:]

    def _inspect(self, buf: str, base: int, total: int, sent: int, fresh: int, final: bool = False) -> None:
        scanner, state = self._scanner, self._state
        for f in _dedupe(scanner._scan_window(buf, base, self._prompt, state, fresh)):
            if scanner.action_for(f).stops:
                offset = f.span.start if f.span else total
                raise StreamBlocked(f, offset, sent)
            if f.span is not None and ((not final and f.span.end >= total) or (base and f.span.start <= base)):
                # Cut short by the newest chunk boundary (settled when more arrives) or by the start
                # of the look-back window (an earlier window saw it whole).
                continue
            key = (f.rule_id, f.span.start if f.span else -1, f.span.end if f.span else -1)
            if key not in state.seen:
                state.seen.add(key)
                state.findings.append(f)


def _check_text(text: object, limit: int) -> None:
    if not isinstance(text, str):
        raise InvalidInput(f"answer must be str, got {type(text).__name__}")
    if len(text) > limit:
        raise InputTooLarge(len(text), limit)


def _shifted(f: Finding, offset: int) -> Finding:
    if not offset or f.span is None:
        return f
    return Finding(f.kind, f.detector, f.score, _shift_reason(f.reason, f.span, offset),
                   Span(f.span.start + offset, f.span.end + offset), f.rule_id, f.view, f.metadata)


def _shift_reason(reason: str, span: Span, offset: int) -> str:
    old = f" at {span.start}-{span.end}"
    new = f" at {span.start + offset}-{span.end + offset}"
    return reason.replace(old, new) if old in reason else reason


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for f in findings:
        key = (f.kind, f.rule_id, f.span)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
