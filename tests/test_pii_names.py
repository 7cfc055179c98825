"""Person names: found with spans in several languages, common words and places left alone,
findings never carry the name, redaction and anonymization round-trip a name."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from aimds.act.redact import Redactor
from aimds.detect.names import NameRecognizer, _load_yaml, default_recognizer
from aimds.detect.pii import PiiDetector
from aimds.detect.prefilter import PatternSet
from aimds.errors import RulePackError
from aimds.text.views import Prepared, identity_view
from aimds.types import Role

DET = PiiDetector()


def names(text: str) -> list[str]:
    return [text[c.start:c.end] for c in DET.find(text) if c.entity == "PERSON"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Yesterday Anna Schmidt approved the budget.", "Anna Schmidt"),
        ("John F. Kennedy was elected in 1960.", "John F. Kennedy"),
        ("Please forward this to Jean-Pierre Lefèvre before noon.", "Jean-Pierre Lefèvre"),
        ("Contact person: María José García y Pérez (sales).", "María José García y Pérez"),
        ("The report was signed by Jan van der Berg last week.", "Jan van der Berg"),
        ("Łukasz Kowalski wrote to Małgorzata Wiśniewska.", "Małgorzata Wiśniewska"),
        ("Our new colleague Giulia Bianchi starts in March.", "Giulia Bianchi"),
        ("I have an appointment with Frau Müller on Friday.", "Müller"),
        ("Rendez-vous avec M. Dupont demain.", "Dupont"),
        ("I met Dr. Weber and Mme Dubois.", "Weber"),
        ("Dear Sophie,\nthank you for your letter.", "Sophie"),
        ("Best regards,\nKowalski", "Kowalski"),
        ("My name is Zyxor and I need a refund.", "Zyxor"),
        ("Will Smith came to the premiere.", "Will Smith"),
        ("Hi, Élodie! Thanks for the update.", "Élodie"),
    ],
)
def test_names_are_found_with_exact_spans(text: str, name: str) -> None:
    assert name in names(text)


@pytest.mark.parametrize(
    "text",
    [
        "May I ask a question about my order? Will you send the file today?",
        "Mark the box as done and Bill the customer. Grace period ends soon.",
        "Hope you are well. Summer is coming, and the Rose Garden tickets are sold out.",
        "We flew from New York to San Francisco via Buenos Aires.",
        "Victoria Station and Charlotte Street are closed today.",
        "Install Microsoft Word and Google Chrome on the Apple MacBook Pro.",
        "Angel Falls is in Venezuela and Sierra Leone is in West Africa.",
        "Jordan Motors and Madison Square Garden reported earnings in August.",
        "we miss. Attention please, the train is late.",  # "miss" is a title only when capitalised
        "Mr. Fact was not a person in this sentence.",
        "dear anna, my name is zyxor",  # lower case: out of reach, and said so in the docs
    ],
)
def test_common_words_places_and_products_are_not_names(text: str) -> None:
    assert names(text) == []


def test_findings_have_entity_confidence_and_never_contain_the_name() -> None:
    text = "Please call Dr. Anna Kowalczyk, or write to Giulia Bianchi."
    prepared = Prepared(raw=text, role=Role.USER, views=(identity_view("normalized", text),))
    people = [f for f in DET.scan(prepared) if f.metadata["entity"] == "PERSON"]
    assert [text[f.span.start:f.span.end] for f in people] == ["Anna Kowalczyk", "Giulia Bianchi"]
    for finding in people:
        blob = json.dumps(finding.to_dict())
        for part in ("Anna", "Kowalczyk", "Giulia", "Bianchi"):
            assert part not in blob
        assert 0.5 <= finding.score <= 0.95  # redacted by the default sanitize threshold (0.5)
        assert finding.rule_id == "pii.person"


def test_cue_raises_confidence() -> None:
    plain = DET.find("Yesterday Anna Schmidt called.")
    cued = DET.find("Dear Anna Schmidt, thanks.")
    assert plain[0].score < cued[0].score


def test_redaction_and_anonymization_round_trip_a_name() -> None:
    text = "Hello, I am Anna Schmidt and my colleague Giulia Bianchi agrees; email anna@example.org."
    prepared = Prepared(raw=text, role=Role.USER, views=(identity_view("normalized", text),))
    findings = DET.scan(prepared)
    placeholder = Redactor(mode="placeholder").redact(text, findings)
    assert "<PERSON_1>" in placeholder.text and "<PERSON_2>" in placeholder.text
    assert "Anna Schmidt" not in placeholder.text and "Bianchi" not in placeholder.text
    redactor = Redactor(mode="anonymize")
    anonymized = redactor.redact(text, findings, session_id="s1")
    assert "Schmidt" not in anonymized.text and "<PERSON_" in anonymized.text
    assert redactor.deanonymize(anonymized.text, "s1") == text


def test_person_can_be_turned_off_and_selected_alone() -> None:
    text = "Anna Schmidt paid with 4111 1111 1111 1111."
    assert {c.entity for c in PiiDetector(entities=["CREDIT_CARD"]).find(text)} == {"CREDIT_CARD"}
    assert {c.entity for c in PiiDetector(entities=["PERSON"]).find(text)} == {"PERSON"}


def test_prefiltered_and_direct_matching_agree() -> None:
    recognizer = default_recognizer()
    direct = PatternSet(recognizer._patterns.specs, use_hyperscan=False)
    text = ("Dear Anna Schmidt, I met Dr. Weber and Mme Dubois; Łukasz Żółkiewski, Jan van der Berg and "
            "John F. Kennedy. Regards,\nO'Brien. Hi Élodie! Victoria Station, May I? ") * 3
    spans = lambda ps: [(i, m.span()) for i, m in ps.finditer(text)]  # noqa: E731
    assert spans(recognizer._patterns) == spans(direct) and spans(direct)


def test_shipped_lexicon_is_small_and_says_where_it_comes_from() -> None:
    path = resources.files("aimds.detect").joinpath("data", "names.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert "MIT" in data["licence"] and "build_names" in data["regenerate"]
    assert len(data["given"]) > 1000 and len(data["surnames"]) > 1000
    assert len(path.read_bytes()) < 300_000


def test_incomplete_rules_are_rejected() -> None:
    rules = _load_yaml("names.yaml")
    del rules["scores"]["title"]
    with pytest.raises(RulePackError):
        NameRecognizer(rules=rules)
    with pytest.raises(RulePackError):
        NameRecognizer(rules={"scores": {}})


def test_hostile_input_stays_linear() -> None:
    import time

    hostile = ("Anna " * 40_000) + ("Dear " * 40_000) + ("A" * 100_000) + ("Ab-" * 30_000)
    start = time.perf_counter()
    DET.find(hostile)
    assert time.perf_counter() - start < 10  # quadratic dedupe or backtracking would take minutes


def _shared_scan():
    pytest.importorskip("hyperscan")  # without it PatternSet runs the regexes directly
    from aimds.detect.sharedscan import SharedScan

    return SharedScan(DET.pattern_groups())


def _soup(rng, n: int) -> str:
    """Capitalised words, particles, initials, cues and words ending in a capital ("PhD", "DoD"),
    which the run prefilter does not see, in runs long and short, with hostile separators."""
    words = ["PhD", "Anna", "Schmidt", "van", "der", "de", "Berg", "Dr.", "Mr", "Will", "Smith", "DoD", "SaaS",
             "GmbH", "O'Brien", "O’Neil", "Jean-Pierre", "Lefèvre", "Łukasz", "Dear", "my name is", "Regards,\n",
             "the", "x", "John", "F.", "Kennedy", "Street", "Victoria", "McDonaldS", "Él", "Ñandú", "AbC", "y",
             "12", "Hi", "ÉMILE", "Ab-Cd", "-", "’", "AbCdEfGhIjKlMnOpQrStUvWxYzAbCd", "A" + "a" * 30, "I", "é"]
    seps = [" ", " ", "  ", "\t", ", ", "\n", ". ", "", "-", ": ", "\r\n"]
    return "".join(rng.choice(words) + rng.choice(seps) for _ in range(n))


def test_hit_anchored_matching_equals_the_windowed_scan() -> None:
    """With a shared scan, the patterns are tried only where a hit says a match can start; the
    matches must be exactly those of PatternSet.finditer over its windows, edge effects included."""
    import random

    shared = _shared_scan()
    recognizer = default_recognizer()
    rng = random.Random(5)
    texts = [_soup(rng, rng.randint(1, 300)) for _ in range(1500)]
    # a run whose first word ends in a capital, found only because another name's window reaches it
    texts.append("our PhD Smith said" + " so" * 60 + " and Anna Schmidt agreed.")
    for text in texts:
        hits = shared.bind()
        windowed = [(i, m.span(), m.groupdict()) for i, m in recognizer._patterns.finditer(text, hits)]
        anchored = [(i, m.span(), m.groupdict()) for i, m in recognizer._matches(text, hits)]
        assert anchored == windowed, text
    assert (0, (4, 13), {}) in windowed  # "PhD Smith", so the second prefilter was needed there


def test_names_found_with_the_shared_scan_equal_those_found_alone() -> None:
    import random

    shared = _shared_scan()
    rng = random.Random(9)
    texts = [_soup(rng, rng.randint(1, 120)) for _ in range(300)]
    texts.append("Dear Anna Schmidt, I met Dr. Weber and Mme Dubois; Jan van der Berg and John F. Kennedy.")
    found = 0
    for text in texts:
        alone = DET.find(text)
        assert DET.find(text, shared.bind()) == alone, text
        found += sum(c.entity == "PERSON" for c in alone)
    assert found > 100
