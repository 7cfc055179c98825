"""Personal data in text: emails, phones, cards, IBANs, national ids, IPs, wallets, birth dates, addresses, names.

Patterns (rules/pii.yaml) only propose candidates; each is confirmed by a validator that knows the
format (Luhn for cards, mod-97 for IBANs, base58check/bech32 for wallets, numbering plans for phones,
allocation ranges for SSNs), so numbers that merely look right (order ids, timestamps, versions) are
left alone. The scan runs on the raw text and on the normalized view, so homoglyphs and invisible
characters do not hide a value; spans always point into the original text.

Person names have no format to validate and the offline NER models that would find them (spaCy's,
which Presidio uses) are not on PyPI, so aimds.detect.names recognises them from shipped lexicons,
titles and context cues instead; their confidence is lower than that of validated formats.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from aimds import yamlio
from aimds.config import Settings
from aimds.detect.names import RULE_DETAILS as NAME_RULE_DETAILS
from aimds.detect.names import default_recognizer
from aimds.detect.prefilter import PatternSet, PatternSpec
from aimds.detect.sharedscan import PatternGroup, ScanHits
from aimds.errors import ConfigError, RulePackError
from aimds.text.views import Prepared, View, identity_view
from aimds.types import Finding, Span, ThreatKind

try:
    import phonenumbers
except ImportError:  # pragma: no cover - phones are then checked by digit count and shape only
    phonenumbers = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A confirmed value before it becomes a Finding (kept internal: it holds positions, no text)."""

    entity: str
    start: int
    end: int
    score: float
    rule_id: str
    label: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Check:
    """A validator's verdict: confidence, a safe detail for the reason, optional narrowed span."""

    score: float
    detail: str = ""
    start: int | None = None
    end: int | None = None


Validator = Callable[[str, re.Match[str], str], "Check | None"]


# --------------------------------------------------------------------------------------------
# rule loading


def load_pattern_rules(name: str) -> tuple[list[dict[str, Any]], PatternSet]:
    """Read a shipped YAML pattern pack (``detect/rules/<name>``) and compile it."""
    try:
        text = resources.files("aimds.detect").joinpath("rules", name).read_text(encoding="utf-8")
        data = yamlio.load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise RulePackError(f"cannot load rule pack {name}: {exc}") from None
    vocab = {
        key: "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))
        for key, words in (data.get("vocab") or {}).items()
    }
    rules = list(data.get("patterns") or [])
    specs = []
    for rule in rules:
        if not {"id", "pattern"} <= set(rule):
            raise RulePackError(f"rule pack {name}: every pattern needs id and pattern: {rule}")
        regex = rule["pattern"]
        for key, alternation in vocab.items():
            regex = regex.replace("{" + key + "}", alternation)
        specs.append(PatternSpec(rule["id"], regex, bool(rule.get("caseless", False)), rule.get("prefilter")))
    return rules, PatternSet(specs)


# --------------------------------------------------------------------------------------------
# validators


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_MAESTRO_PREFIXES = frozenset({5018, 5020, 5038, 5893, 6304, 6390, 6759, 6761, 6762, 6763})


def card_brand(digits: str) -> str | None:
    n = len(digits)
    two, three, four, six = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "Visa"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and n == 16:
        return "Mastercard"
    if two in (34, 37) and n == 15:
        return "American Express"
    if (four == 6011 or two == 65 or 644 <= three <= 649 or 622126 <= six <= 622925) and 16 <= n <= 19:
        return "Discover"
    if two == 35 and 16 <= n <= 19:  # JCB issues 3528-3589; the rest of 35 is reserved
        return "JCB"
    if (300 <= three <= 305 or two in (36, 38, 39)) and 14 <= n <= 19:
        return "Diners Club"
    if two == 62 and 16 <= n <= 19:
        return "UnionPay"
    if (four in (2131, 1800)) and n == 15:
        return "JCB"
    if (four in _MAESTRO_PREFIXES or two in (56, 57, 58)) and 12 <= n <= 19:
        return "Maestro"
    return None


