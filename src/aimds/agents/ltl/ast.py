"""Formula trees. Plain immutable data; the parser builds them, the monitor and checker read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from aimds.agents.ltl.atoms import Atom


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class AtomNode:
    atom: "Atom"


@dataclass(frozen=True)
class Not:
    child: "Formula"


@dataclass(frozen=True)
class And:
    left: "Formula"
    right: "Formula"


@dataclass(frozen=True)
class Or:
    left: "Formula"
    right: "Formula"


@dataclass(frozen=True)
class Implies:
    left: "Formula"
    right: "Formula"


# --- past time: decidable at the current event, so usable by the runtime monitor -------------
@dataclass(frozen=True)
class Previously:
    """Y φ: φ held at the previous event (false at the first event)."""

    child: "Formula"


@dataclass(frozen=True)
class Once:
    """O φ: φ held at some event up to and including now."""

    child: "Formula"


@dataclass(frozen=True)
class Historically:
    """H φ: φ held at every event up to and including now."""

    child: "Formula"


@dataclass(frozen=True)
class Since:
    """φ S ψ: ψ held at some event, and φ at every event after it up to now."""

    left: "Formula"
    right: "Formula"


@dataclass(frozen=True)
class Count:
    """count(φ, window) OP n: how many events within ``window`` seconds (up to now) satisfy φ.

    ``window`` None means the whole session. The window holds events with ``now - time < window``.
    """

    child: "Formula"
    window: float | None
    op: str
    bound: int


# --- future time: finite-trace semantics, offline only ----------------------------------------
@dataclass(frozen=True)
class Next:
    """X φ: there is a next event and φ holds there (strong next: false at the last event)."""

    child: "Formula"


@dataclass(frozen=True)
class Eventually:
    child: "Formula"


@dataclass(frozen=True)
class Always:
    child: "Formula"


@dataclass(frozen=True)
class Until:
    """φ U ψ: ψ holds at some event from now on, and φ at every event before it."""

    left: "Formula"
    right: "Formula"


Formula = Union[
    Const, AtomNode, Not, And, Or, Implies, Previously, Once, Historically, Since, Count,
    Next, Eventually, Always, Until,
]

PAST = (Previously, Once, Historically, Since, Count)
FUTURE = (Next, Eventually, Always, Until)


def children(node: Formula) -> tuple[Formula, ...]:
    if isinstance(node, (Const, AtomNode)):
        return ()
    if isinstance(node, (And, Or, Implies, Since, Until)):
        return (node.left, node.right)
    return (node.child,)  # type: ignore[union-attr]


def walk(node: Formula) -> list[Formula]:
    """All nodes, children before parents (post-order)."""
    out: list[Formula] = []
    stack: list[tuple[Formula, bool]] = [(node, False)]
    while stack:
        current, expanded = stack.pop()
        if expanded:
            out.append(current)
            continue
        stack.append((current, True))
        for child in reversed(children(current)):
            stack.append((child, False))
    return out


def has_future(node: Formula) -> bool:
    return any(isinstance(n, FUTURE) for n in walk(node))


def runtime_body(node: Formula) -> Formula | None:
    """For ``always φ`` with past-time φ, return φ (an invariant the monitor checks per event)."""
    if isinstance(node, Always) and not has_future(node.child):
        return node.child
    return None
