"""Atoms: predicates on one event (plus the few session facts a policy needs, such as who the user named).

Every atom has ``holds(event, facts)``; the cheap ones also give a Python expression the monitor
compiler inlines. Accessors can yield several values (an argument that is a list, several addresses
in one string). A comparison holds when at least one value satisfies it, except ``in`` and ``under``,
which need every value (so ``arg_domain("to") in allowed_domains`` means *all* recipients are
allowed, and ``not in`` means *some* recipient is not). A missing argument yields no values and every
comparison on it is false.
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aimds.agents.ltl.errors import PolicyError
from aimds.agents.ltl.safe_regex import compile_safe

MAX_FACTS = 1000
_SPLIT = re.compile(r"[,;\s]+")
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}\.){1,8}[a-z]{2,63}$")
_MENTION = re.compile(
    r"[a-z0-9._%+-]{1,64}@[a-z0-9.-]{1,253}\.[a-z]{2,63}"  # e-mail addresses
    r"|https?://[^\s<>\"']{1,2048}"  # URLs
    r"|\b(?:[a-z0-9-]{1,63}\.){1,8}[a-z]{2,63}\b",  # bare host names
    re.IGNORECASE,
)


class SessionFacts:
    """What the user said in this session that policies may refer to (``user_mentioned``)."""

    __slots__ = ("user_mentioned",)

    def __init__(self) -> None:
        self.user_mentioned: set[str] = set()

    def observe_user_text(self, text: str) -> None:
        for match in _MENTION.finditer(text[:65536]):
            if len(self.user_mentioned) >= MAX_FACTS:
                return
            token = match.group(0).lower().rstrip(".")
            self.user_mentioned.add(token)
            domain = _domain_of(token)
            if domain:
                self.user_mentioned.add(domain)

    def to_dict(self) -> dict[str, Any]:
        return {"user_mentioned": sorted(self.user_mentioned)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SessionFacts":
        facts = cls()
        facts.user_mentioned = set(data.get("user_mentioned", ()))
        return facts


DYNAMIC_SETS = {"user_mentioned"}


class Atom:
    """Base: ``key`` is canonical text (used to print formulas and share work)."""

    key: str = ""

    def holds(self, event: Any, facts: SessionFacts) -> bool:
        raise NotImplementedError

    def inline(self, names: Callable[[Any], str]) -> str | None:
        """A Python expression over ``e`` (event) and ``sx`` (facts), or None to call ``predicate``."""
        return None

    @property
    def predicate(self) -> Callable[[Any, SessionFacts], bool]:
        """``holds`` as a plain function of (event, facts), the cheapest form to call."""
        return self.holds

    def __repr__(self) -> str:
        return self.key


@dataclass(frozen=True, repr=False)
class KindAtom(Atom):
    kind: str
    key: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.kind)

    def holds(self, event: Any, facts: SessionFacts) -> bool:
        return bool(event.kind == self.kind)

    def inline(self, names: Callable[[Any], str]) -> str:
        return f"(e.kind == {self.kind!r})"


@dataclass(frozen=True, repr=False)
class ToolAtom(Atom):
    """``tool("a", "b*")``: a call of a named tool; ``result(...)``: a result from one."""

    kind: str
    patterns: tuple[str, ...]
    key: str = ""
    _exact: frozenset[str] = field(default=frozenset(), compare=False)
    _globs: tuple[Callable[[str], Any], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        word = "tool" if self.kind == "tool_call" else "result"
        object.__setattr__(self, "key", f"{word}({', '.join(repr(p) for p in self.patterns)})")
        exact = frozenset(p for p in self.patterns if not _is_glob(p))
        globs = tuple(re.compile(fnmatch.translate(p)).match for p in self.patterns if _is_glob(p))
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_globs", globs)

    def holds(self, event: Any, facts: SessionFacts) -> bool:
        if event.kind != self.kind or event.tool is None:
            return False
        if not self.patterns:
            return True
        return event.tool in self._exact or any(g(event.tool) for g in self._globs)

    def inline(self, names: Callable[[Any], str]) -> str | None:
        if self._globs:
            return f"(e.kind == {self.kind!r} and {names(_NameMatcher(self._exact, self._globs))}[e.tool])"
        if not self.patterns:
            return f"(e.kind == {self.kind!r})"
        if len(self._exact) == 1:
            (only,) = self._exact
            return f"(e.tool == {only!r} and e.kind == {self.kind!r})"
        return f"(e.tool in {names(self._exact)} and e.kind == {self.kind!r})"


@dataclass(frozen=True, repr=False)
class LabelAtom(Atom):
    label: str
    key: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"label({self.label!r})")

    def holds(self, event: Any, facts: SessionFacts) -> bool:
        return self.label in event.labels

    def inline(self, names: Callable[[Any], str]) -> str:
        return f"({self.label!r} in e.labels)"


class _NameMatcher(dict):  # type: ignore[type-arg]
    """tool name -> bool, filled on first sight, so glob lists cost one dict lookup per event."""

    MAX_NAMES = 10_000

    def __init__(self, exact: frozenset[str], globs: tuple[Callable[[str], Any], ...]) -> None:
        super().__init__()
        self._exact, self._globs = exact, globs

    def __missing__(self, name: str | None) -> bool:
        hit = name is not None and (name in self._exact or any(g(name) for g in self._globs))
        if len(self) < self.MAX_NAMES:
            self[name] = hit
        return hit


# --- accessors ----------------------------------------------------------------------------------
def _leaves(value: Any, out: list[Any], depth: int = 0) -> None:
    if value is None or depth > 8:
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _leaves(item, out, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _leaves(item, out, depth + 1)
    else:
        out.append(value)


def _lookup(arguments: dict[str, Any], path: str) -> Any:
    current: Any = arguments
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _domain_of(token: str) -> str | None:
    """The host a token (address, URL, bare host) names; short tokens are cached, as agents repeat
    recipients and hosts (the cache holds at most 65,536 tokens of at most 256 characters)."""
    return _cached_domain(token) if len(token) <= 256 else _parse_domain(token)


def _parse_domain(token: str) -> str | None:
    token = token.strip("<>\"'()[] ").lower()
    if token.startswith("mailto:"):
        token = token[7:]
    if "@" in token:
        host = token.rsplit("@", 1)[1]
    elif "://" in token:
        try:
            host = urlsplit(token).hostname or ""
        except ValueError:
            return None
    else:
        host = token.split("/", 1)[0].split(":", 1)[0]
    host = host.rstrip(".")
    return host if host and (_HOST.match(host) or _looks_like_ip(host)) else None


_cached_domain = functools.lru_cache(maxsize=65_536)(_parse_domain)


def _looks_like_ip(host: str) -> bool:
    return bool(host) and all(part.isdigit() for part in host.split(".")) or ":" in host


@dataclass(frozen=True)
class Accessor:
    """Where a comparison reads its values: ``arg``, ``arg_domain``, ``arg_path``, ``args``,
    ``score``, ``risk``, ``content``."""

    name: str
    keys: tuple[str, ...] = ()
    # the last event and its values: several atoms of one formula read the same accessor per event
    _last: list[Any] = field(default_factory=lambda: [None, None], compare=False, repr=False)

    @property
    def key(self) -> str:
        if self.keys:
            return f"{self.name}({', '.join(repr(k) for k in self.keys)})"
        return self.name

    def values(self, event: Any) -> list[Any]:
        last = self._last
        if last[0] is event:
            return last[1]  # type: ignore[no-any-return]
        found = self._values(event)
        last[0], last[1] = event, found
        return found

    def _values(self, event: Any) -> list[Any]:
        name = self.name
        if name == "score":
            return [event.scores.get(self.keys[0], 0.0)]
        if name == "risk":
            return [event.risk]
        if name == "content":
            return [event.content] if event.content else []
        raw: list[Any] = []
        if name == "args":
            _leaves(event.arguments, raw)
        else:
            for key in self.keys:
                _leaves(_lookup(event.arguments, key), raw)
        if name == "arg_domain":
            return domains_in(raw)
        if name == "arg_path":
            return [posixpath.normpath(v) for v in raw if isinstance(v, str) and v]
        return raw


def domains_in(values: Iterable[Any]) -> list[str]:
    """Domains named in string values (several addresses in one string are split apart)."""
    domains: list[str] = []
    for value in values:
        if isinstance(value, str) and len(value) > 3:  # "a.bc" is the shortest host
            domains.extend(_cached_value_domains(value) if len(value) <= 256 else _value_domains(value))
    return domains


def _value_domains(value: str) -> tuple[str, ...]:
    return tuple(domain for token in _SPLIT.split(value[:65536]) if token and (domain := _domain_of(token)))


# argument values repeat (recipients, URLs, subjects): parse each short one once
_cached_value_domains = functools.lru_cache(maxsize=65_536)(_value_domains)


def argument_domains(arguments: dict[str, Any]) -> list[str]:
    """Domains named anywhere in a tool call's arguments."""
    raw: list[Any] = []
    _leaves(arguments, raw)
    return domains_in(raw)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and len(value) < 64:
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def _domain_member(domain: str, members: Iterable[str] | set[str]) -> bool:
    """A domain is in a set when it or one of its parent domains is listed."""
    members_set = members if isinstance(members, (set, frozenset)) else set(members)
    if domain in members_set:
        return True
    parts = domain.split(".")
    return any(".".join(parts[i:]) in members_set for i in range(1, len(parts) - 1))


