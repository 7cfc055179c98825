"""Labelled PII/secret texts for bench_pii.py, generated from a seed (nothing is stored in the repo).

Positives come from Faker (emails, phones, cards, IBANs, SSNs, IPs, addresses) and from small
format generators written here (NINOs, wallets, dates of birth, provider tokens), each embedded in
a template sentence with its exact span. Phones are kept only when valid in their numbering plan:
Faker's en_US numbers use random area codes and en_GB's are Ofcom's fictional ranges, which are not
phone numbers anyone has. Hard negatives are hand-written shapes that look like PII but are not:
Luhn-failing card-like numbers, order ids, UUIDs, versions, timestamps, hashes, code snippets, and
for names capitalised words that are not people (sentence starts such as "May I", title case,
products, places, companies). Person names come from the same Faker locales the shipped lexicons
were built from, so their recall is in-lexicon; other_locale_names() measures names from locales
the lexicons never saw.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import phonenumbers
from faker import Faker

Label = tuple[int, int, str]


@dataclass
class Sample:
    text: str
    labels: list[Label] = field(default_factory=list)


class Builder:
    """Concatenates pieces, recording the span of each labelled value."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.labels: list[Label] = []
        self.length = 0

    def add(self, text: str, entity: str | None = None) -> None:
        if entity:
            self.labels.append((self.length, self.length + len(text), entity))
        self.parts.append(text)
        self.length += len(text)

    def sample(self) -> Sample:
        return Sample("".join(self.parts), self.labels)


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def base58check(payload: bytes) -> str:
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def _polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def bech32_address(rng: random.Random) -> str:
    data = [0] + [rng.randrange(32) for _ in range(32)]  # witness v0, 20-byte program
    hrp = "bc"
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = _polymod(expanded + data + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32[d] for d in data + checksum)


def nino(rng: random.Random) -> str:
    first, second = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
    while True:
        prefix = rng.choice(first) + rng.choice(second)
        if prefix not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
            break
    digits = "".join(rng.choice(string.digits) for _ in range(6))
    suffix = rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}"
    return f"{prefix}{digits}{suffix}"


def group(value: str, size: int, sep: str) -> str:
    return sep.join(value[i:i + size] for i in range(0, len(value), size))


def rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"


def secret_value(rng: random.Random) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return "AKIA" + rand(rng, string.ascii_uppercase + "234567", 16)
    if kind == 1:
        return "ghp_" + rand(rng, ALNUM, 36)
    if kind == 2:
        return "xoxb-" + rand(rng, string.digits, 11) + "-" + rand(rng, string.digits, 13) + "-" + rand(rng, ALNUM, 24)
    if kind == 3:
        return "sk_live_" + rand(rng, ALNUM, 24)
    if kind == 4:
        return "sk-proj-" + rand(rng, URLSAFE, 48)
    if kind == 5:
        return "sk-ant-api03-" + rand(rng, URLSAFE, 93)
    if kind == 6:
        return "SG." + rand(rng, URLSAFE, 22) + "." + rand(rng, URLSAFE, 43)
    if kind == 7:
        return "glpat-" + rand(rng, URLSAFE, 20)
    if kind == 8:
        return "AIza" + rand(rng, URLSAFE, 35)
    if kind == 9:
        enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
        return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc({'sub': rand(rng, string.digits, 8)})}.{rand(rng, URLSAFE, 43)}"
    if kind == 10:
        body = "\n".join(rand(rng, ALNUM + "+/", 64) for _ in range(4))
        return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    return "npm_" + rand(rng, ALNUM, 36)