def _check_card(value: str, match: re.Match[str], text: str) -> Check | None:
    # The pattern is greedy, so a card followed by more digits is matched too long: try the
    # longest digit prefix that is a valid card, cutting only where a separator stood.
    ends = [i + 1 for i, ch in enumerate(value) if ch.isdigit()]
    for n_digits in range(min(19, len(ends)), 11, -1):
        cut = ends[n_digits - 1]
        if cut < len(value) and value[cut] not in " -":
            continue
        check = _card_check(value[:cut])
        if check is not None:
            return Check(check.score, check.detail, end=match.start() + cut)
    return None


def _card_check(value: str) -> Check | None:
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(set(digits)) < 2:
        return None
    brand = card_brand(digits)
    if len(digits) == 12 and brand != "Maestro":
        return None
    if brand is None or not luhn_valid(digits):
        return None
    groups = [len(g) for g in re.split(r"[ -]+", value)]
    regular = len(groups) == 1 or groups[:-1] == [4] * (len(groups) - 1) or groups in ([4, 6, 5], [4, 6, 4])
    return Check(0.97 if regular else 0.85, f"{brand}, Luhn-valid")


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban_valid(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _check_iban(value: str, match: re.Match[str], text: str) -> Check | None:
    country = value[:2].upper()
    length = IBAN_LENGTHS.get(country)
    if length is None:
        return None
    # The pattern is greedy and may swallow a following all-caps word: cut at the country's length.
    count, end = 0, match.start()
    for offset, ch in enumerate(value):
        if ch.isalnum():
            count += 1
            if count == length:
                end = match.start() + offset + 1
                break
    if count < length:
        return None
    compact = "".join(ch for ch in text[match.start():end] if ch.isalnum()).upper()
    if not iban_valid(compact):
        return None
    return Check(0.97, f"{country}, mod-97 valid", end=end)


def _check_ssn(value: str, match: re.Match[str], text: str) -> Check | None:
    digits = "".join(ch for ch in value if ch.isdigit())
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    if area == 0 or area == 666 or area >= 900 or group == 0 or serial == 0:
        return None
    if digits in ("078051120", "219099999", "123456789"):  # published or placeholder numbers
        return None
    context = match.re.groupindex.get("value") is not None
    return Check(0.95 if context else 0.85, "valid area/group/serial")


_NINO_BAD_PREFIXES = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def _check_nino(value: str, match: re.Match[str], text: str) -> Check | None:
    if value[:2] in _NINO_BAD_PREFIXES:
        return None
    return Check(0.9, "valid prefix")


def _check_ipv4(value: str, match: re.Match[str], text: str) -> Check | None:
    parts = value.split(".")
    if any(len(p) > 1 and p[0] == "0" for p in parts) or any(int(p) > 255 for p in parts):
        return None
    before = text[max(0, match.start() - 12):match.start()].lower()
    if re.search(r"\b(?:version|ver\.?|release|v)\s{0,2}$", before):
        return None
    address = ipaddress.IPv4Address(value)
    detail = "private range" if address.is_private else "public"
    return Check(0.9, detail)


def _check_ipv6(value: str, match: re.Match[str], text: str) -> Check | None:
    if sum(ch != ":" for ch in value) < 3:
        return None
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return None
    return Check(0.9, "valid")


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {ch: i for i, ch in enumerate(_B58)}


def base58check_valid(value: str) -> bool:
    number = 0
    for ch in value:
        number = number * 58 + _B58_INDEX[ch]
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(value) - len(value.lstrip("1"))) + raw
    if len(raw) != 25:
        return False
    payload, checksum = raw[:-4], raw[-4:]
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum


