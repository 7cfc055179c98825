"""The unicode fold's shortcuts (runs only, numpy translation) give exactly what str.translate gives."""

from __future__ import annotations

import random

import pytest

from aimds.text import tables, unicode_fold

T = tables.fold_tables()
ALPHABETS = {
    "cyrillic and greek": "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЕКМНОРСТХαβγδεοΟΑΒ abc.,",
    "cjk and fullwidth": "请帮我把这段话改写，。ＡＢＣ１２３ｱｲｳ abc",
    "marks and invisibles": "abcé\u0301\u0300\u200b\u200d\u202e\ufe0f\U000e0041ﬁ①😀 ",
    "mixed": "aЀаеорсΑαο \u200b\u200dﬁ①Ｈ\x01\n\t😀请，",
}


@pytest.mark.parametrize("name", ALPHABETS)
def test_fold_equals_whole_text_translation(name: str) -> None:
    rnd = random.Random(name)
    alphabet = ALPHABETS[name]
    numpy_path = 0
    for _ in range(1500):
        words = ("".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 8))) for _ in range(rnd.randint(1, 150)))
        text = " ".join(words)
        folded = unicode_fold.fold(text)
        assert folded.normalized.text == text.translate(T.fold)
        codes = text.translate(T.codes)
        if tables.LOOKALIKE in codes:
            assert folded.unicode is not None and folded.unicode.text == text.translate(T.nfkc)
        else:
            assert folded.unicode is None
        changes = unicode_fold._changes(text, T)
        numpy_path += changes.runs is None and unicode_fold._translate_points(changes, T.fold_map) is not None
    if name == "cyrillic and greek":
        assert numpy_path > 100  # the numpy translation is exercised, not only the fallbacks


def test_markers_read_from_changed_characters_are_those_of_the_coded_text() -> None:
    """`fold` tells which markers the coded text holds from the changed characters alone; that is
    exact only because no character the tables leave alone is a marker (every C0 control is listed)."""
    assert all(T.changed[cp] for cp in range(0x20) if chr(cp) not in "\t\n\r")
    assert not any(T.changed[cp] for cp in range(0x20, 0x7F))
    rnd = random.Random(3)
    alphabet = "".join(ALPHABETS.values()) + "\x00\x05\x0b\x0e\x0f\x10\x1f\x7f\x85\t\n\r"
    for _ in range(1500):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 200)))
        codes = text.translate(T.codes)
        markers = unicode_fold._markers(unicode_fold._changes(text, T), T.codes_map)
        assert markers == {c for c in codes if c < "\x11"} - set("\t\n\r"), text


def _reference_runs(text: str) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if T.changed[ord(ch)]:
            runs.append((runs.pop()[0], i + 1) if runs and runs[-1][1] == i else (i, i + 1))
    return runs


@pytest.mark.parametrize("density", [0.01, 0.1, 0.5])
def test_changed_runs_are_every_run_of_listed_characters(density: float) -> None:
    rnd = random.Random(int(density * 100))
    listed = "".join(ALPHABETS.values()) + "\x00\x0b\x7f\x85"
    for _ in range(600):
        text = "".join(rnd.choice(listed) if rnd.random() < density else rnd.choice("ab \t\n~")
                       for _ in range(rnd.randint(0, 1200)))
        changes = unicode_fold._changes(text, T)
        runs = _reference_runs(text)
        assert changes.at.tolist() == [i for i, ch in enumerate(text) if T.changed[ord(ch)]]
        assert changes.runs == (runs if len(runs) <= unicode_fold._MAX_RUNS else None)