HARD_NEGATIVES: list[Callable[[random.Random], str]] = [
    lambda r: "Card-like but Luhn-failing: " + _bad_luhn(r),
    lambda r: f"Order ORD-{r.randrange(2020, 2026)}-{r.randrange(10**6):06d} has shipped.",
    lambda r: f"Order number {r.randrange(10**7, 10**8)} and invoice {r.randrange(10**9, 10**10)}.",
    lambda r: f"Request id {_uuid(r)} failed.",
    lambda r: f"Upgrade to v{r.randrange(10)}.{r.randrange(30)}.{r.randrange(100)} or version {r.randrange(1, 12)}.{r.randrange(10)}.{r.randrange(10)}.{r.randrange(10)}.",
    lambda r: f"Logged at 2024-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}T{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}Z (epoch {r.randrange(1_600_000_000_000, 1_800_000_000_000)}).",
    lambda r: f"commit {rand(r, '0123456789abcdef', 40)} fixes it; sha256 {rand(r, '0123456789abcdef', 64)}",
    lambda r: 'db_password = os.environ["DB_PASSWORD"]\napi_key = settings.API_KEY\nsecret = None',
    lambda r: f"x = 0x{rand(r, '0123456789abcdef', 8)}; mask = 0xFF; buf[{r.randrange(100)}:{r.randrange(100, 200)}]",
    lambda r: f"The meeting is on {r.randrange(1, 13)}/{r.randrange(1, 29)}/2024 at {r.randrange(1, 12)}:30.",
    lambda r: f"Total: ${r.randrange(1, 99)},{r.randrange(100, 999)}.{r.randrange(10, 99)} for {r.randrange(2, 40)} items.",
    lambda r: f"Tracking 1Z{rand(r, string.ascii_uppercase + string.digits, 16)} via UPS.",
    lambda r: f"IBAN-like GB{r.randrange(10, 99)} WEST {r.randrange(1000, 9999)} {r.randrange(1000, 9999)} 0000 00 (wrong checksum).",
    lambda r: f"Section {r.randrange(1, 9)}.{r.randrange(1, 9)}.{r.randrange(1, 9)} covers {r.randrange(100, 999)} cases.",
    lambda r: "token = generate_token(length=32)  # password: see vault",
    lambda r: f"Build {r.randrange(1000, 9999)}-{r.randrange(10, 99)}-{r.randrange(1000, 9999)} passed.",
]


NAME_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "pl_PL")
# Locales whose names were not used to build the shipped lexicons: recall there is out-of-lexicon.
OTHER_NAME_LOCALES = ("sv_SE", "da_DK", "cs_CZ", "fi_FI", "hu_HU", "ro_RO", "en_IE", "pt_PT")
TITLES = ("Mr", "Mrs", "Ms", "Dr.", "Prof.", "Herr", "Frau", "Mme", "Sr.", "Sra.")

# (before, after) around a full name; a cue or none, sentence start or middle.
NAME_TEMPLATES = [
    ("", " will join the call tomorrow."),
    ("I spoke with ", " about the invoice."),
    ("Please forward this to ", " before noon."),
    ("My name is ", " and I need a refund."),
    ("Dear ", ",\nthank you for your letter."),
    ("Best regards,\n", ""),
    ("Patient: ", ", admitted on Monday."),
    ("Contact person: ", " (sales)."),
    ("According to ", ", the shipment is late."),
    ("The report was signed by ", " last week."),
    ("Yesterday ", " approved the budget."),
    ("Our new colleague ", " starts in March."),
]
FIRST_NAME_TEMPLATES = [("Hi ", ", thanks for the update!"), ("Regards,\n", ""), ("I'm ", " from accounting.")]

