"""The metrics tally: counts and timings applied once per event-loop pass leave the same values as
applying each at once, and /metrics never shows a worker's own tally unapplied."""

from __future__ import annotations

import asyncio

from prometheus_client import generate_latest

from aimds.server.metrics import Metrics

# Exactly representable in binary, so sums do not depend on the order of additions; some on bucket
# bounds (a value on a bound belongs to that bound's bucket), one past the last finite bound, one NaN.
TIMINGS = [0.0, 0.0005, 0.0009765625, 0.001, 0.25, 0.25, 0.5, 2.5, 10.0, 16.0, 0.00390625, float("nan")]


def _record(metrics: Metrics, direct: bool) -> None:
    for route, status, n in (("check", "200", 3), ("check", "429", 1), ("check_batch", "200", 2)):
        child = metrics.labelled(metrics.requests, route, status)
        for _ in range(n):
            child.inc() if direct else metrics.count(child)
    for value in TIMINGS:
        for child in (metrics.check_latency, metrics.labelled(metrics.request_latency, "check")):
            child.observe(value) if direct else metrics.time(child, value)
    metrics.blocks.inc(2.0) if direct else metrics.count(metrics.blocks, 2.0)


def test_tally_applied_at_the_end_of_the_pass_equals_each_applied_at_once() -> None:
    direct, tallied = Metrics(), Metrics()
    _record(direct, True)

    async def in_one_pass() -> tuple[bytes, bytes]:
        _record(tallied, False)
        before = generate_latest(tallied.registry)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return before, generate_latest(tallied.registry)

    before, after = asyncio.run(in_one_pass())
    assert b'aimds_http_requests_total{route="check",status="200"} 3.0' not in before  # not yet applied
    assert _values(after) == _values(generate_latest(direct.registry))
    assert b'aimds_http_requests_total{route="check",status="200"} 3.0' in after
    assert b'aimds_check_latency_seconds_bucket{le="0.001"} 4.0' in after  # 0, 0.0005, 0.00098, 0.001


def _values(text: bytes) -> list[bytes]:
    """The exposition without the ``_created`` timestamps, which differ between two registries."""
    return [line for line in text.splitlines() if b"_created" not in line]


def test_render_applies_the_pending_tally() -> None:
    metrics = Metrics()

    async def scrape() -> bytes:
        metrics.count(metrics.labelled(metrics.actions, "block"), 5)
        metrics.time(metrics.check_latency, 0.25)
        return metrics.render()

    text = asyncio.run(scrape())
    assert b'aimds_verdicts_total{action="block"} 5.0' in text and b"aimds_check_latency_seconds_count 1.0" in text


def test_tally_outside_an_event_loop_applies_at_once() -> None:
    metrics = Metrics()
    metrics.count(metrics.blocks)
    metrics.time(metrics.check_latency, 0.5)
    text = generate_latest(metrics.registry)
    assert b"aimds_blocks_total 1.0" in text and b"aimds_check_latency_seconds_sum 0.5" in text


def test_histograms_without_the_expected_layout_are_observed_one_value_at_a_time() -> None:
    class Plain:
        def __init__(self) -> None:
            self.seen: list[float] = []

        def observe(self, value: float) -> None:
            self.seen.append(value)

    metrics, plain = Metrics(), Plain()
    metrics.time(plain, 0.1)
    metrics.time(plain, 0.2)
    assert plain.seen == [0.1, 0.2]


def test_a_tally_left_by_a_stopped_loop_is_applied_and_the_next_loop_tallies_again() -> None:
    """The app can be started again on a new event loop (tests, reloads): a pass whose loop stopped
    before applying must neither lose its counts (`stop` applies them) nor stop later tallies."""
    metrics = Metrics()
    child = metrics.labelled(metrics.actions, "allow")

    loop = asyncio.new_event_loop()
    asyncio.events._set_running_loop(loop)  # a pass of this loop...
    try:
        metrics.count(child)  # ...schedules the apply on it...
    finally:
        asyncio.events._set_running_loop(None)
    loop.close()  # ...and the loop ends before running it
    assert b'aimds_verdicts_total{action="allow"} 1.0' not in generate_latest(metrics.registry)
    metrics.apply()  # what `Service.stop` does
    assert b'aimds_verdicts_total{action="allow"} 1.0' in generate_latest(metrics.registry)

    async def count_on_a_new_loop() -> bytes:
        metrics.count(child, 2)
        await asyncio.sleep(0)
        return generate_latest(metrics.registry)

    assert b'aimds_verdicts_total{action="allow"} 3.0' in asyncio.run(count_on_a_new_loop())
