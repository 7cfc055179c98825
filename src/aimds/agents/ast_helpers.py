"""Counterexamples for offline policies."""

from __future__ import annotations

from collections.abc import Sequence

from aimds.agents.events import Event
from aimds.agents.ltl import ast
from aimds.agents.ltl.offline import evaluate

MAX_WITNESSES = 20


def offline_witnesses(formula: ast.Formula, trace: Sequence[Event]) -> tuple[int, ...]:
    """For ``always φ``: the events where φ fails (first few); otherwise the whole session's span."""
    if isinstance(formula, ast.Always):
        values = evaluate(formula.child, trace)
        return tuple(e.seq for e, ok in zip(trace, values) if not ok)[:MAX_WITNESSES]
    return (trace[0].seq, trace[-1].seq) if trace else ()
