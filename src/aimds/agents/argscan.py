"""Checks on tool-call arguments before the tool runs: injection, traversal, SSRF/exfiltration, secrets.

Each hit is a `Finding` whose ``rule_id`` doubles as a label on the event, so policies can say
``label("secret")``. URL checks are structural (parsed host, IP ranges) rather than regexes: a
private, loopback, link-local or metadata address is SSRF (``ssrf``), a host outside the allowed
domains is ``external_url``, and an external URL carrying a long encoded blob is ``exfil_url``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from aimds import yamlio
from aimds.agents.ltl.atoms import _domain_member
from aimds.errors import ConfigError
from aimds.types import Finding, ThreatKind

MAX_VALUE_CHARS = 65_536
MAX_VALUES = 1000
_URL = re.compile(r"\b(?:https?|ftp|gopher|file|dict)://[^\s\"'<>`]{1,2048}", re.IGNORECASE)
_BLOB = re.compile(r"[A-Za-z0-9+/=_%-]{64,}")
_PATH_KEYS = re.compile(r"(?i)(?:path|file|filename|dir|directory|folder|src|dst|source|target|destination|dest)$")
_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"}
_METADATA_IPS = {"169.254.169.254", "100.100.100.200", "fd00:ec2::254", "169.254.170.2"}


@dataclass(frozen=True)
class ArgRule:
    id: str
    kind: ThreatKind
    score: float
    where: str
    regex: re.Pattern[str]


def load_rules(text: str | None = None) -> tuple[ArgRule, ...]:
    """Rules from YAML text, or the shipped ``argscan.yaml``."""
    if text is None:
        text = (resources.files("aimds.agents") / "argscan.yaml").read_text(encoding="utf-8")
    try:
        raw = yamlio.load(text) or {}
        rules = []
        for item in raw.get("rules", []):
            if item["where"] not in ("any", "path"):
                raise ValueError(f"rule {item['id']}: where must be 'any' or 'path'")
            rules.append(ArgRule(item["id"], ThreatKind(item["kind"]), float(item["score"]), item["where"],
                                 re.compile(item["pattern"])))
        return tuple(rules)
    except (yaml.YAMLError, KeyError, ValueError, TypeError, re.error) as exc:
        raise ConfigError(f"invalid argument-scan rules: {exc}") from None


def _strings(arguments: dict[str, Any]) -> list[tuple[str, str]]:
    """(argument name, string value) pairs, nested values flattened with dotted names."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, Any, int]] = [(k, v, 0) for k, v in arguments.items()]
    while stack and len(out) < MAX_VALUES:
        name, value, depth = stack.pop()
        if isinstance(value, str):
            out.append((name, value[:MAX_VALUE_CHARS]))
        elif isinstance(value, dict) and depth < 8:
            stack.extend((f"{name}.{k}", v, depth + 1) for k, v in value.items())
        elif isinstance(value, (list, tuple)) and depth < 8:
            stack.extend((name, v, depth + 1) for v in value)
    return out


