"""PII detector: validated formats found with exact spans; look-alikes (bad checksums, ids, versions) ignored."""

from __future__ import annotations

import pytest

from aimds.config import Settings
from aimds.detect.base import Detector
from aimds.detect.pii import PiiDetector, base58check_valid, bech32_valid, iban_valid, luhn_valid
from aimds.detect.registry import build
from aimds.errors import ConfigError
from aimds.text.normalize import prepare
from aimds.text.views import Prepared, identity_view
from aimds.types import Role, ThreatKind

DET = PiiDetector()


def found(text: str) -> list[tuple[str, str]]:
    return [(c.entity, text[c.start:c.end]) for c in DET.find(text)]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("write to john.doe+x@example.co.uk today", "EMAIL", "john.doe+x@example.co.uk"),
        ("write to jane [at] corp [dot] com", "EMAIL", "jane [at] corp [dot] com"),
        ("call +44 20 7946 0958 now", "PHONE", "+44 20 7946 0958"),
        ("call (415) 555-2671 now", "PHONE", "(415) 555-2671"),
        ("appelez +33 1 42 68 53 00.", "PHONE", "+33 1 42 68 53 00"),
        ("ruf an: +49 30 901820", "PHONE", "+49 30 901820"),
        ("card 4111 1111 1111 1111.", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("amex 3782-822463-10005 thanks", "CREDIT_CARD", "3782-822463-10005"),
        ("pay to GB82 WEST 1234 5698 7654 32 THEN", "IBAN", "GB82 WEST 1234 5698 7654 32"),
        ("iban DE89370400440532013000", "IBAN", "DE89370400440532013000"),
        ("ssn 123-45-6780", "US_SSN", "123-45-6780"),
        ("my social security number is 123456780", "US_SSN", "123456780"),
        ("NI number AB 12 34 56 C", "UK_NINO", "AB 12 34 56 C"),
        ("from 203.0.113.7.", "IP_ADDRESS", "203.0.113.7"),
        ("host 2001:db8::8a2e:370:7334 up", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
        ("btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "CRYPTO_WALLET", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
        ("btc bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "CRYPTO_WALLET", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        ("eth 0x52908400098527886E0F7030069857D2E4169EE7", "CRYPTO_WALLET", "0x52908400098527886E0F7030069857D2E4169EE7"),
        ("I was born on 3 March 1985 in Leeds", "DATE_OF_BIRTH", "3 March 1985"),
        ("DOB: 12/31/1990", "DATE_OF_BIRTH", "12/31/1990"),
        ("ship to 742 Evergreen Terrace, Springfield", "STREET_ADDRESS", "742 Evergreen Terrace"),
        ("ship to 55 Baker Street Apt. 4B please", "STREET_ADDRESS", "55 Baker Street Apt. 4B"),
    ],
)
def test_finds_value_with_exact_span(text: str, entity: str, value: str) -> None:
    assert (entity, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "order 1234567812345678 shipped",        # Luhn-valid but no card brand starts with 1
        "id 550e8400-e29b-41d4-a716-446655440000",
        "released v1.2.3 and version 10.0.0.1",
        "at 2023-01-15 10:30:00 the job ran",
        "timestamp 1700000000000",
        "IBAN GB82 WEST 1234 5698 7654 33 has a bad checksum",
        "ssn 000-12-3456 and 666-12-3456 and 900-12-3456 are never issued",
        "btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3 (checksum broken)",
        "ip 999.1.1.1 is not an address",
        "see section 4.2 of the 2023 report, items 12 and 13",
        "git sha 0123456789abcdef0123456789abcdef01234567",
        "connect with postgres://admin:s3cret@db.example.com/app",
    ],
)
def test_look_alikes_are_ignored(text: str) -> None:
    assert found(text) == []


def test_checksum_primitives() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert base58check_valid("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2")
    assert bech32_valid("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
    assert not bech32_valid("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdp")


def test_findings_carry_type_confidence_and_never_the_value() -> None:
    text = "Card: 4111-1111-1111-1111, mail bob@example.org"
    prepared = Prepared(raw=text, role=Role.USER, views=(identity_view("normalized", text),))
    findings = DET.scan(prepared)
    assert {f.metadata["entity"] for f in findings} == {"CREDIT_CARD", "EMAIL"}
    card = next(f for f in findings if f.metadata["entity"] == "CREDIT_CARD")
    assert card.reason == "payment card number (Visa, Luhn-valid) at 6-25"
    assert (card.span.start, card.span.end) == (6, 25) and card.kind is ThreatKind.PII
    for f in findings:
        blob = str(f.to_dict())
        assert "4111" not in blob and "bob@" not in blob
        assert 0.5 < f.score <= 1.0


def test_unicode_tricks_are_seen_through_and_map_to_original_offsets() -> None:
    # Fullwidth digits, a zero-width space inside the card and a Cyrillic 'о' in the email.
    text = "pay ４１１１ 1111\u200b 1111 1111 or mail j\u043ehn@example.com"
    prepared = prepare(text, Role.USER, Settings())
    findings = {f.metadata["entity"]: f for f in DET.scan(prepared)}
    card, mail = findings["CREDIT_CARD"], findings["EMAIL"]
    assert text[card.span.start:card.span.end] == "４１１１ 1111\u200b 1111 1111"
    assert text[mail.span.start:mail.span.end] == "j\u043ehn@example.com"


def test_adversarial_spacing_of_a_card_number() -> None:
    assert found("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1") == [("CREDIT_CARD", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1")]


def test_entity_selection_and_bad_options() -> None:
    only_email = PiiDetector(entities=["EMAIL"])
    assert [c.entity for c in only_email.find("a@b.io 4111111111111111")] == ["EMAIL"]
    with pytest.raises(ConfigError):
        PiiDetector(entities=["SHOE_SIZE"])
    with pytest.raises(ConfigError):
        PiiDetector(default_region="XX")


def test_registered_and_protocol_conformant() -> None:
    detector = build("pii", Settings())
    assert isinstance(detector, Detector) and detector.name == "pii" and detector.tier == "fast"


def test_hostile_input_stays_linear() -> None:
    import time

    hostile = ("1 " * 50_000) + ("a@" * 50_000) + ("9" * 100_000)
    start = time.perf_counter()
    DET.find(hostile)
    assert time.perf_counter() - start < 10  # catastrophic backtracking would take hours


def test_prefiltered_and_direct_matching_agree() -> None:
    from aimds.detect.pii import compiled_pack
    from aimds.detect.prefilter import PatternSet

    _, accelerated = compiled_pack("pii.yaml")
    direct = PatternSet(accelerated.specs, use_hyperscan=False)
    text = ("Mail j.doe@example.com, call +1 (415) 555-2671 x12 or 020 7946 0958; card 4111-1111-1111-1111; "
            "GB82 WEST 1234 5698 7654 32; 10.0.0.1 and fe80::1ff:fe23:4567:890a; born on 1 May 1980; "
            "12 Oak Street; caf\u00e9 4111111111111111 \u00e9 ") * 3
    spans = lambda ps: [(i, m.span()) for i, m in ps.finditer(text)]  # noqa: E731
    assert spans(accelerated) == spans(direct) and spans(direct)


def test_unbounded_or_broken_patterns_are_rejected() -> None:
    from aimds.detect.prefilter import PatternSet, PatternSpec
    from aimds.errors import RulePackError

    with pytest.raises(RulePackError):
        PatternSet([PatternSpec("x", r"a+b")])
    with pytest.raises(RulePackError):
        PatternSet([PatternSpec("x", r"(unclosed")])