# Capitalised words that are not people: sentence starts of words that are also names, title case,
# products, places, organisations.
NAME_NEGATIVES: list[Callable[[random.Random], str]] = [
    lambda r: "May I ask a question about my order? Will you send the file today?",
    lambda r: "Mark the box as done and Bill the customer. Grace period ends soon.",
    lambda r: "Hope you are well. Summer is coming, and the Rose Garden tickets are sold out.",
    lambda r: "Grace Period Extended For New Customers In Spring Sale",
    lambda r: "We flew from New York to San Francisco via Buenos Aires and Rio de Janeiro.",
    lambda r: "Victoria Station and Charlotte Street are closed; take the Jordan River ferry.",
    lambda r: "Install Microsoft Word, Google Chrome and Adobe Photoshop on the Apple MacBook Pro.",
    lambda r: "The Samsung Galaxy Note and Amazon Kindle Paperwhite are on sale at Best Buy.",
    lambda r: "Angel Falls is in Venezuela and Sierra Leone is in West Africa.",
    lambda r: "Austin Healthcare and Madison Square Garden reported earnings in August.",
    lambda r: "Art History and Christian Ethics are taught at Georgia State University.",
    lambda r: "Frank discussion followed. Will Power is a book, Max Speed a setting.",
    lambda r: "I work at {company} in {city}.".format(**_org_and_place("en_US", r)),
    lambda r: "Wir haben ein Büro in {city} bei der {company}.".format(**_org_and_place("de_DE", r)),
    lambda r: "Send it via DHL Express to the Amsterdam Central office on Monday.",
    lambda r: "Did the Lakers beat the Boston Celtics? Real Madrid won the Champions League.",
]


_ORG_FAKERS: dict[str, Faker] = {}


def _org_and_place(locale: str, r: random.Random) -> dict[str, str]:
    f = _ORG_FAKERS.setdefault(locale, Faker(locale))
    f.seed_instance(r.randrange(2**32))
    return {"company": f.company(), "city": f.city()}


def name_value(f: Faker, rng: random.Random) -> str:
    first, last = f.first_name(), f.last_name()
    if rng.random() < 0.15:
        return f"{first} {rng.choice(string.ascii_uppercase)}. {last}"
    return f"{first} {last}"


def person(fakers: dict[str, Faker], rng: random.Random) -> tuple[str, str, str]:
    """A name in a template: full name, first name after a cue, or surname after a title."""
    f = fakers[rng.choice(list(fakers))]
    form = rng.random()
    if form < 0.7:
        before, after = rng.choice(NAME_TEMPLATES)
        return before, name_value(f, rng), after
    if form < 0.85:
        before, after = rng.choice(FIRST_NAME_TEMPLATES)
        return before, f.first_name(), after
    return f"I have an appointment with {rng.choice(TITLES)} ", f.last_name(), " on Friday."


def other_locale_names(n: int, seed: int = 7) -> list[Sample]:
    """Names from locales the lexicons were not built from, in the same templates: PERSON only."""
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in OTHER_NAME_LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + 100 + i)
    samples = []
    for _ in range(n):
        b = Builder()
        before, value, after = person(fakers, rng)
        b.add(before)
        b.add(value, "PERSON")
        b.add(after)
        samples.append(b.sample())
    return samples


