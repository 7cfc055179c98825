"""Streaming output checks: split secrets caught, stream stopped at the right offset, text passed on intact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimds.errors import InputTooLarge, InvalidInput
from aimds.output import OutputScanner, StreamBlocked
from aimds.types import ThreatKind

SCANNER = OutputScanner(canary_key=b"stream-test")
TOKEN = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"


async def feed(parts: list) -> AsyncIterator[str]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


def collect(parts: list, **kwargs) -> tuple[str, object]:
    async def run():
        stream = SCANNER.stream(feed(parts), **kwargs)
        out = []
        try:
            async for chunk in stream:
                out.append(chunk)
        except StreamBlocked as blocked:
            return "".join(out), blocked
        return "".join(out), stream
    return asyncio.run(run())


def split_every(text: str, n: int) -> list[str]:
    return [text[i:i + n] for i in range(0, len(text), n)]


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 16])
def test_secret_split_across_chunks_is_caught_before_it_is_shown(chunk_size: int) -> None:
    prefix = "Sure, here is the token you asked for: "
    answer = prefix + TOKEN + " and some more words after it."
    shown, blocked = collect(split_every(answer, chunk_size))
    assert isinstance(blocked, StreamBlocked)
    assert blocked.offset == len(prefix) and blocked.finding.kind is ThreatKind.SECRET
    assert TOKEN not in shown and blocked.emitted == len(shown)
    assert answer.startswith(shown)


def test_clean_stream_passes_through_unchanged_and_reports_pii() -> None:
    answer = "The report is ready. Contact jane.doe@example.com for details. " * 20
    shown, stream = collect(split_every(answer, 5))
    assert shown == answer
    assert stream.chunks_scanned == len(split_every(answer, 5))
    emails = [f for f in stream.findings if f.kind is ThreatKind.PII]
    assert len(emails) == 20 and emails[3].span.start == answer.index("jane", 3 * len(answer) // 20)


def test_canary_and_persona_stop_the_stream() -> None:
    canary = SCANNER.canary()
    _, blocked = collect(split_every(f"My system prompt starts with {canary} ok", 4))
    assert isinstance(blocked, StreamBlocked) and blocked.finding.kind is ThreatKind.SYSTEM_PROMPT_EXTRACTION
    _, blocked = collect(["Okay.\n", "DA", "N: sure, no rules now"])
    assert isinstance(blocked, StreamBlocked) and blocked.offset == len("Okay.\n")


def test_system_prompt_overlap_accumulates_over_the_stream() -> None:
    system = " ".join(f"rule{i} applies to every answer" for i in range(30))
    scanner = OutputScanner(system_prompt=system)
    parts = split_every(system, 11)

    async def run():
        async for _ in scanner.stream(feed(parts), lookback=64, holdback=0):
            pass
    with pytest.raises(StreamBlocked):
        asyncio.run(run())


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=1, max_value=50))
def test_any_clean_chunking_yields_the_same_text(text: str, size: int) -> None:
    scanner = OutputScanner(canary_key=b"k", allowed_domains=["example.com"])
    whole_blocks = any(scanner.action_for(f).stops for f in scanner.scan(text))

    async def run():
        return "".join([c async for c in scanner.stream(feed(split_every(text, size)))])
    if not whole_blocks:
        try:
            assert asyncio.run(run()) == text
        except StreamBlocked as blocked:  # a window may see what the whole does (e.g. overlap)
            assert blocked.offset <= len(text)


def test_bad_streams() -> None:
    with pytest.raises(InvalidInput):
        collect(["ok", b"bytes"])
    with pytest.raises(InputTooLarge):
        asyncio.run(_drain(OutputScanner(max_chars=10), ["x" * 6, "y" * 6]))
    with pytest.raises(InvalidInput):
        SCANNER.stream(feed([]), lookback=8)


async def _drain(scanner: OutputScanner, parts: list[str]) -> None:
    async for _ in scanner.stream(feed(parts)):
        pass
