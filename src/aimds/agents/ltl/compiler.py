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
from dataclasses import dataclass, field
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
    window: float | None = None  # for windowed counts


@dataclass
class CompiledSet:
    step: StepFn
    template: list[Any]
    deque_sizes: dict[int, int]
    slots_per_body: list[list[TemporalSlot]]
    source: str
    bodies: list[ast.Formula] = field(default_factory=list)
    table: Any = None
    _special: dict[tuple[str, str | None], StepFn] = field(default_factory=dict)

    def step_for(self, kind: str, tool: str | None) -> StepFn:
        """A step function specialised to one (event kind, tool) pair: atoms on the kind and tool
        are constants there, so most policies reduce to nothing. Built on first use, bounded."""
        special = self._special.get((kind, tool))
        if special is None:
            if len(self._special) >= MAX_SPECIALISATIONS:
                return self.step
            special = _generate(self.bodies, self.table, _fold_for(kind, tool))[0]
            self._special[(kind, tool)] = special
        return special

    def new_state(self) -> list[Any]:
        state = list(self.template)
        for index, size in self.deque_sizes.items():
            state[index] = deque(maxlen=size)
        return state

    def witnesses(self, body_index: int, state: list[Any], previous_seq: int | None, now: float) -> list[int]:
        """Events that, with the current one, make up the counterexample for a violated body."""
        seqs: set[int] = set()
        for slot in self.slots_per_body[body_index]:
            if slot.op == "count":
                if slot.window is not None:
                    windowed_len(state[slot.value], now, slot.window)
                seqs.update(seq for _, seq in state[slot.value])
            elif slot.op == "previously":
                if previous_seq is not None:
                    seqs.add(previous_seq)
            elif state[slot.witness] >= 0 and (state[slot.value] or slot.op == "historically"):
                seqs.add(state[slot.witness])
        return sorted(seqs)


class _Generator:
    """Emits Python for the bodies. With ``fold`` set, atoms it can decide (event kind, tool name)
    become constants and the code is simplified around them; slots come from the shared table."""

    def __init__(self, table: "_SlotTable", fold: Callable[[Any], bool | None] | None = None) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {"_wlen": windowed_len}
        self.table = table
        self.fold = fold
        self.emitted: dict[int, str] = {}
        self.current_slots: list[TemporalSlot] = []
        self.counter = 0

    def name_for(self, value: Any) -> str:
        self.counter += 1
        name = f"_k{self.counter}"
        self.namespace[name] = value
        return name

    def expr(self, node: ast.Formula) -> str:
        if isinstance(node, ast.Const):
            return "True" if node.value else "False"
        if isinstance(node, ast.AtomNode):
            known = self.fold(node.atom) if self.fold is not None else None
            if known is not None:
                return "True" if known else "False"
            inline = node.atom.inline(self.name_for)
            return inline if inline is not None else f"{self.name_for(node.atom.predicate)}(e, sx)"
        if isinstance(node, ast.Not):
            child = self.expr(node.child)
            return {"True": "False", "False": "True"}.get(child, f"(not {child})")
        if isinstance(node, (ast.And, ast.Or, ast.Implies)):
            left, right = self.expr(node.left), self.expr(node.right)  # both: they may emit state updates
            if isinstance(node, ast.Implies):
                left = {"True": "False", "False": "True"}.get(left, f"(not {left})")
            absorbing, neutral = ("False", "True") if isinstance(node, ast.And) else ("True", "False")
            if absorbing in (left, right):
                return absorbing
            if left == neutral:
                return right
            if right == neutral:
                return left
            return f"({left} {'and' if isinstance(node, ast.And) else 'or'} {right})"
        if isinstance(node, ast.PAST):
            return self.temporal(node)
        raise PolicyError("future-time operators (next, eventually, always, until) cannot be monitored at "
                          "run time; use them in offline checks")

    def temporal(self, node: ast.Formula) -> str:
        slot = self.table.slot_for(node)
        if id(slot) in self.emitted:
            self.current_slots.extend(self.table.nested[slot])
            return self.emitted[id(slot)]
        start = len(self.current_slots)
        result = self._emit(node, slot)
        self.current_slots.append(slot)
        self.table.nested.setdefault(slot, self.current_slots[start:])
        self.emitted[id(slot)] = result
        return result

    def _emit(self, node: ast.Formula, slot: TemporalSlot) -> str:
        add, value, witness = self.lines.append, slot.value, slot.witness
        if isinstance(node, ast.Previously):
            child = self.expr(node.child)
            add(f"y{value} = st[{value}]")
            add(f"st[{value}] = {child}")
            return f"y{value}"
        if isinstance(node, ast.Once):
            child = self.expr(node.child)
            if child != "False":
                add(f"if not st[{value}] and {child}:")
                add(f"    st[{value}] = True; st[{witness}] = e.seq")
            return f"st[{value}]"
        if isinstance(node, ast.Historically):
            child = self.expr(node.child)
            if child != "True":
                add(f"if st[{value}] and not {child}:")
                add(f"    st[{value}] = False; st[{witness}] = e.seq")
            return f"st[{value}]"
        if isinstance(node, ast.Since):
            left, right = self.expr(node.left), self.expr(node.right)
            if right == "True":
                add(f"st[{value}] = True; st[{witness}] = e.seq")
            elif right == "False":
                if left == "False":
                    add(f"st[{value}] = False")
                elif left != "True":
                    add(f"if st[{value}] and not {left}:")
                    add(f"    st[{value}] = False")
            else:
                add(f"if {right}:")
                add(f"    st[{value}] = True; st[{witness}] = e.seq")
                if left != "True":
                    add(f"elif st[{value}] and not {left}:")
                    add(f"    st[{value}] = False")
            return f"st[{value}]"
        if isinstance(node, ast.Count):
            # appends now, expires lazily when read: events of other tools never touch the window
            child = self.expr(node.child)
            if child != "False":
                add(f"if {child}:")
                add(f"    st[{value}].append((e.time, e.seq))")
            if node.window is not None:
                return f"(_wlen(st[{value}], e.time, {node.window!r}) {node.op} {node.bound})"
            return f"(len(st[{value}]) {node.op} {node.bound})"
        raise PolicyError(f"unsupported node {type(node).__name__}")  # pragma: no cover


