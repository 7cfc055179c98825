"""Redaction: only reported spans change; anonymize → deanonymize is exact; hashes are keyed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aimds.act.redact import Redactor, RedactMode
from aimds.act.vault import Vault, VaultFull
from aimds.classify import Classifier, DataClass, classify
from aimds.detect.pii import PiiDetector
from aimds.detect.secrets import SecretDetector
from aimds.errors import InvalidInput
from aimds.store.memory import MemoryStore
from aimds.text.views import Prepared, identity_view
from aimds.types import Finding, Role, Span, ThreatKind

PII, SECRETS = PiiDetector(), SecretDetector()
VALUES = ["jane.doe@example.com", "4111 1111 1111 1111", "+44 20 7946 0958", "AKIAIOSFODNN7EXAMPLE",
          "GB82 WEST 1234 5698 7654 32", "bob@corp.io", "<EMAIL_1>"]


def scan(text: str) -> list[Finding]:
    prepared = Prepared(raw=text, role=Role.USER, views=(identity_view("normalized", text),))
    return PII.scan(prepared) + SECRETS.scan(prepared)


texts = st.lists(
    st.one_of(st.sampled_from(VALUES), st.text(alphabet=st.characters(codec="utf-8"), max_size=12)),
    max_size=8,
).map(" ".join)


def outside(text: str, spans: list[tuple[int, int]]) -> list[str]:
    pieces, cursor = [], 0
    for start, end in spans:
        pieces.append(text[cursor:start])
        cursor = end
    pieces.append(text[cursor:])
    return pieces


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.sampled_from(list(RedactMode)))
def test_redaction_changes_nothing_outside_reported_spans(text: str, mode: RedactMode) -> None:
    result = Redactor(mode).redact(text, scan(text), session_id="s")
    before = outside(text, [(r.start, r.end) for r in result.replacements])
    after = outside(result.text, [(r.out_start, r.out_end) for r in result.replacements])
    assert before == after
    for r in result.replacements:
        assert text[r.start:r.end] not in result.text[r.out_start:r.out_end] or mode is RedactMode.PLACEHOLDER


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=3))
def test_anonymize_then_deanonymize_restores_exact_text(turns: list[str]) -> None:
    redactor = Redactor(RedactMode.ANONYMIZE, vault=Vault(MemoryStore()))
    for text in turns:  # several turns share one session vault
        anonymized = redactor.redact(text, scan(text), session_id="sess")
        assert redactor.deanonymize(anonymized.text, "sess") == text


def test_placeholders_are_typed_stable_and_session_scoped() -> None:
    redactor = Redactor(RedactMode.ANONYMIZE)
    text = "mail jane.doe@example.com, again jane.doe@example.com, or bob@corp.io"
    first = redactor.redact(text, scan(text), session_id="a").text
    assert first == "mail <EMAIL_1>, again <EMAIL_1>, or <EMAIL_2>"
    assert redactor.redact("cc bob@corp.io", scan("cc bob@corp.io"), session_id="a").text == "cc <EMAIL_2>"
    assert redactor.deanonymize("Reply to <EMAIL_2> and <EMAIL_9>", "a") == "Reply to bob@corp.io and <EMAIL_9>"
    assert redactor.deanonymize("Reply to <EMAIL_2>", "other-session") == "Reply to <EMAIL_2>"


def test_vault_entries_expire_and_keys_hold_no_raw_values() -> None:
    clock = [0.0]
    store = MemoryStore(clock=lambda: clock[0])
    vault = Vault(store, ttl=60)
    token = vault.placeholder("s", "EMAIL", "jane@example.com")
    assert vault.lookup("s", token) == "jane@example.com"
    assert not any("jane" in key or key.endswith(":s") for key in store._values)
    clock[0] = 61
    assert vault.lookup("s", token) is None


def test_vault_limits_and_bad_session_ids() -> None:
    vault = Vault(max_entries=2)
    vault.placeholder("s", "EMAIL", "a@x.io")
    vault.placeholder("s", "EMAIL", "b@x.io")
    with pytest.raises(VaultFull):
        vault.placeholder("s", "EMAIL", "c@x.io")
    for bad in ("", "x" * 1000, None):
        with pytest.raises(InvalidInput):
            vault.placeholder(bad, "EMAIL", "a@x.io")  # type: ignore[arg-type]


def test_modes_render_as_documented() -> None:
    text = "card 4111 1111 1111 1111 ok"
    findings = scan(text)
    assert Redactor("mask").redact(text, findings).text == "card ******************* ok"
    assert Redactor("placeholder").redact(text, findings).text == "card <CREDIT_CARD_1> ok"
    a = Redactor("hash", hash_key=b"k1").redact(text, findings).text
    b = Redactor("hash", hash_key=b"k1").redact(text, findings).text
    c = Redactor("hash", hash_key=b"k2").redact(text, findings).text
    assert a == b != c and a.startswith("card <CREDIT_CARD:") and "4111" not in a


def test_overlapping_findings_merge_and_bad_spans_are_rejected() -> None:
    text = "abcdefghij"
    findings = [Finding(ThreatKind.PII, "t", 0.6, "r", Span(1, 5), metadata={"entity": "A"}),
                Finding(ThreatKind.SECRET, "t", 0.9, "r", Span(3, 8), metadata={"entity": "B"}),
                Finding(ThreatKind.JAILBREAK, "t", 0.9, "r", Span(0, 10))]
    result = Redactor("placeholder").redact(text, findings)
    assert result.text == "a<B_1>ij"
    with pytest.raises(InvalidInput):
        Redactor("mask").redact("abc", [Finding(ThreatKind.PII, "t", 0.5, "r", Span(1, 9))])
    with pytest.raises(InvalidInput):
        Redactor("anonymize").redact("abc", [])
    with pytest.raises(InvalidInput):
        Redactor("shred")


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("The weather is nice today.", DataClass.PUBLIC),
        ("INTERNAL ONLY: the Q3 roadmap", DataClass.INTERNAL),
        ("server 10.0.0.1 is slow", DataClass.INTERNAL),
        ("reach me at jane.doe@example.com", DataClass.CONFIDENTIAL),
        ("This memo is confidential.", DataClass.CONFIDENTIAL),
        ("card 4111 1111 1111 1111", DataClass.RESTRICTED),
        ("key AKIAIOSFODNN7EXAMPLE", DataClass.RESTRICTED),
        (" ".join(f"user{i}@example.com" for i in range(10)), DataClass.RESTRICTED),
    ],
)
def test_classification(text: str, level: DataClass) -> None:
    assert classify(text) is level


def test_classification_from_findings_and_custom_rules(tmp_path) -> None:
    assert classify(scan("mail a@b.io")) is DataClass.CONFIDENTIAL
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {level: restricted, entities: [EMAIL]}\n")
    result = Classifier(rules).classify("mail a@b.io")
    assert result.level is DataClass.RESTRICTED and result.reasons
