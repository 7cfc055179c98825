"""Throughput of the temporal-policy monitor, side by side with reelay, and the latency it adds per
guarded tool call.

    python bench/bench_monitor.py [--events 200000] [--sessions 100] [--calls 20000] [--repeat 5]

All figures come from one run, on one core (the monitor is single-threaded):

1. aimds monitor events/s with 10 runtime policies (the shipped library plus one), atoms evaluated
   on the events as they come (argument parsing, domain lists, labels, scores).
2. The same 8 of those policies that reelay can express (reelay has no counting operator), on
   aimds and on reelay (an independent C++ past-time monitor, one monitor per policy and session,
   the same verdicts). reelay gets its atoms pre-extracted into booleans before the clock starts,
   so its figure covers the temporal logic only; aimds's includes evaluating the atoms.
3. One formula on both (reelay's best case: one monitor for all events).
4. p50/p99 added latency per tool call through `AgentDefense.record` with text scanning switched
   off (a constant scanner): argument checks, taint, policies, behaviour and the decision; and the
   whole guarded call through the decorator (event building and validation, the call and its
   result event, spotlighting), also without text scanning.

Every figure is measured ``--repeat`` times; the best and the median run are printed, in CPU time of
this thread (what the work costs on a core, not counting waits for a busy machine) and wall time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from aimds.agents import AgentDefense, Event, Monitor
from aimds.agents.ltl import ast
from aimds.agents.ltl.atoms import SessionFacts
from aimds.agents.policy import Policy, default_policies, make_policy
from aimds.types import Action, Role, Verdict

TOOLS = ["read_inbox", "search", "send_email", "read_file", "delete_file", "pay", "http_request", "calendar"]
WEIGHTS = [20, 20, 15, 20, 5, 1, 10, 9]  # payments are rare
LISTS = {"allowed_domains": ["corp.com"], "workspace": ["/workspace"]}
ONE_FORMULA = 'always not (tool("send_email") and once(untrusted))'


def make_events(count: int, sessions: int, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    seqs = [0] * sessions
    events = []
    recipients = ["bob@corp.com", "alice@corp.com", "carol@partner.org", "eve@evil.example"]
    for i in range(count):
        s = rng.randrange(sessions)
        seqs[s] += 1
        roll = rng.random()
        common = {"agent_id": f"agent{s % 10}", "session_id": f"s{s}", "seq": seqs[s], "time": float(i)}
        if roll < 0.1:
            events.append(Event(kind="user_message", content="please mail the report to bob@corp.com", **common))
        elif roll < 0.45:
            events.append(Event(kind="tool_result", tool=rng.choice(TOOLS), content="result text",
                                labels=frozenset({"untrusted"}), **common))
        else:
            tool = rng.choices(TOOLS, WEIGHTS)[0]
            arguments = {"to": rng.choice(recipients), "path": "/workspace/a.txt", "amount": 5,
                         "url": "https://corp.com/x"}
            events.append(Event(kind="tool_call", tool=tool, arguments=arguments, **common))
    return events


def ten_policies() -> list[Policy]:
    policies = default_policies(LISTS).runtime
    policies.append(make_policy("no-http-after-injection-hint", 'always not (tool("http_request") and '
                                'previously(result() and risk > 0.9))'))
    return policies[:10]


def _has_count(policy: Policy) -> bool:
    return any(isinstance(node, ast.Count) for node in ast.walk(policy.runtime_body))  # type: ignore[arg-type]


# --- reelay: the same policies over pre-extracted atoms ------------------------------------------
def to_reelay(node: ast.Formula, names: dict[Any, str]) -> str:
    if isinstance(node, ast.AtomNode):
        return "{" + names.setdefault(node.atom, f"a{len(names)}") + "}"
    unary = {ast.Not: "not", ast.Previously: "pre", ast.Once: "once", ast.Historically: "historically"}
    binary = {ast.And: "and", ast.Or: "or", ast.Implies: "->", ast.Since: "since"}
    if type(node) in unary:
        return f"{unary[type(node)]}({to_reelay(node.child, names)})"  # type: ignore[union-attr]
    if type(node) in binary:
        return f"({to_reelay(node.left, names)}) {binary[type(node)]} ({to_reelay(node.right, names)})"  # type: ignore[union-attr]
    raise ValueError(f"reelay cannot express {type(node).__name__}")


def reelay_rows(policies: Sequence[Policy], events: Sequence[Event]) -> tuple[list[str], list[list[dict[str, bool]]]]:
    """Each policy's reelay pattern, and per event one row per policy holding only that policy's
    atoms (reelay converts every key it is given, so extra keys would only slow it down)."""
    names: dict[Any, str] = {}
    patterns, used = [], []
    for policy in policies:
        patterns.append(to_reelay(policy.runtime_body, names))  # type: ignore[arg-type]
        used.append([(atom, name) for atom, name in names.items() if "{" + name + "}" in patterns[-1]])
    facts: dict[str, SessionFacts] = {}
    rows = []
    for event in events:
        session = facts.setdefault(event.session_id, SessionFacts())
        if event.kind == "user_message":
            session.observe_user_text(event.content)
        rows.append([{name: atom.holds(event, session) for atom, name in atoms} for atoms in used])
    return patterns, rows


def reelay_monitors(reelay: Any, patterns: list[str], events: Sequence[Event]) -> dict[str, list[Any]]:
    """One monitor per policy and session, built before the clock starts (building one takes
    milliseconds: it parses and compiles the formula)."""
    return {session: [reelay.discrete_timed_monitor(pattern=p, condense=False) for p in patterns]
            for session in dict.fromkeys(e.session_id for e in events)}


def run_reelay(monitors: dict[str, list[Any]], events: Sequence[Event], rows: list[list[dict[str, bool]]]) -> int:
    violations = 0
    for event, per_policy in zip(events, rows):
        for monitor, row in zip(monitors[event.session_id], per_policy):
            if not monitor.update(row)["value"]:
                violations += 1
    return violations


def run_aimds(policies: Sequence[Policy], events: Sequence[Event]) -> int:
    step = Monitor(policies).step
    return sum(len(step(event)) for event in events)


# --- measurement ---------------------------------------------------------------------------------
def measure(run: Callable[[], Any], count: int, repeat: int) -> tuple[dict[str, float], Any]:
    """events/s per run in CPU time of this thread and in wall time; best and median of ``repeat``."""
    cpu, wall, result = [], [], None
    for _ in range(repeat):
        c0, w0 = time.thread_time(), time.perf_counter()
        result = run()
        cpu.append(count / (time.thread_time() - c0))
        wall.append(count / (time.perf_counter() - w0))
    return {"cpu_best": max(cpu), "cpu_median": statistics.median(cpu), "wall_best": max(wall),
            "wall_median": statistics.median(wall)}, result


def show(label: str, rates: dict[str, float]) -> None:
    print(f"  {label:<44} cpu best {rates['cpu_best']:>11,.0f}/s  median {rates['cpu_median']:>11,.0f}/s"
          f"   ({1e6 / rates['cpu_best']:.2f} us/event)   wall best {rates['wall_best']:>11,.0f}/s")


def bench_tool_call_latency(calls: int) -> tuple[float, float]:
    constant = Verdict(Action.ALLOW, 0.0, (), Role.TOOL_OUTPUT, 0.0)
    defense = AgentDefense(scan=lambda text, role: constant, lists=LISTS)
    events = [Event(kind="tool_call", tool=TOOLS[i % len(TOOLS)], agent_id="bench", session_id=f"s{i % 50}",
                    arguments={"to": "bob@corp.com", "subject": "weekly report", "body": "numbers attached"})
              for i in range(calls)]
    samples = []
    record, clock = defense.record, time.perf_counter
    for event in events:
        start = clock()
        record(event)
        samples.append((clock() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def bench_guarded_call_latency(calls: int) -> tuple[float, float]:
    """The whole decorator path: binding the arguments, building and checking the call event, the
    call itself (a no-op), recording its result and spotlighting it; minus the bare call."""
    constant = Verdict(Action.ALLOW, 0.0, (), Role.TOOL_OUTPUT, 0.0)
    defense = AgentDefense(scan=lambda text, role: constant, lists=LISTS)

    def send_email(to: str, subject: str, body: str) -> str:
        return "queued"

    guarded = defense.wrap(send_email, "send_email")
    samples = []
    clock = time.perf_counter
    with defense.session("bench", "s"):
        for _ in range(calls):
            start = clock()
            guarded("bob@corp.com", "weekly report", "numbers attached")
            samples.append((clock() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description="AIMDS agent monitor benchmark")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    events = make_events(args.events, args.sessions)
    ten = ten_policies()
    eight = [p for p in ten if not _has_count(p)]
    one = [make_policy("one", ONE_FORMULA)]
    n, r = len(events), args.repeat
    print(f"{n:,} events, {args.sessions} sessions, best and median of {r} runs")

    rates, found = measure(lambda: run_aimds(ten, events), n, r)
    show(f"aimds, {len(ten)} policies", rates)
    print(f"    ({found:,} violations)")
    try:
        import reelay
    except ImportError:
        reelay = None
        print("  reelay: not installed (pip install reelay)")
    rates, found = measure(lambda: run_aimds(eight, events), n, r)
    show(f"aimds, the {len(eight)} policies reelay can express", rates)
    if reelay is not None:
        patterns, rows = reelay_rows(eight, events)
        found_theirs, cpu, wall = 0, [], []
        for _ in range(r):  # fresh monitors per run, built outside the timed part
            monitors = reelay_monitors(reelay, patterns, events)
            c0, w0 = time.thread_time(), time.perf_counter()
            found_theirs = run_reelay(monitors, events, rows)
            cpu.append(n / (time.thread_time() - c0))
            wall.append(n / (time.perf_counter() - w0))
        show(f"reelay, the same {len(eight)} (atoms pre-extracted)", {
            "cpu_best": max(cpu), "cpu_median": statistics.median(cpu), "wall_best": max(wall)})
        print(f"    (violations: aimds {found:,}, reelay {found_theirs:,})")
    rates, found = measure(lambda: run_aimds(one, events), n, r)
    show("aimds, 1 formula", rates)
    if reelay is not None:
        patterns, rows = reelay_rows(one, events)
        monitor = reelay.discrete_timed_monitor(pattern=patterns[0], condense=True)
        single = [row[0] for row in rows]
        theirs, _ = measure(lambda: [monitor.update(row) for row in single], n, r)
        show("reelay, 1 formula, one monitor for all events", theirs)

    runs = [bench_tool_call_latency(args.calls) for _ in range(r)]
    p50s, p99s = [p50 for p50, _ in runs], [p99 for _, p99 in runs]
    print(f"added latency per tool call event through AgentDefense.record (no text scanning, {args.calls:,} "
          f"calls, wall): p50 best {min(p50s):.3f} ms median {statistics.median(p50s):.3f} ms; "
          f"p99 best {min(p99s):.3f} ms median {statistics.median(p99s):.3f} ms")
    runs = [bench_guarded_call_latency(args.calls) for _ in range(r)]
    p50s, p99s = [p50 for p50, _ in runs], [p99 for _, p99 in runs]
    print(f"whole guarded call via @tool (call + result events, spotlighting, no text scanning, wall): p50 best "
          f"{min(p50s):.3f} ms median {statistics.median(p50s):.3f} ms; p99 best {min(p99s):.3f} ms "
          f"median {statistics.median(p99s):.3f} ms")


if __name__ == "__main__":
    main()
