"""The leet fold gives exactly what its definition says, whichever of its two paths a text takes."""

from __future__ import annotations

import random
import re

import pytest

from aimds.text import tricks
from aimds.text.unicode_fold import fold

# The definition: a whole run of token characters, 2 to 32 long, only letters and leet characters,
# with at least one of each. Written as one plain (slow) regex over the whole text.
_LEET = "[" + re.escape("0134578@$+!|") + "]"
_TOKEN = "[A-Za-z0-9" + re.escape("@$+!|") + "]"
_REFERENCE = re.compile(
    rf"(?<!{_TOKEN})(?={_LEET}*[A-Za-z])(?=[A-Za-z]*{_LEET})[A-Za-z{_LEET[1:-1]}]{{2,32}}(?!{_TOKEN})"
)


def _reference(text: str) -> str:
    return _REFERENCE.sub(lambda m: tricks._fold_leet(m.group()), text)


def _texts(seed: int, tokens: int) -> list[str]:
    rnd = random.Random(seed)
    pieces = ("h1", "30am", "pl3ase", "1gn0r3", "$ecret", "p@ss", "4ll", "2024", "a1b2", "x" * 31 + "1",
              "y" * 33 + "3", "hello", "w0rld", "11ama", "@", "$5", "7", "é", "3é", "_", "a_1", "1 1 1", "\ud800",
              "中1a", "a?1", "sys+em", "he||o", "Hello!", "A+B", "8ypass", "i|g|n", "!x", "+", "a++b", "PW+N!")
    seps = (" ", " ", "\n", ".", ",", "-", "<", ">", "/", "_", "")
    return [
        "".join(rnd.choice(pieces) + rnd.choice(seps) for _ in range(rnd.randint(0, tokens))) for _ in range(1500)
    ]


class _CountingPattern:
    """Stands in for the regex of the dense path, counting the texts handed to it."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern, self.calls = pattern, 0

    def sub(self, repl, text: str) -> str:  # noqa: ANN001
        self.calls += 1
        return self.pattern.sub(repl, text)


def test_sparse_and_dense_texts_fold_as_defined(monkeypatch: pytest.MonkeyPatch) -> None:
    dense = _CountingPattern(tricks._SEPARATOR_LEET_TOKEN)
    monkeypatch.setattr(tricks, "_SEPARATOR_LEET_TOKEN", dense)
    texts = _texts(1, 6) + _texts(2, 80) + _texts(3, 400)
    for text in texts:
        assert tricks._unleet_tokens(text) == _reference(text), text
    assert 500 < dense.calls < len(texts) - 1000  # both paths are exercised


def test_unchanged_text_is_returned_as_is() -> None:
    text = "nothing to fold in 2024, $5 or a_1"
    assert tricks._unleet_tokens(text) is text


def test_inner_separators_found_in_ascii_text_as_the_regex_finds_them() -> None:
    rnd = random.Random(4)
    alphabet = "abXY-._*|~^+ 1_\n"
    for _ in range(3000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        assert tricks._inner_separators(text) == [m.start() for m in tricks._INNER_SEP.finditer(text)], text
    assert tricks._inner_separators("ign-oré ça-va") == [3, 10]  # other text: the regex, Unicode letters


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("sys+em ins+ruc+!on5", "system instructions"),  # punctuation as leet inside words
        ("env!ron c0mp|y he||o 8ypass", "environ compiy hello bypass"),
        ("Hello! Really!!", None),  # at a word's end it is punctuation, not a letter
        ("A+B", "AB"),  # the one separator between single letters: dropped, not read as "t"
        ("i|g|n|o|r|e th|s", "ignore this"),
        ("insтructions", "instructions"),  # Cyrillic te, kept by the confusable fold
        ("ᴘʀᴏᴍᴘᴛ", "prompt"),  # small capitals
        ("€x€cute sys+€m", "execute system"),  # the euro sign passes for an "e", also next to leet
        ("price: €5 or 5€, π = 3.14", None),
        ("at 6:30am on the 1st, 8GB free", None),  # a number with its unit or ordinal is not leet  # a lookalike with no letter beside it stays
        ("Привет мир, как дела? Тест окончен.", None),  # real Cyrillic text is not Latinised
    ],
)
def test_lookalikes_and_punctuation_leet_fold(text: str, folded: str | None) -> None:
    view = tricks.fold_tricks(fold(text).normalized)  # as the normalize stage hands it over
    assert (view.text if view else None) == folded
    if view is not None:
        assert len(view.text) <= len(text)