def _looks_like_path(name: str, value: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return bool(_PATH_KEYS.search(leaf)) or (" " not in value and ("/" in value or "\\" in value)
                                             and "://" not in value)


def _any_of(rules: Iterable[ArgRule]) -> re.Pattern[str] | None:
    """One alternation of several rules: most values match none, and one search rules them all out.
    A leading global flag group such as ``(?i)`` becomes a scoped one so the parts can be joined."""
    parts = []
    for rule in rules:
        pattern = rule.regex.pattern
        flags = re.match(r"\(\?([aiLmsux]+)\)", pattern)
        parts.append(f"(?{flags.group(1)}:{pattern[flags.end():]})" if flags else f"(?:{pattern})")
    return re.compile("|".join(parts)) if parts else None


class ArgumentScanner:
    def __init__(self, allowed_domains: Iterable[str] = (), rules: tuple[ArgRule, ...] | None = None) -> None:
        self.allowed_domains = frozenset(d.lower().lstrip(".") for d in allowed_domains)
        self.rules = load_rules() if rules is None else rules
        self._value_rules = tuple(r for r in self.rules if r.where == "any")
        self._path_rules = tuple(r for r in self.rules if r.where == "path")
        self._any_value = _any_of(self._value_rules)

    def scan(self, arguments: dict[str, Any]) -> list[Finding]:
        if not arguments:
            return []
        best: dict[tuple[str, str], Finding] = {}

        def keep(name: str, finding: Finding) -> None:
            key = (finding.rule_id or "", name)
            if key not in best or best[key].score < finding.score:
                best[key] = finding

        def check(name: str, value: str, rules: tuple[ArgRule, ...], decoded: str | None) -> None:
            for rule in rules:
                if rule.regex.search(value) or (decoded is not None and rule.regex.search(decoded)):
                    keep(name, Finding(rule.kind, "argscan", rule.score,
                                       f"{rule.id.replace('_', ' ')} in argument {name!r}", rule_id=rule.id))

        any_value = self._any_value
        for name, value in _strings(arguments):
            if any_value is not None and any_value.search(value):
                check(name, value, self._value_rules, None)
            if self._path_rules and _looks_like_path(name, value):
                check(name, value, self._path_rules, unquote(value) if "%" in value else None)
            if "://" in value:
                for url in _URL.findall(value):
                    finding = self._check_url(name, url)
                    if finding:
                        keep(name, finding)
        return list(best.values())

    def _check_url(self, name: str, url: str) -> Finding | None:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".").lower()
        except ValueError:
            return Finding(ThreatKind.DATA_EXFILTRATION, "argscan", 0.6, f"malformed URL in argument {name!r}",
                           rule_id="malformed_url")
        scheme = parts.scheme.lower()
        if scheme in ("file", "gopher", "dict"):
            return Finding(ThreatKind.DATA_EXFILTRATION, "argscan", 0.9,
                           f"{scheme}: URL in argument {name!r}", rule_id="ssrf")
        address = _as_ip(host)
        if host in _METADATA_HOSTS or (address is not None and str(address) in _METADATA_IPS):
            return Finding(ThreatKind.DATA_EXFILTRATION, "argscan", 0.98,
                           f"cloud metadata endpoint in argument {name!r}", rule_id="ssrf")
        if host == "localhost" or host.endswith((".localhost", ".internal", ".local")) or (
            address is not None and not address.is_global
        ):
            return Finding(ThreatKind.DATA_EXFILTRATION, "argscan", 0.9,
                           f"private or loopback address in argument {name!r}", rule_id="ssrf")
        if self.allowed_domains and _domain_member(host, self.allowed_domains):
            return None
        if _BLOB.search(unquote(parts.path + "?" + parts.query)):
            return Finding(ThreatKind.DATA_EXFILTRATION, "argscan", 0.8,
                           f"external URL carrying encoded data in argument {name!r}", rule_id="exfil_url")
        if self.allowed_domains:
            return Finding(ThreatKind.DATA_EXFILTRATION, "argscan", 0.3,
                           f"URL to a domain outside the allowed list in argument {name!r}", rule_id="external_url")
        return None


def _as_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Also reads the integer and hex spellings attackers use (http://2130706433/, 0x7f.0.0.1)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        if host.isdigit():
            return ipaddress.ip_address(int(host))
        if host.startswith("0x") and "." not in host:
            return ipaddress.ip_address(int(host, 16))
        parts = host.split(".")
        if len(parts) == 4 and all(p for p in parts):
            numbers = [int(p, 16) if p.lower().startswith("0x") else int(p, 8) if p.startswith("0") and p != "0"
                       else int(p) for p in parts]
            if all(0 <= n <= 255 for n in numbers):
                return ipaddress.ip_address(".".join(map(str, numbers)))
    except ValueError:
        return None
    return None
