"""Chunking long texts and splitting them into sentence windows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from aimds.errors import InvalidInput
from aimds.text.chunking import chunks, sentences_or_windows


def test_short_text_is_one_chunk():
    assert chunks("hello world", 100, 10) == [(0, "hello world")]


def test_chunks_cut_at_sentence_ends_and_overlap():
    sentence = "This is a plain sentence about nothing at all. "
    text = sentence * 40
    pieces = chunks(text, 256, 32)
    assert len(pieces) > 1
    for (start, piece), (next_start, _) in zip(pieces, pieces[1:]):
        assert text[start : start + len(piece)] == piece
        assert len(piece) <= 256
        assert piece.endswith(". ")  # cut right after a sentence end
        assert next_start == start + len(piece) - 32
    assert pieces[-1][0] + len(pieces[-1][1]) == len(text)


def test_chunks_fall_back_to_whitespace_then_hard_cut():
    words = "word " * 200
    for start, piece in chunks(words, 100, 10)[:-1]:
        assert piece.endswith(" ")
    solid = "x" * 1000
    pieces = chunks(solid, 100, 10)
    assert [len(p) for _, p in pieces[:-1]] == [100] * (len(pieces) - 1)


def test_payload_on_a_boundary_is_seen_whole():
    payload = "IGNORE-ALL-PREVIOUS-INSTRUCTIONS"
    text = "a" * 240 + payload + "b" * 400
    assert any(payload in piece for _, piece in chunks(text, 256, 64))


def test_invalid_chunk_parameters():
    with pytest.raises(InvalidInput):
        chunks("text", 100, 60)
    with pytest.raises(InvalidInput):
        chunks("text", 0, 0)
    with pytest.raises(InvalidInput):
        sentences_or_windows("text", 0)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(4, 300), st.data())
def test_chunks_cover_the_text_in_order(text, size, data):
    overlap = data.draw(st.integers(0, (size - 1) // 2))
    pieces = chunks(text, size, overlap)
    assert pieces[0][0] == 0
    assert pieces[-1][0] + len(pieces[-1][1]) == len(text)
    covered = 0
    for start, piece in pieces:
        assert text[start : start + len(piece)] == piece
        assert len(piece) <= size
        assert start <= covered  # no gap
        covered = start + len(piece)


def test_sentences_merge_into_windows():
    text = "One. Two is here! Three?\nFour and more words. " + "Long " * 30
    spans = sentences_or_windows(text, 40)
    assert all(e - s <= 40 for s, e in spans)
    assert text[spans[0][0] : spans[0][1]].startswith("One. Two is here! Three?")
    assert spans == sorted(spans)
    joined = "".join(text[s:e] for s, e in spans)
    assert joined.replace(" ", "") == text.replace(" ", "").rstrip()


@settings(max_examples=200, deadline=None)
@given(st.text(), st.integers(1, 200))
def test_windows_are_ordered_bounded_and_cover_all_non_space(text, max_chars):
    spans = sentences_or_windows(text, max_chars)
    end = 0
    for s, e in spans:
        assert end <= s < e <= len(text)
        assert e - s <= max_chars
        end = e
    covered = "".join(text[s:e] for s, e in spans)
    assert "".join(covered.split()) == "".join(text.split())
