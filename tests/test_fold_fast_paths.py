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