def _check_base58(value: str, match: re.Match[str], text: str) -> Check | None:
    return Check(0.97, "base58check valid") if base58check_valid(value) else None


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: Iterable[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= generator[i] if (top >> i) & 1 else 0
    return chk


def bech32_valid(value: str) -> bool:
    if value != value.lower() and value != value.upper():
        return False
    value = value.lower()
    hrp, _, data = value.rpartition("1")
    if not hrp or len(data) < 6:
        return False
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    return _bech32_polymod(expanded + [_BECH32.index(c) for c in data]) in (1, 0x2BC830A3)


def _check_bech32(value: str, match: re.Match[str], text: str) -> Check | None:
    return Check(0.97, "bech32 checksum valid") if bech32_valid(value) else None


def _check_eth(value: str, match: re.Match[str], text: str) -> Check | None:
    body = value[2:]
    if len(set(body.lower())) < 6:
        return None
    # EIP-55 needs Keccak-256, which hashlib lacks: mixed case is accepted on format alone.
    return Check(0.9, "0x + 40 hex digits")


def _check_email(value: str, match: re.Match[str], text: str) -> Check | None:
    before = text[max(0, match.start() - 80):match.start()]
    scheme = before.rfind("://")
    if scheme >= 0 and not any(ch.isspace() or ch in "/?#" for ch in before[scheme + 3:]):
        return None  # user:password@host in a URL's authority: the secrets detector owns it
    local = value.split("@", 1)[0]
    if ".." in local or local.startswith("."):
        return None
    return Check(0.95, "")


_COMMON_TLDS = frozenset(
    "com org net edu gov mil io co uk de fr es it nl be ch at se no dk fi pl ru cn jp in br au ca us "
    "info biz me ai app dev email".split()
)


def _check_email_obfuscated(value: str, match: re.Match[str], text: str) -> Check | None:
    folded = re.sub(r"\s{0,2}[\[({]\s{0,2}(?:at|@)\s{0,2}[\])}]\s{0,2}", "@", value, flags=re.I)
    folded = re.sub(r"\s{0,2}[\[({]\s{0,2}(?:dot|\.)\s{0,2}[\])}]\s{0,2}", ".", folded, flags=re.I)
    folded = re.sub(r"\s{1,4}", "", folded)
    if folded.count("@") != 1 or folded.rsplit(".", 1)[-1].lower() not in _COMMON_TLDS:
        return None
    if folded == value:
        return None  # plain address: pii.email reports it
    return Check(0.85, "obfuscated")


_DATE_SHAPE = re.compile(r"(?<!\d)(?:\d{4}[/.-]\d{1,2}[/.-]\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})(?!\d)")


_EXTENSION = re.compile(r"\s{0,2}(?:x|ext\.?|extension)\s{0,2}(?=\d)", re.IGNORECASE)


def _grouped_like(number: str, parsed: object) -> bool:
    """Digit groups of a national-format candidate must split where the country's format does."""
    def boundaries(text: str) -> set[int]:
        out, count = set(), 0
        for ch in text:
            if ch.isdigit():
                count += 1
            elif count:
                out.add(count)
        return out - {count}

    national = _EXTENSION.split(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL), 1)[0]
    lead = sum(ch.isdigit() for ch in number) - sum(ch.isdigit() for ch in national)  # e.g. a leading 1
    allowed = {b + lead for b in boundaries(national)} | {lead}
    return boundaries(number) <= allowed


