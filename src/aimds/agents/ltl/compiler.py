"""Compile runtime policies into one flat Python function that advances every policy by one event.

Past-time LTL needs only the previous step's truth values, so each temporal sub-formula keeps one
slot in a per-session state list (plus a witness slot naming the event that made it true or false).
Per event the generated code does constant work per policy (a bounded deque for windowed counts,
amortised O(1)): no trace is kept or replayed. Identical temporal sub-formulas in different policies
share one slot, and ``and``/``or`` short-circuit like Python's, so a policy about ``send_email`` costs a
string comparison on every other event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aimds.agents.ltl import ast
from aimds.agents.ltl.errors import PolicyError

StepFn = Callable[[list[Any], Any, Any], int]


@dataclass(frozen=True)
class TemporalSlot:
    """Where one temporal sub-formula keeps its state, for building counterexamples."""

    op: str  # "once" | "historically" | "since" | "previously" | "count"
    value: int
    witness: int  # -1 when the operator has no witness slot


@dataclass
class CompiledSet:
    step: StepFn
    template: list[Any]
    deque_sizes: dict[int, int]
    slots_per_body: list[list[TemporalSlot]]
    source: str

    def new_state(self) -> list[Any]:
        state = list(self.template)
        for index, size in self.deque_sizes.items():
            state[index] = deque(maxlen=size)
        return state

    def witnesses(self, body_index: int, state: list[Any], previous_seq: int | None) -> list[int]:
        """Events that, with the current one, make up the counterexample for a violated body."""
        seqs: set[int] = set()
        for slot in self.slots_per_body[body_index]:
            if slot.op == "count":
                seqs.update(seq for _, seq in state[slot.value])
            elif slot.op == "previously":
                if previous_seq is not None:
                    seqs.add(previous_seq)
            elif state[slot.witness] >= 0 and (state[slot.value] or slot.op == "historically"):
                seqs.add(state[slot.witness])
        return sorted(seqs)


class _Generator:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {}
        self.template: list[Any] = []
        self.deque_sizes: dict[int, int] = {}
        self.memo: dict[Any, tuple[str, list[TemporalSlot]]] = {}
        self.current_slots: list[TemporalSlot] = []
        self.counter = 0

    def name_for(self, value: Any) -> str:
        self.counter += 1
        name = f"_k{self.counter}"
        self.namespace[name] = value
        return name

    def slot(self, initial: Any) -> int:
        self.template.append(initial)
        return len(self.template) - 1

    def expr(self, node: ast.Formula) -> str:
        if isinstance(node, ast.Const):
            return "True" if node.value else "False"
        if isinstance(node, ast.AtomNode):
            inline = node.atom.inline(self.name_for)
            return inline if inline is not None else f"{self.name_for(node.atom.holds)}(e, sx)"
        if isinstance(node, ast.Not):
            return f"(not {self.expr(node.child)})"
        if isinstance(node, ast.And):
            return f"({self.expr(node.left)} and {self.expr(node.right)})"
        if isinstance(node, ast.Or):
            return f"({self.expr(node.left)} or {self.expr(node.right)})"
        if isinstance(node, ast.Implies):
            return f"((not {self.expr(node.left)}) or {self.expr(node.right)})"
        if isinstance(node, ast.PAST):
            return self.temporal(node)
        raise PolicyError("future-time operators (next, eventually, always, until) cannot be monitored at "
                          "run time; use them in offline checks")

    def temporal(self, node: ast.Formula) -> str:
        try:
            cached = self.memo.get(node)
        except TypeError:  # an unhashable atom: no sharing, still correct
            cached = None
        if cached is not None:
            self.current_slots.extend(cached[1])
            return cached[0]
        start = len(self.current_slots)
        result, slot = self._emit(node)
        self.current_slots.append(slot)
        try:
            self.memo[node] = (result, self.current_slots[start:])
        except TypeError:
            pass
        return result

    def _emit(self, node: ast.Formula) -> tuple[str, TemporalSlot]:
        add = self.lines.append
        if isinstance(node, ast.Previously):
            child = self.expr(node.child)
            value = self.slot(False)
            local = f"y{value}"
            add(f"{local} = st[{value}]")
            add(f"st[{value}] = {child}")
            return local, TemporalSlot("previously", value, -1)
        if isinstance(node, ast.Once):
            child = self.expr(node.child)
            value, witness = self.slot(False), self.slot(-1)
            add(f"if not st[{value}] and {child}:")
            add(f"    st[{value}] = True; st[{witness}] = e.seq")
            return f"st[{value}]", TemporalSlot("once", value, witness)
        if isinstance(node, ast.Historically):
            child = self.expr(node.child)
            value, witness = self.slot(True), self.slot(-1)
            add(f"if st[{value}] and not {child}:")
            add(f"    st[{value}] = False; st[{witness}] = e.seq")
            return f"st[{value}]", TemporalSlot("historically", value, witness)
        if isinstance(node, ast.Since):
            left, right = self.expr(node.left), self.expr(node.right)
            value, witness = self.slot(False), self.slot(-1)
            add(f"if {right}:")
            add(f"    st[{value}] = True; st[{witness}] = e.seq")
            add(f"elif st[{value}] and not {left}:")
            add(f"    st[{value}] = False")
            return f"st[{value}]", TemporalSlot("since", value, witness)
        if isinstance(node, ast.Count):
            child = self.expr(node.child)
            value = self.slot(None)
            self.deque_sizes[value] = node.bound + 1
            add(f"q = st[{value}]")
            add(f"if {child}:")
            add("    q.append((e.time, e.seq))")
            if node.window is not None:
                add(f"while q and e.time - q[0][0] >= {node.window!r}:")
                add("    q.popleft()")
            return f"(len(st[{value}]) {node.op} {node.bound})", TemporalSlot("count", value, -1)
        raise PolicyError(f"unsupported node {type(node).__name__}")  # pragma: no cover


def compile_bodies(bodies: Sequence[ast.Formula]) -> CompiledSet:
    """Compile invariant bodies (past-time formulas); ``step`` returns a bitmask of violated ones."""
    if len(bodies) > 4096:
        raise PolicyError("at most 4096 runtime policies in one set")
    gen = _Generator()
    slots_per_body: list[list[TemporalSlot]] = []
    for index, body in enumerate(bodies):
        gen.current_slots = []
        check = gen.expr(body)
        gen.lines.append(f"if not {check}:")
        gen.lines.append(f"    v |= {1 << index}")
        slots_per_body.append(list(dict.fromkeys(gen.current_slots)))
    source = "def step(st, e, sx):\n    v = 0\n" + "".join(f"    {line}\n" for line in gen.lines) + "    return v\n"
    code = compile(source, "<aimds-policies>", "exec")
    exec(code, gen.namespace)  # noqa: S102 - source generated above from parsed formulas only
    return CompiledSet(gen.namespace["step"], gen.template, gen.deque_sizes, slots_per_body, source)
