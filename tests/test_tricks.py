"""The leet fold gives exactly what its definition says, whichever of its two paths a text takes."""

from __future__ import annotations

import random
import re

from aimds.text import tricks

# The definition: a whole run of token characters, 2 to 32 long, only letters and leet characters,
# with at least one of each. Written as one plain (slow) regex over the whole text.
_REFERENCE = re.compile(
    r"(?<![A-Za-z0-9@$])(?=[013457@$]*[A-Za-z])(?=[A-Za-z]*[013457@$])[A-Za-z013457@$]{2,32}(?![A-Za-z0-9@$])"
)


def _reference(text: str) -> str:
    return _REFERENCE.sub(lambda m: tricks._fold_leet(m.group()), text)


def _texts(seed: int, tokens: int) -> list[str]:
    rnd = random.Random(seed)
    pieces = ("h1", "30am", "pl3ase", "1gn0r3", "$ecret", "p@ss", "4ll", "2024", "a1b2", "x" * 31 + "1",
              "y" * 33 + "3", "hello", "w0rld", "11ama", "@", "$5", "7", "é", "3é", "_", "a_1", "1 1 1", "\ud800",
              "中1a", "a?1")
    seps = (" ", " ", "\n", ".", ",", "-", "<", ">", "/", "_", "")
    return [
        "".join(rnd.choice(pieces) + rnd.choice(seps) for _ in range(rnd.randint(0, tokens))) for _ in range(1500)
    ]


def test_sparse_and_dense_texts_fold_as_defined() -> None:
    dense = 0
    for text in _texts(1, 6) + _texts(2, 80) + _texts(3, 400):
        leet = sum(text.count(c) for c in "013457@$")
        dense += leet > 2 * (tricks._TOKENS_ONE_BY_ONE + len(text) // tricks._CHARS_PER_TOKEN)
        assert tricks._unleet_tokens(text) == _reference(text), text
    assert dense > 500  # the regex path for text dense with digits is exercised, not only the token-by-token one


def test_unchanged_text_is_returned_as_is() -> None:
    text = "nothing to fold in 2024, $5 or a_1"
    assert tricks._unleet_tokens(text) is text
