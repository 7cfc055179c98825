"""The policy language: parser, runtime monitor and offline checker against a reference evaluator."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import reelay  # an independent past-time monitor from PyPI (test extra)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimds.agents.events import Event
from aimds.agents.ltl import ast
from aimds.agents.ltl.atoms import KindAtom, LabelAtom, SessionFacts, ToolAtom
from aimds.agents.ltl.errors import PolicyError, PolicySyntaxError
from aimds.agents.ltl.offline import evaluate
from aimds.agents.ltl.parser import parse
from aimds.agents.monitor import Monitor
from aimds.agents.policy import Policy, PolicyAction, Severity, make_policy
from aimds.errors import AimdsError

LETTERS = ("p", "q", "r")


# --- a deliberately naive evaluator, straight from the definitions ----------------------------
def holds(node: ast.Formula, trace: list[Event], i: int) -> bool:
    n = len(trace)
    if isinstance(node, ast.Const):
        return node.value
    if isinstance(node, ast.AtomNode):
        return node.atom.holds(trace[i], SessionFacts())
    if isinstance(node, ast.Not):
        return not holds(node.child, trace, i)
    if isinstance(node, ast.And):
        return holds(node.left, trace, i) and holds(node.right, trace, i)
    if isinstance(node, ast.Or):
        return holds(node.left, trace, i) or holds(node.right, trace, i)
    if isinstance(node, ast.Implies):
        return (not holds(node.left, trace, i)) or holds(node.right, trace, i)
    if isinstance(node, ast.Previously):
        return i > 0 and holds(node.child, trace, i - 1)
    if isinstance(node, ast.Once):
        return any(holds(node.child, trace, j) for j in range(i + 1))
    if isinstance(node, ast.Historically):
        return all(holds(node.child, trace, j) for j in range(i + 1))
    if isinstance(node, ast.Since):
        return any(
            holds(node.right, trace, j) and all(holds(node.left, trace, k) for k in range(j + 1, i + 1))
            for j in range(i + 1)
        )
    if isinstance(node, ast.Count):
        hits = sum(
            1 for j in range(i + 1)
            if holds(node.child, trace, j) and (node.window is None or trace[i].time - trace[j].time < node.window)
        )
        return {"<": hits < node.bound, "<=": hits <= node.bound, ">": hits > node.bound,
                ">=": hits >= node.bound, "==": hits == node.bound, "!=": hits != node.bound}[node.op]
    if isinstance(node, ast.Next):
        return i + 1 < n and holds(node.child, trace, i + 1)
    if isinstance(node, ast.Eventually):
        return any(holds(node.child, trace, j) for j in range(i, n))
    if isinstance(node, ast.Always):
        return all(holds(node.child, trace, j) for j in range(i, n))
    if isinstance(node, ast.Until):
        return any(
            holds(node.right, trace, j) and all(holds(node.left, trace, k) for k in range(i, j))
            for j in range(i, n)
        )
    raise AssertionError(node)


def to_text(node: ast.Formula) -> str:
    """Fully parenthesised text in the policy language (exercises the parser on every formula)."""
    if isinstance(node, ast.Const):
        return "true" if node.value else "false"
    if isinstance(node, ast.AtomNode):
        atom = node.atom
        if isinstance(atom, LabelAtom):
            return f'label("{atom.label}")'
        if isinstance(atom, KindAtom):
            return atom.kind
        word = "tool" if atom.kind == "tool_call" else "result"
        return f"{word}({', '.join(chr(34) + p + chr(34) for p in atom.patterns)})"
    unary = {ast.Not: "not", ast.Previously: "previously", ast.Once: "once", ast.Historically: "historically",
             ast.Next: "next", ast.Eventually: "eventually", ast.Always: "always"}
    binary = {ast.And: "and", ast.Or: "or", ast.Implies: "->", ast.Since: "since", ast.Until: "until"}
    if type(node) in unary:
        return f"{unary[type(node)]} ({to_text(node.child)})"
    if type(node) in binary:
        return f"({to_text(node.left)}) {binary[type(node)]} ({to_text(node.right)})"
    if isinstance(node, ast.Count):
        window = "" if node.window is None else f", {int(node.window)}s"
        return f"count({to_text(node.child)}{window}) {node.op} {node.bound}"
    raise AssertionError(node)


def to_reelay(node: ast.Formula) -> str:
    if isinstance(node, ast.AtomNode):
        return "{" + node.atom.label + "}"
    unary = {ast.Not: "not", ast.Previously: "pre", ast.Once: "once", ast.Historically: "historically"}
    binary = {ast.And: "and", ast.Or: "or", ast.Implies: "->", ast.Since: "since"}
    if type(node) in unary:
        return f"{unary[type(node)]}({to_reelay(node.child)})"
    if type(node) in binary:
        return f"({to_reelay(node.left)}) {binary[type(node)]} ({to_reelay(node.right)})"
    raise AssertionError(node)


label_atoms = st.sampled_from([ast.AtomNode(LabelAtom(x)) for x in LETTERS])
# atoms on the event kind and tool name: the monitor folds these into constants per (kind, tool)
event_atoms = st.sampled_from([
    ast.AtomNode(KindAtom("tool_call")), ast.AtomNode(KindAtom("tool_result")),
    ast.AtomNode(ToolAtom("tool_call", ("a",))), ast.AtomNode(ToolAtom("tool_call", ("a", "b"))),
    ast.AtomNode(ToolAtom("tool_call", ("b*",))), ast.AtomNode(ToolAtom("tool_result", ())),
])


def formulas(future: bool, counts: bool = True, consts: bool = True) -> st.SearchStrategy[ast.Formula]:
    atoms = st.one_of(label_atoms, event_atoms) if consts else label_atoms
    leaves = st.one_of(atoms, st.sampled_from([ast.Const(True), ast.Const(False)])) if consts else atoms
    unary_ops = [ast.Not, ast.Previously, ast.Once, ast.Historically]
    binary_ops = [ast.And, ast.Or, ast.Implies, ast.Since]
    if future:
        unary_ops += [ast.Next, ast.Eventually, ast.Always]
        binary_ops += [ast.Until]

    def extend(children: st.SearchStrategy[ast.Formula]) -> st.SearchStrategy[ast.Formula]:
        options = [
            st.builds(lambda op, c: op(c), st.sampled_from(unary_ops), children),
            st.builds(lambda op, a, b: op(a, b), st.sampled_from(binary_ops), children, children),
        ]
        if counts:
            options.append(st.builds(
                ast.Count, children, st.sampled_from([None, 2.0, 5.0]),
                st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), st.integers(0, 3),
            ))
        return st.one_of(*options)

    return st.recursive(leaves, extend, max_leaves=8)


@st.composite
def traces(draw: st.DrawFn) -> list[Event]:
    size = draw(st.integers(1, 12))
    time, out = 0.0, []
    for seq in range(1, size + 1):
        time += draw(st.sampled_from([0.0, 1.0, 2.5]))
        labels = draw(st.frozensets(st.sampled_from(LETTERS)))
        kind = draw(st.sampled_from(["tool_call", "tool_result", "user_message"]))
        tool = draw(st.sampled_from(["a", "b", "bx", "c"])) if kind != "user_message" else None
        out.append(Event(kind=kind, tool=tool, seq=seq, time=time, labels=labels))
    return out


def _policy(body: ast.Formula) -> Policy:
    return Policy("p", "", to_text(body), ast.Always(body), Severity.HIGH, PolicyAction.BLOCK)


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(formulas(future=False), traces())
def test_monitor_matches_reference(body: ast.Formula, trace: list[Event]) -> None:
    monitor = Monitor([_policy(body)])
    for i, event in enumerate(trace):
        violated = bool(monitor.step(event))
        assert violated == (not holds(body, trace, i)), (to_text(body), i)


@FAST
@given(formulas(future=True), traces())
def test_offline_matches_reference(formula: ast.Formula, trace: list[Event]) -> None:
    assert evaluate(formula, trace) == [holds(formula, trace, i) for i in range(len(trace))]


@FAST
@given(formulas(future=True))
def test_printed_formula_parses_back_to_itself(formula: ast.Formula) -> None:
    assert parse(to_text(formula)) == formula


def test_monitor_shares_state_between_policies_without_mixing_them() -> None:
    once_p = ast.Once(ast.AtomNode(LabelAtom("p")))
    first = Policy("a", "", "", ast.Always(ast.Not(once_p)), Severity.LOW, PolicyAction.LOG)
    second = Policy("b", "", "", ast.Always(ast.Implies(once_p, ast.AtomNode(LabelAtom("q")))),
                    Severity.LOW, PolicyAction.LOG)
    monitor = Monitor([first, second])
    assert monitor.step(Event(kind="tool_call", tool="t", seq=1, time=0)) == ()
    names = [v.policy for v in monitor.step(Event(kind="tool_call", tool="t", seq=2, time=1, labels={"p"}))]
    assert names == ["a", "b"]
    names = [v.policy for v in monitor.step(Event(kind="tool_call", tool="t", seq=3, time=2, labels={"q"}))]
    assert names == ["a"]


@settings(max_examples=60, deadline=None)
@given(formulas(future=False, counts=False, consts=False), traces())
def test_monitor_matches_reelay(body: ast.Formula, trace: list[Event]) -> None:
    ours = Monitor([_policy(body)])
    theirs = reelay.discrete_timed_monitor(pattern=to_reelay(body), condense=False)
    for event in trace:
        expected = theirs.update({x: x in event.labels for x in LETTERS})["value"]
        assert (not ours.step(event)) == expected, to_reelay(body)


# --- the parser's error messages --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('always (tool("x")', 1, 18),
        ("always (\n  tool(\"x\") and\n  )", 3, 3),
        ("frobnicate", 1, 1),
        ('tool("a") and $', 1, 15),
        ('count(tool("pay")) > x', 1, 22),
        ('arg("to") in no_such_list', 1, 14),
        ('arg("p") matches "(a)\\1"', 1, 18),
        ("", 1, 1),
    ],
)
def test_syntax_errors_name_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(PolicySyntaxError) as info:
        parse(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert isinstance(info.value, AimdsError)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(PolicySyntaxError):
        parse("not " * 500 + "true")
    with pytest.raises(PolicySyntaxError):
        parse("(" * 500 + "true" + ")" * 500)


def test_precedence_and_associativity() -> None:
    p, q, r = (ast.AtomNode(LabelAtom(x)) for x in "pqr")
    assert parse('label("p") -> label("q") -> label("r")') == ast.Implies(p, ast.Implies(q, r))
    assert parse('not label("p") and label("q") or label("r")') == ast.Or(ast.And(ast.Not(p), q), r)
    assert parse('once label("p") since label("q")') == ast.Since(ast.Once(p), q)
    assert parse('H label("p") and Y label("q")') == ast.And(ast.Historically(p), ast.Previously(q))


def test_future_operator_in_runtime_policy_is_refused() -> None:
    policy = make_policy("f", 'eventually tool("x")')
    assert not policy.is_runtime
    with pytest.raises(PolicyError):
        Monitor([policy])
    policy = make_policy("g", 'always (tool("x") -> next tool("y"))')
    assert not policy.is_runtime


# --- atoms ------------------------------------------------------------------------------------
def _call(tool: str, seq: int = 1, time: float = 0.0, **arguments: object) -> Event:
    return Event(kind="tool_call", tool=tool, arguments=arguments, seq=seq, time=time)


def _violates(formula: str, events: list[Event], lists: dict[str, list[str]] | None = None) -> list[bool]:
    monitor = Monitor([make_policy("t", f"always ({formula})", lists=lists)])
    return [bool(monitor.step(e)) for e in events]


def test_domain_lists_match_subdomains_and_need_every_recipient() -> None:
    rule = 'tool("send_email") -> arg_domain("to", "cc") in allowed'
    events = [
        _call("send_email", 1, to="a@corp.com"),
        _call("send_email", 2, to="Bob <b@mail.corp.com>"),
        _call("send_email", 3, to="a@corp.com, x@evil.net"),
        _call("send_email", 4, to="a@corp.com", cc=["c@corp.com", "d@corp.com.evil.net"]),
        _call("send_email", 5, to="a@notcorp.com"),
    ]
    assert _violates(rule, events, {"allowed": ["corp.com"]}) == [False, False, True, True, True]


def test_user_mentioned_recipients_are_allowed() -> None:
    rule = 'tool("send_email") -> arg_domain("to") in user_mentioned'
    events = [
        Event(kind="user_message", content="please send the report to Alice@Partner.org", seq=1, time=0),
        _call("send_email", 2, to="alice@partner.org"),
        _call("send_email", 3, to="attacker@evil.com"),
    ]
    assert _violates(rule, events) == [False, False, True]


def test_paths_under_workspace_resolve_traversal() -> None:
    rule = 'tool("delete_file") -> arg_path("path") under ["/workspace"]'
    events = [
        _call("delete_file", 1, path="/workspace/tmp/a.txt"),
        _call("delete_file", 2, path="notes/old.md"),
        _call("delete_file", 3, path="/workspace/../etc/passwd"),
        _call("delete_file", 4, path="../../home/user/.ssh/id_rsa"),
        _call("delete_file", 5, path="/workspaces-other/x"),
    ]
    assert _violates(rule, events) == [False, False, True, True, True]


def test_numbers_regex_glob_and_contains() -> None:
    events = [_call("pay", 1, amount="1,500.00", memo="Invoice 42"), _call("pay", 2, amount=20, memo="gift")]
    assert _violates('not (arg("amount") > 1000)', events) == [True, False]
    assert _violates('not (arg("memo") matches "^Invoice \\d+$")', events) == [True, False]
    assert _violates('not (arg("memo") glob "inv*")', events) == [False, False]
    assert _violates('not (arg("memo") contains "INVOICE")', events) == [True, False]
    assert _violates('not (arg("missing") == "x") and not (arg("missing") not in ["x"])', events) == [False, False]


def test_windowed_count_forgets_old_events() -> None:
    rule = 'count(tool("pay"), 1h) <= 2'
    events = [_call("pay", 1, 0), _call("pay", 2, 10), _call("pay", 3, 20), _call("pay", 4, 3611),
              _call("pay", 5, 3615)]
    assert _violates(rule, events) == [False, False, True, False, True]


def test_counterexample_names_the_untrusted_read() -> None:
    policy = make_policy("exfil", 'always (tool("send_email") and once(untrusted) -> arg_domain("to") in ["corp.com"])')
    monitor = Monitor([policy])
    events = [
        Event(kind="user_message", content="summarise my inbox", seq=1, time=0),
        Event(kind="tool_result", tool="read_inbox", content="...", labels={"untrusted"}, seq=2, time=1),
        _call("send_email", 3, 2, to="x@evil.com"),
    ]
    results = [monitor.step(e) for e in events]
    assert results[0] == results[1] == ()
    assert results[2][0].events == (2, 3)


def test_out_of_order_events_are_rejected() -> None:
    monitor = Monitor([make_policy("t", "always true")])
    monitor.step(_call("a", 5, 10))
    with pytest.raises(AimdsError):
        monitor.step(_call("a", 5, 11))
    with pytest.raises(AimdsError):
        monitor.step(_call("a", 6, 9))


def test_snapshot_and_restore_keep_temporal_state() -> None:
    policy = make_policy("once", 'always not (once(label("p")) and tool("x"))')
    first = Monitor([policy])
    first.step(Event(kind="tool_result", tool="r", labels={"p"}, seq=1, time=0))
    data = first.snapshot("default", "default")
    second = Monitor([policy])
    second.restore("default", "default", data)
    assert second.step(_call("x", 2, 1))