def _bad_luhn(r: random.Random) -> str:
    digits = [int(c) for c in "4" + rand(r, string.digits, 15)]
    total = sum((d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d for i, d in enumerate(reversed(digits)))
    if total % 10 == 0:
        digits[-1] = (digits[-1] + 1) % 10
    return group("".join(map(str, digits)), 4, r.choice([" ", "-", ""]) or "")


def _uuid(r: random.Random) -> str:
    h = rand(r, "0123456789abcdef", 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate(n: int, seed: int = 7) -> list[Sample]:
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in ("en_US", "en_GB", "de_DE", "fr_FR")}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    us = fakers["en_US"]
    name_fakers = {loc: Faker(loc) for loc in NAME_LOCALES}
    for i, f in enumerate(name_fakers.values()):
        f.seed_instance(seed + 50 + i)

    def phone() -> str:
        while True:
            loc = rng.choice(list(fakers))
            number = fakers[loc].phone_number()
            region = None if number.startswith("+") else "US"
            if loc != "en_US" and not number.startswith("+"):
                continue  # national formats of other countries need their region to be known
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(number, region)):
                    return number
            except phonenumbers.NumberParseException:
                continue

    def card() -> str:
        number = us.credit_card_number()
        sep = rng.choice(["", " ", "-"])
        return group(number, 4, sep) if sep and len(number) == 16 else number

    def iban() -> str:
        value = rng.choice(list(fakers.values())).iban()
        return group(value, 4, " ") if rng.random() < 0.5 else value

    def dob() -> tuple[str, str]:
        d = us.date_of_birth(minimum_age=18, maximum_age=90)
        form = rng.randrange(4)
        value = [d.strftime("%m/%d/%Y"), d.isoformat(), d.strftime("%-d %B %Y"), d.strftime("%B %-d, %Y")][form]
        lead = rng.choice(["I was born on ", "DOB: ", "Date of birth: ", "born "])
        return lead, value

    generators: dict[str, Callable[[], tuple[str, str, str]]] = {
        "EMAIL": lambda: ("Please write to ", rng.choice([us.email, us.free_email, us.company_email])(), " soon."),
        "PHONE": lambda: ("You can call me at ", phone(), " after five."),
        "CREDIT_CARD": lambda: ("My card number is ", card(), ", expiry next year."),
        "IBAN": lambda: ("Transfer it to ", iban(), " please."),
        "US_SSN": lambda: ("SSN: ", us.ssn(), "."),
        "UK_NINO": lambda: ("My NI number is ", nino(rng), "."),
        "IP_ADDRESS": lambda: ("The request came from ", rng.choice([us.ipv4, us.ipv6])(), " yesterday."),
        "CRYPTO_WALLET": lambda: ("Send BTC to ", rng.choice([
            lambda: base58check(b"\0" + rng.randbytes(20)),
            lambda: bech32_address(rng),
            lambda: "0x" + rand(rng, "0123456789abcdefABCDEF", 40),
        ])(), " thanks."),
        "DATE_OF_BIRTH": lambda: (*dob(), " and I live in town."),
        "STREET_ADDRESS": lambda: ("Ship it to ", us.street_address(), ", " + us.city() + "."),
        "SECRET": lambda: ("Here is the credential: ", secret_value(rng), " keep it safe."),
        "PERSON": lambda: person(name_fakers, rng),
    }
    entities = list(generators)
    samples: list[Sample] = []
    for i in range(n):
        b = Builder()
        b.add(us.sentence() + " ")
        if i % 4 == 3:
            b.add(rng.choice(HARD_NEGATIVES + NAME_NEGATIVES)(rng) + " ")
        else:
            for _ in range(rng.randrange(1, 3)):
                entity = entities[rng.randrange(len(entities))]
                before, value, after = generators[entity]()
                b.add(before)
                b.add(value, entity)
                b.add(after + " ")
        b.add(us.sentence())
        samples.append(b.sample())
    return samples


def ordinary_text(chars: int, seed: int = 11) -> str:
    """Plain prose with the numbers ordinary text has (years, counts, times), for throughput."""
    f = Faker("en_US")
    f.seed_instance(seed)
    rng = random.Random(seed)
    parts, size = [], 0
    while size < chars:
        p = f.paragraph(nb_sentences=6) + f" In {rng.randrange(1990, 2030)}, {rng.randrange(2, 500)} people met at {rng.randrange(1, 12)}:{rng.randrange(10, 60)}.\n"
        parts.append(p)
        size += len(p)
    return "".join(parts)[:chars]


def prose_with_names(chars: int, seed: int = 13) -> str:
    """Prose where capitalised words are frequent: names, places, companies, title-case headings."""
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in ("en_US", "de_DE", "fr_FR")}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    parts, size = [], 0
    while size < chars:
        f = fakers[rng.choice(list(fakers))]
        p = (f"{f.name()} met {f.first_name()} at {f.company()} in {f.city()}. {f.sentence()} "
             f"{f.catch_phrase().title() if hasattr(f, 'catch_phrase') else ''} {f.sentence()}\n")
        parts.append(p)
        size += len(p)
    return "".join(parts)[:chars]