def _check_phone_factory(default_region: str) -> Validator:
    def check(value: str, match: re.Match[str], text: str) -> Check | None:
        number = _EXTENSION.split(value, 1)[0]
        digits = sum(ch.isdigit() for ch in number)
        if not 7 <= digits <= 15:
            return None
        international = value.startswith("+")
        if not international and _DATE_SHAPE.search(value):
            return None
        if phonenumbers is None:
            return Check(0.7, "shape only") if digits >= 10 else None
        try:
            parsed = phonenumbers.parse(value, None if international else default_region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(parsed):
            return None
        if not international and not _grouped_like(number, parsed):
            return None  # "2543-18-3494" has a valid number's digits but not its shape: a build id
        region = phonenumbers.region_code_for_number(parsed) or "?"
        return Check(0.92 if international else 0.85, f"valid for {region}")

    return check


def _parse_date(value: str) -> bool:
    text = value.lower().replace(",", " ")
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"\bof\b", " ", text)
    text = " ".join(text.replace(".", " ").split()) if not re.search(r"\d[./-]\d", text) else text
    numeric = re.fullmatch(r"(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})", text)
    this_year = _dt.date.today().year
    candidates: list[tuple[int, int, int]] = []
    if numeric:
        a, b, c = (int(x) for x in numeric.groups())
        if len(numeric.group(1)) == 4:
            candidates.append((a, b, c))
        else:
            year = c if len(numeric.group(3)) == 4 else (1900 + c if c > this_year % 100 else 2000 + c)
            candidates += [(year, b, a), (year, a, b)]
    else:
        parts = text.split()
        months = {m: i for i, m in enumerate(
            "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
        month = next((months[p[:3]] for p in parts if p[:3] in months), None)
        numbers = [int(p) for p in parts if p.isdigit()]
        if month is None or len(numbers) != 2:
            return False
        day, year = (numbers[0], numbers[1]) if numbers[1] > 31 else (numbers[1], numbers[0])
        candidates.append((year, month, day))
    for year, month, day in candidates:
        if 1900 <= year <= this_year:
            try:
                _dt.date(year, month, day)
                return True
            except ValueError:
                continue
    return False


def _check_dob(value: str, match: re.Match[str], text: str) -> Check | None:
    return Check(0.92, "date after a birth keyword") if _parse_date(value) else None


def _check_address(value: str, match: re.Match[str], text: str) -> Check | None:
    end = match.end()
    while end > match.start() and text[end - 1] in " \t":
        end -= 1
    return Check(0.75, "number, street name and suffix", end=end)


VALIDATORS: dict[str, Validator] = {
    "email": _check_email,
    "email_obfuscated": _check_email_obfuscated,
    "credit_card": _check_card,
    "iban": _check_iban,
    "us_ssn": _check_ssn,
    "uk_nino": _check_nino,
    "ipv4": _check_ipv4,
    "ipv6": _check_ipv6,
    "base58check": _check_base58,
    "bech32": _check_bech32,
    "eth": _check_eth,
    "date_of_birth": _check_dob,
    "street_address": _check_address,
}


# --------------------------------------------------------------------------------------------
# shared scanning of views


def scan_views(
    prepared: Prepared,
    find: Callable[[str], list[Candidate]],
) -> list[tuple[Candidate, View]]:
    """Run ``find`` on the raw text, the normalized view and decoded payloads; map spans back; dedupe."""
    # None stands for the raw text, whose identity view is only built if something is found in it
    views: list[View | None] = [None]
    if prepared.views and prepared.normalized.text != prepared.raw:
        views.append(prepared.normalized)
    views.extend(prepared.decoded)  # a value hidden in base64/hex maps to the payload's span
    mapped: list[tuple[Candidate, View]] = []
    for view in views:
        found = find(prepared.raw if view is None else view.text)
        if found and view is None:
            view = identity_view("raw", prepared.raw)
        for cand in found:
            span = view.to_original(cand.start, cand.end)
            mapped.append((Candidate(cand.entity, span.start, span.end, cand.score, cand.rule_id,
                                     cand.label, cand.detail), view))
    if not mapped:
        return []
    # The same value seen in several views: keep the widest sighting (a homoglyph cut the raw one
    # short), the earliest view on ties.
    mapped.sort(key=lambda cv: -(cv[0].end - cv[0].start))
    out: list[tuple[Candidate, View]] = []
    taken: dict[str, _DisjointSpans] = {}
    for cand, view in mapped:
        if taken.setdefault(cand.entity, _DisjointSpans()).claim(cand.start, cand.end):
            out.append((cand, view))
    return sorted(out, key=lambda cv: (cv[0].start, cv[0].end))


class _DisjointSpans:
    """Non-overlapping spans kept sorted, so checking a new one is a binary search, not a scan
    (a text with thousands of names would otherwise make deduplication quadratic)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def claim(self, start: int, end: int) -> bool:
        """Add the span unless it overlaps one already there; say whether it was added."""
        i = bisect.bisect_right(self.starts, start)
        if (i and self.ends[i - 1] > start) or (i < len(self.starts) and self.starts[i] < end):
            return False
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        return True


def resolve_overlaps(candidates: list[Candidate]) -> list[Candidate]:
    """Keep the most confident of overlapping candidates (a valid card is not also a phone)."""
    if not candidates:
        return []
    kept: list[Candidate] = []
    taken = _DisjointSpans()
    for cand in sorted(candidates, key=lambda c: (-c.score, -(c.end - c.start), c.start)):
        if taken.claim(cand.start, cand.end):
            kept.append(cand)
    return sorted(kept, key=lambda c: c.start)


def make_finding(
    cand: Candidate, view: View, kind: ThreatKind, detector: str
) -> Finding:
    detail = f" ({cand.detail})" if cand.detail else ""
    return Finding(
        kind=kind,
        detector=detector,
        score=cand.score,
        reason=f"{cand.label}{detail} at {cand.start}-{cand.end}",
        span=Span(cand.start, cand.end),
        rule_id=cand.rule_id,
        view=view.name,
        metadata={"entity": cand.entity},
    )


# --------------------------------------------------------------------------------------------
# the detector


@lru_cache(maxsize=4)
def compiled_pack(name: str) -> tuple[tuple[dict[str, Any], ...], PatternSet]:
    """A shipped pattern pack, compiled once per process (detectors share it)."""
    rules, patterns = load_pattern_rules(name)
    return tuple(rules), patterns


class PiiDetector:
    name = "pii"
    tier = "fast"
    kinds = frozenset({ThreatKind.PII})

    def __init__(self, entities: Iterable[str] | None = None, default_region: str = "US") -> None:
        self._rules, self._patterns = compiled_pack("pii.yaml")
        known = {r["entity"] for r in self._rules} | {"PERSON"}
        wanted = set(entities) if entities is not None else known
        if wanted - known:
            raise ConfigError(f"pii entities: unknown {sorted(wanted - known)}; known: {sorted(known)}")
        if phonenumbers is not None and default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"pii default_region: unknown region {default_region!r}")
        self.entities = frozenset(wanted)
        self._names = default_recognizer() if "PERSON" in wanted else None
        validators = dict(VALIDATORS, phone=_check_phone_factory(default_region))
        self._validators = [validators[r["validator"]] for r in self._rules]

    def pattern_groups(self) -> tuple[PatternGroup, ...]:
        """What `SharedScan` compiles for the PII patterns and the name recogniser."""
        names = self._names.groups if self._names is not None else ()
        return tuple(g for g in (self._patterns.group, *names) if g is not None)

    def find(self, text: str, shared: ScanHits | None = None) -> list[Candidate]:
        """Confirmed PII in one string, overlaps resolved; positions refer to ``text``."""
        out: list[Candidate] = []
        for index, match in self._patterns.finditer(text, shared):
            rule = self._rules[index]
            if rule["entity"] not in self.entities:
                continue
            group = "value" if "value" in match.re.groupindex else 0
            start, end = match.span(group)
            check = self._validators[index](match.group(group), match, text)
            if check is None:
                continue
            out.append(Candidate(
                rule["entity"], start, check.end if check.end is not None else end,
                check.score, rule["id"], rule.get("label", rule["entity"].lower()), check.detail,
            ))
        if self._names is not None:
            label = self._names.label
            out.extend(Candidate("PERSON", m.start, m.end, m.score, "pii.person", label, NAME_RULE_DETAILS[m.rule])
                       for m in self._names.find(text, shared))
        return resolve_overlaps(out)

    def scan(self, prepared: Prepared, shared: ScanHits | None = None) -> list[Finding]:
        found = scan_views(prepared, lambda text: self.find(text, shared))
        return [make_finding(c, v, ThreatKind.PII, self.name) for c, v in found]


def create(settings: Settings) -> PiiDetector:
    return PiiDetector()
