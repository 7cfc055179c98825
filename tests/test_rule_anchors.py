"""Rule matching tries only where a rule's leading word begins: same first match as a full search."""

from __future__ import annotations

import random
import re

import pytest

from aimds.detect.rulepack import _first_match, leading_literals, load_packs


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\b(ignore|Disregard)\b[^.\n]{0,30}\bprevious", ("disregard", "ignore")),
        (r"\btell\s+me|\bshow", ("show", "tell")),
        (r"(?<![a-z])don'?t\s+stop", ("don",)),
        (r"ignor(e|ing)", ("ignor",)),
        (r"[a-z]+ing", None),  # a class first: anything may start a match
        (r"(?:please\s+)?ignore", None),  # an optional part first
        (r"(?-i:DAN)\s+mode", None),  # a flag group: its case rules differ
        (r"(忽略|无视)", None),  # not ASCII: the lower-cased text cannot be searched for it
        (r"a|[bc]", None),  # one branch without a leading word
    ],
)
def test_leading_literals(pattern: str, expected: tuple[str, ...] | None) -> None:
    assert leading_literals(pattern) == expected


def _texts(rules) -> list[str]:
    rnd = random.Random(2)
    base = [t for r in rules for t in (*r.examples_match, *r.examples_no_match)]
    out = []
    for text in base:
        chars = list(text)
        for _ in range(3):
            if chars:
                chars[rnd.randrange(len(chars))] = rnd.choice(" .\n!?x")
        out += [text, "".join(chars), "filler words here. " * rnd.randint(0, 5) + text + " and then more text"]
    return [t.lower() for t in out if t.isascii()]


def test_first_match_equals_a_full_search_for_every_shipped_rule() -> None:
    rules = [r for p in load_packs([]) for r in p.rules]
    texts = _texts(rules)
    anchored = [(re.compile(r.pattern, re.IGNORECASE), leading_literals(r.pattern)) for r in rules]
    assert sum(a is not None for _, a in anchored) > len(rules) // 2
    compared = 0
    for rx, anchors in anchored:
        if anchors is None:
            continue
        for text in texts:
            for start in (0, len(text) // 3):
                want = rx.search(text, start, len(text))
                got = _first_match(rx, text, start, len(text), anchors)
                assert (got and got.span()) == (want and want.span()), (rx.pattern, text)
                compared += want is not None
    assert compared > 100


def test_backwards_negation_equals_the_forward_pattern() -> None:
    from aimds.detect.signatures import _NEGATED_BACKWARDS

    forward = re.compile(
        r"\b(not|never|no|nothing|don't|dont|doesn't|won't|shouldn't|cannot|can't|refuse\s+to|avoid)\b[\w ,']{0,20}$",
        re.IGNORECASE,
    )
    rnd = random.Random(9)
    words = ["not", "NOT", "never", "no", "nothing", "don't", "dont", "doesn't", "won't", "shouldn't", "cannot",
             "can't", "refuse to", "avoid", "knot", "nox", "a", "bb", "ünï", "_", "9", ",", "'", " ", "\n", ".", "é"]
    negated = 0
    for _ in range(20000):
        window = "".join(rnd.choice(words) + rnd.choice(["", " ", ",", "\n", ".", "x"]) for _ in range(8))
        window = window[-rnd.randint(0, 30):]
        want = forward.search(window) is not None
        assert (_NEGATED_BACKWARDS.match(window[::-1]) is not None) == want, repr(window)
        negated += want
    assert 1000 < negated < 19000
