"""Evaluate any formula (past and future operators) over a finished trace.

Finite-trace semantics (LTLf): ``next`` is strong (false at the last event), ``eventually`` and
``until`` need their goal within the trace, ``always`` holds when the rest of the trace satisfies its
argument. Cost is O(events × formula size): one array of truth values per sub-formula, past operators
filled forwards and future ones backwards.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from aimds.agents.ltl import ast
from aimds.agents.ltl.atoms import SessionFacts

_OPS = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def evaluate(formula: ast.Formula, events: Sequence[Any]) -> list[bool]:
    """Truth value of ``formula`` at every position of one session's events."""
    n = len(events)
    facts_at = _facts_per_position(events)
    values: dict[int, list[bool]] = {}

    def of(node: ast.Formula) -> list[bool]:
        return values[id(node)]

    for node in ast.walk(formula):
        if id(node) in values:
            continue
        if isinstance(node, ast.Const):
            out = [node.value] * n
        elif isinstance(node, ast.AtomNode):
            out = [node.atom.holds(events[i], facts_at[i]) for i in range(n)]
        elif isinstance(node, ast.Not):
            out = [not v for v in of(node.child)]
        elif isinstance(node, ast.And):
            out = [a and b for a, b in zip(of(node.left), of(node.right))]
        elif isinstance(node, ast.Or):
            out = [a or b for a, b in zip(of(node.left), of(node.right))]
        elif isinstance(node, ast.Implies):
            out = [(not a) or b for a, b in zip(of(node.left), of(node.right))]
        else:
            out = _temporal(node, events, values)
        values[id(node)] = out
    return values[id(formula)]


def _temporal(node: ast.Formula, events: Sequence[Any], values: dict[int, list[bool]]) -> list[bool]:
    n = len(events)
    out = [False] * n
    if isinstance(node, ast.Previously):
        child = values[id(node.child)]
        for i in range(1, n):
            out[i] = child[i - 1]
    elif isinstance(node, ast.Once):
        child, acc = values[id(node.child)], False
        for i in range(n):
            acc = acc or child[i]
            out[i] = acc
    elif isinstance(node, ast.Historically):
        child, acc = values[id(node.child)], True
        for i in range(n):
            acc = acc and child[i]
            out[i] = acc
    elif isinstance(node, ast.Since):
        left, right, acc = values[id(node.left)], values[id(node.right)], False
        for i in range(n):
            acc = right[i] or (left[i] and acc)
            out[i] = acc
    elif isinstance(node, ast.Count):
        child, window, compare = values[id(node.child)], node.window, _OPS[node.op]
        times: deque[float] = deque()
        for i in range(n):
            now = events[i].time
            if child[i]:
                times.append(now)
            while window is not None and times and now - times[0] >= window:
                times.popleft()
            out[i] = compare(len(times), node.bound)
    elif isinstance(node, ast.Next):
        child = values[id(node.child)]
        for i in range(n - 1):
            out[i] = child[i + 1]
    elif isinstance(node, ast.Eventually):
        child, acc = values[id(node.child)], False
        for i in range(n - 1, -1, -1):
            acc = acc or child[i]
            out[i] = acc
    elif isinstance(node, ast.Always):
        child, acc = values[id(node.child)], True
        for i in range(n - 1, -1, -1):
            acc = acc and child[i]
            out[i] = acc
    elif isinstance(node, ast.Until):
        left, right, acc = values[id(node.left)], values[id(node.right)], False
        for i in range(n - 1, -1, -1):
            acc = right[i] or (left[i] and acc)
            out[i] = acc
    return out


def _facts_per_position(events: Sequence[Any]) -> list[SessionFacts]:
    """Session facts as the monitor sees them at each event (after that event's own user text)."""
    out: list[SessionFacts] = []
    facts = SessionFacts()
    for event in events:
        if event.kind == "user_message" and event.content:
            facts = SessionFacts.from_dict(facts.to_dict())
            facts.observe_user_text(event.content)
        out.append(facts)
    return out