def _under(path: str, roots: tuple[str, ...]) -> bool:
    """Relative paths are resolved against the first root (the workspace)."""
    if not path.startswith("/"):
        if not roots:
            return False
        path = posixpath.normpath(posixpath.join(roots[0], path))
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


NUMERIC_OPS = {"<", "<=", ">", ">="}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


@dataclass(frozen=True, repr=False)
class CompareAtom(Atom):
    """``accessor OP operand``; see the module docstring for how multiple values combine."""

    accessor: Accessor
    op: str
    operand: Any  # str | float | tuple[str, ...] (a set) | a dynamic set name (str) for in/not in
    dynamic_set: str | None = None
    key: str = ""
    _test: Callable[[Any, SessionFacts], bool] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        shown = self.dynamic_set or (list(self.operand) if isinstance(self.operand, tuple) else repr(self.operand))
        object.__setattr__(self, "key", f"{self.accessor.key} {self.op} {shown}")
        object.__setattr__(self, "_test", self._build())

    def _build(self) -> Callable[[Any, SessionFacts], bool]:
        op, operand, values = self.op, self.operand, self.accessor.values
        is_domain = self.accessor.name == "arg_domain"
        if op in NUMERIC_OPS or (op in ("==", "!=") and isinstance(operand, float)):
            compare = _COMPARE[op]

            def numeric(event: Any, facts: SessionFacts) -> bool:
                for value in values(event):
                    number = _number(value)
                    if number is not None and compare(number, operand):
                        return True
                return False

            return numeric
        if op in ("==", "!="):
            want = op == "=="
            return lambda event, facts: any((str(v) == operand) == want for v in values(event))
        if op == "contains":
            needle = operand.casefold()
            return lambda event, facts: any(needle in str(v).casefold() for v in values(event))
        if op in ("matches", "glob"):
            search = compile_safe(operand) if op == "matches" else re.compile(fnmatch.translate(operand)).match
            return lambda event, facts: any(bool(search(str(v))) for v in values(event))
        if op in ("in", "not in"):
            positive = op == "in"
            static = frozenset(s.casefold() for s in operand) if self.dynamic_set is None else None
            dynamic = self.dynamic_set

            def member(event: Any, facts: SessionFacts) -> bool:
                # "in": some value and every value is a member; "not in": some value is not one
                members = static if static is not None else getattr(facts, dynamic)  # type: ignore[arg-type]
                seen = False
                for value in values(event):
                    if value is None:
                        continue
                    seen = True
                    hit = _domain_member(str(value), members) if is_domain else str(value).casefold() in members
                    if not hit:
                        return not positive
                return positive and seen

            return member
        if op in ("under", "not under"):
            positive = op == "under"
            roots = tuple(posixpath.normpath(r) for r in operand)

            def inside(event: Any, facts: SessionFacts) -> bool:
                found = [str(v) for v in values(event) if isinstance(v, str)]
                if not found:
                    return False
                hits = [_under(v, roots) for v in found]
                return all(hits) if positive else not all(hits)

            return inside
        raise PolicyError(f"unknown comparison {op!r}")

    def holds(self, event: Any, facts: SessionFacts) -> bool:
        return self._test(event, facts)  # type: ignore[misc]

    @property
    def predicate(self) -> Callable[[Any, SessionFacts], bool]:
        return self._test  # type: ignore[return-value]

    def inline(self, names: Callable[[Any], str]) -> str | None:
        if self.op not in _COMPARE or not isinstance(self.operand, float):
            return None
        if self.accessor.name == "risk":
            return f"(e.risk {self.op} {self.operand!r})"
        if self.accessor.name == "score":
            return f"(e.scores.get({self.accessor.keys[0]!r}, 0.0) {self.op} {self.operand!r})"
        return None


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")
