"""Secret detector: provider formats, key blocks, JWTs, passwords in URLs/configs; placeholders ignored."""

from __future__ import annotations

import base64
import logging

import pytest

from aimds.config import Settings
from aimds.detect.registry import build
from aimds.detect.secrets import SecretDetector, shannon_entropy
from aimds.text.normalize import prepare
from aimds.types import Role, ThreatKind

DET = SecretDetector()
GH = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
       "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")


def found(text: str) -> list[tuple[str, str]]:
    return [(c.rule_id, text[c.start:c.end]) for c in DET.find(text)]


@pytest.mark.parametrize(
    ("text", "rule", "value"),
    [
        ("id AKIAIOSFODNN7EXAMPLE end", "secret.aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "secret.aws_secret_access_key",
         "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("key=AIzaSyD-1234567890abcdefghijklmnopqrstu", "secret.gcp_api_key", "AIzaSyD-1234567890abcdefghijklmnopqrstu"),
        (f"token {GH}", "secret.github_token", GH),
        ("glpat-abcdefghij1234567890 x", "secret.gitlab_token", "glpat-abcdefghij1234567890"),
        ("xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "secret.slack_token",
         "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "secret.stripe_key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("sk-ant-api03-" + "Ab1_" * 24, "secret.anthropic_key", "sk-ant-api03-" + "Ab1_" * 24),
        ("sk-proj-" + "x9Y8" * 10, "secret.openai_key", "sk-proj-" + "x9Y8" * 10),
        ("SKabcdefabcdefabcdefabcdefabcdefab", "secret.twilio_api_key", "SKabcdefabcdefabcdefabcdefabcdefab"),
        ("SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", "secret.sendgrid_key",
         "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"),
        (f"Authorization: Bearer {JWT}", "secret.jwt", JWT),
        ("postgres://admin:s3cr3tP4ss@db.example.com:5432/app", "secret.url_password", "s3cr3tP4ss"),
        ("Server=x;Database=y;User Id=z;Password=hunter2;", "secret.connection_string_password", "hunter2"),
        ('password = "Tr0ub4dor&3"', "secret.password_assignment", "Tr0ub4dor&3"),
        ('api_key = "a8f5f167f44f4964e6c998dee827110c"', "secret.generic_key", "a8f5f167f44f4964e6c998dee827110c"),
    ],
)
def test_finds_secret_value(text: str, rule: str, value: str) -> None:
    assert (rule, value) in found(text)


def test_private_key_block_is_covered_whole() -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----"
    text = f"here:\n{block}\nthanks"
    assert found(text) == [("secret.private_key", block)]


@pytest.mark.parametrize(
    "text",
    [
        "password: ${DB_PASSWORD}",
        'password = "<your-password>"',
        "api_key = YOUR_API_KEY_HERE",
        "token = aaaaaaaaaaaaaaaaaaaaaaaa",
        "secret = 1234567890123456",
        "the password policy requires twelve characters",
        "eyJub3QiOiJqd3QifQ.eyJzdWIiOiIxIn0.sig (no alg in header)",
        "sk-not-a-key and AKIA-short",
        "postgres://user@db.example.com/app",
    ],
)
def test_placeholders_and_prose_are_ignored(text: str) -> None:
    assert found(text) == []


def test_entropy() -> None:
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == 2.0


def test_unicode_and_invisible_tricks(caplog: pytest.LogCaptureFixture) -> None:
    # Cyrillic 'А' and a zero-width joiner inside an AWS key id.
    text = "key \u0410KIA\u200dIOSFODNN7EXAMPLE"
    caplog.set_level(logging.DEBUG)
    findings = DET.scan(prepare(text, Role.USER, Settings()))
    assert [f.rule_id for f in findings] == ["secret.aws_access_key_id"]
    span = findings[0].span
    assert text[span.start:span.end] == "\u0410KIA\u200dIOSFODNN7EXAMPLE"
    assert "IOSFODNN" not in caplog.text and "IOSFODNN" not in str(findings[0].to_dict())


def test_secret_inside_base64_points_at_the_payload() -> None:
    payload = base64.b64encode(f"export GITHUB_TOKEN={GH}".encode()).decode()
    text = f"run this: {payload}"
    findings = DET.scan(prepare(text, Role.USER, Settings()))
    assert findings and findings[0].kind is ThreatKind.SECRET
    assert text[findings[0].span.start:findings[0].span.end] == payload


def test_registered() -> None:
    assert build("secrets", Settings()).kinds == frozenset({ThreatKind.SECRET})