class _SlotTable:
    """State slots per temporal sub-formula, shared by every specialisation of one policy set.
    Structurally equal sub-formulas (in any policy) share a slot."""

    def __init__(self) -> None:
        self.template: list[Any] = []
        self.deque_sizes: dict[int, int] = {}
        self.by_node: dict[Any, TemporalSlot] = {}
        self.by_id: dict[int, TemporalSlot] = {}
        self.nested: dict[TemporalSlot, list[TemporalSlot]] = {}

    def slot_for(self, node: ast.Formula) -> TemporalSlot:
        try:
            found = self.by_node.get(node)
        except TypeError:  # an unhashable atom: no sharing, still correct
            found = self.by_id.get(id(node))
        if found is not None:
            return found
        op = {ast.Previously: "previously", ast.Once: "once", ast.Historically: "historically",
              ast.Since: "since", ast.Count: "count"}[type(node)]
        initial = {"previously": False, "once": False, "historically": True, "since": False, "count": None}[op]
        value = self._add(initial)
        witness = self._add(-1) if op in ("once", "historically", "since") else -1
        if op == "count":
            self.deque_sizes[value] = node.bound + 1  # type: ignore[union-attr]
        slot = TemporalSlot(op, value, witness, node.window if op == "count" else None)  # type: ignore[union-attr]
        try:
            self.by_node[node] = slot
        except TypeError:
            self.by_id[id(node)] = slot
        return slot

    def _add(self, initial: Any) -> int:
        self.template.append(initial)
        return len(self.template) - 1


def _generate(bodies: Sequence[ast.Formula], table: _SlotTable,
              fold: Callable[[Any], bool | None] | None) -> tuple[StepFn, list[list[TemporalSlot]], str]:
    gen = _Generator(table, fold)
    slots_per_body: list[list[TemporalSlot]] = []
    for index, body in enumerate(bodies):
        gen.current_slots = []
        check = gen.expr(body)
        if check != "True":
            gen.lines.append(f"if not {check}:")
            gen.lines.append(f"    v |= {1 << index}")
        slots_per_body.append(list(dict.fromkeys(gen.current_slots)))
    source = "def step(st, e, sx):\n    v = 0\n" + "".join(f"    {line}\n" for line in gen.lines) + "    return v\n"
    code = compile(source, "<aimds-policies>", "exec")
    exec(code, gen.namespace)  # noqa: S102 - source generated above from parsed formulas only
    return gen.namespace["step"], slots_per_body, source


def _fold_for(kind: str, tool: str | None) -> Callable[[Any], bool | None]:
    from aimds.agents.ltl.atoms import KindAtom, ToolAtom

    probe = _Probe(kind, tool)

    def fold(atom: Any) -> bool | None:
        if isinstance(atom, (KindAtom, ToolAtom)):
            return atom.holds(probe, None)  # type: ignore[arg-type]
        return None

    return fold


@dataclass(frozen=True)
class _Probe:
    kind: str
    tool: str | None


MAX_SPECIALISATIONS = 1024


def windowed_len(queue: deque[tuple[float, int]], now: float, window: float) -> int:
    """Drop entries that left the window (``now - time >= window``) and count the rest. The deque
    is capped at bound + 1 entries, oldest dropped first, so lazy expiry gives the same count."""
    while queue and now - queue[0][0] >= window:
        queue.popleft()
    return len(queue)


def compile_bodies(bodies: Sequence[ast.Formula]) -> CompiledSet:
    """Compile invariant bodies (past-time formulas); ``step`` returns a bitmask of violated ones."""
    if len(bodies) > 4096:
        raise PolicyError("at most 4096 runtime policies in one set")
    table = _SlotTable()
    step, slots_per_body, source = _generate(bodies, table, None)
    return CompiledSet(step, table.template, table.deque_sizes, slots_per_body, source, list(bodies), table)
