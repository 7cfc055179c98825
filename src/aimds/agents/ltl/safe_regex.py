"""Regular expressions from policy files, matched in linear time.

Policies come from users, so a pattern must not be able to hang the monitor. With hyperscan
(a core dependency on x86_64) matching is linear by construction and unsupported constructs
(back-references, lookaround) are rejected at load time. Without it, Python's ``re`` is used only
for patterns without back-references, lookaround or nested/stacked unbounded repetition, on input
capped at `FALLBACK_MAX_INPUT` characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aimds.agents.ltl.errors import PolicyError

try:
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]

try:
    import hyperscan as _hs
except ImportError:  # pragma: no cover - exercised only where hyperscan is missing
    _hs = None

MAX_PATTERN_CHARS = 256
FALLBACK_MAX_INPUT = 4096


def compile_safe(pattern: str, ignore_case: bool = False) -> Callable[[str], bool]:
    """Return ``search(text) -> bool`` for ``pattern``; unsafe or invalid patterns raise `PolicyError`."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PolicyError(f"regex is {len(pattern)} characters; the limit is {MAX_PATTERN_CHARS}")
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise PolicyError(f"invalid regex {pattern!r}: {exc}") from None
    if _hs is not None:
        return _hyperscan_search(pattern, ignore_case)
    _check_backtracking(pattern)
    return lambda text: compiled.search(text[:FALLBACK_MAX_INPUT]) is not None


def _hyperscan_search(pattern: str, ignore_case: bool) -> Callable[[str], bool]:
    flags = _hs.HS_FLAG_SINGLEMATCH | _hs.HS_FLAG_DOTALL | _hs.HS_FLAG_ALLOWEMPTY | _hs.HS_FLAG_UTF8
    if ignore_case:
        flags |= _hs.HS_FLAG_CASELESS
    database = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    try:
        database.compile(expressions=[pattern.encode("utf-8")], ids=[0], elements=1, flags=[flags])
    except _hs.error as exc:
        raise PolicyError(f"regex {pattern!r} is not supported: {exc}") from None

    def search(text: str) -> bool:
        hits: list[int] = []
        database.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=lambda *_: hits.append(1))
        return bool(hits)

    return search


_UNBOUNDED = getattr(_sre_parse, "MAXREPEAT", 4294967295)


def _check_backtracking(pattern: str) -> None:
    """Reject constructs that make a backtracking engine super-linear."""
    unbounded = 0

    def walk(items: object, inside_repeat: bool) -> None:
        nonlocal unbounded
        for op, arg in items:  # type: ignore[attr-defined]
            name = str(op)
            if name in ("GROUPREF", "GROUPREF_EXISTS", "ASSERT", "ASSERT_NOT"):
                raise PolicyError(f"regex {pattern!r}: back-references and lookaround are not allowed")
            if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, high, body = arg
                if inside_repeat:
                    raise PolicyError(f"regex {pattern!r}: nested repetition is not allowed")
                if high == _UNBOUNDED or high > 1000:
                    unbounded += 1
                walk(body, True)
            elif name == "SUBPATTERN":
                walk(arg[-1], inside_repeat)
            elif name == "BRANCH":
                for branch in arg[1]:
                    walk(branch, inside_repeat)
            elif name == "ATOMIC_GROUP":
                walk(arg, inside_repeat)

    walk(_sre_parse.parse(pattern), False)
    if unbounded > 2:
        raise PolicyError(f"regex {pattern!r}: at most two unbounded repetitions are allowed")
