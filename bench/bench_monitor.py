"""Throughput of the temporal-policy monitor and the latency it adds per guarded tool call.

    python bench/bench_monitor.py [--events 200000] [--sessions 100]

Prints (1) monitor events/s on one core with 10 runtime policies (the shipped library plus one),
on pre-built events, (2) the same for reelay, an independent C++ monitor, on one equivalent
past-time formula where it is installed, and (3) p50/p99 added latency per tool call through
`AgentDefense.record` with text scanning switched off (a constant scanner), i.e. argument checks,
taint, policies, behaviour and the decision.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from aimds.agents import AgentDefense, Event, Monitor
from aimds.agents.policy import default_policies, make_policy
from aimds.types import Action, Role, Verdict

TOOLS = ["read_inbox", "search", "send_email", "read_file", "delete_file", "pay", "http_request", "calendar"]
WEIGHTS = [20, 20, 15, 20, 5, 1, 10, 9]  # payments are rare, so violations are (about 1% of events)


def make_events(count: int, sessions: int, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    seqs = [0] * sessions
    events = []
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
            arguments = {"to": "bob@corp.com", "path": "/workspace/a.txt", "amount": 5, "url": "https://corp.com/x"}
            events.append(Event(kind="tool_call", tool=tool, arguments=arguments, **common))
    return events


def ten_policies():  # type: ignore[no-untyped-def]
    lists = {"allowed_domains": ["corp.com"], "workspace": ["/workspace"]}
    policies = default_policies(lists).runtime
    policies.append(make_policy("no-http-after-injection-hint", 'always not (tool("http_request") and '
                                'previously(result() and risk > 0.9))'))
    return policies[:10]


def bench_monitor(events: list[Event]) -> float:
    monitor = Monitor(ten_policies())
    step = monitor.step
    start = time.perf_counter()
    for event in events:
        step(event)
    return len(events) / (time.perf_counter() - start)


def bench_reelay(events: list[Event]) -> float | None:
    try:
        import reelay
    except ImportError:
        return None
    monitor = reelay.discrete_timed_monitor(
        pattern="historically(({send} and once({untrusted})) -> {allowed})", condense=True
    )
    rows = [{"send": e.tool == "send_email", "untrusted": "untrusted" in e.labels, "allowed": True}
            for e in events]
    start = time.perf_counter()
    for row in rows:
        monitor.update(row)
    return len(rows) / (time.perf_counter() - start)


def bench_tool_call_latency(calls: int) -> tuple[float, float]:
    constant = Verdict(Action.ALLOW, 0.0, (), Role.TOOL_OUTPUT, 0.0)
    defense = AgentDefense(scan=lambda text, role: constant,
                           lists={"allowed_domains": ["corp.com"], "workspace": ["/workspace"]})
    samples = []
    for i in range(calls):
        event = Event(kind="tool_call", tool=TOOLS[i % len(TOOLS)], agent_id="bench", session_id=f"s{i % 50}",
                      arguments={"to": "bob@corp.com", "subject": "weekly report", "body": "numbers attached"})
        start = time.perf_counter()
        defense.record(event)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description="AIMDS agent monitor benchmark")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    events = make_events(args.events, args.sessions)
    print(f"policies loaded: {len(ten_policies())}")
    best = max(bench_monitor(events) for _ in range(3))
    print(f"aimds monitor: {best:,.0f} events/s (one core, {args.sessions} sessions, best of 3)")
    theirs = bench_reelay(events)
    if theirs is None:
        print("reelay: not installed")
    else:
        print(f"reelay (1 formula, pre-extracted atoms): {theirs:,.0f} events/s")
    p50, p99 = bench_tool_call_latency(args.calls)
    print(f"added latency per tool call (no text scanning): p50 {p50:.3f} ms, p99 {p99:.3f} ms")


if __name__ == "__main__":
    main()
