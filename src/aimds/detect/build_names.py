"""Regenerate the shipped name lexicons (``detect/data/names.json``) from Faker's provider data.

    pip install Faker && python -m aimds.detect.build_names [--out PATH]

Person names have no checksum or format, so the recognizer (aimds.detect.names) needs to know which
capitalised words are given names and surnames. Faker (MIT licence, https://github.com/joke2k/faker)
carries curated name lists for many locales; this script flattens the person providers of the
locales below into lower-case token sets, and its lorem word lists into a set of ordinary words
(the English list marks given names such as "Will" or "May" as ambiguous). Faker is needed only here, at
development time: the package reads the generated JSON and never imports Faker.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
from pathlib import Path

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "pl_PL")
LOREM_LOCALES = ("en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL")
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "names.json"

# A capitalised name token: letters, with inner hyphens or apostrophes ("Jean-Pierre", "O'Brien").
_TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_])){1,30}")


def _tokens(entries: object) -> set[str]:
    out = set()
    for entry in entries:  # tuples, lists or {name: weight} dicts
        for token in str(entry).split():
            if token[:1].isupper() and _TOKEN.fullmatch(token):  # lower-case particles ("van") skipped
                out.add(token.lower())
    return out


def build() -> dict[str, object]:
    import faker

    given: set[str] = set()
    surnames: set[str] = set()
    for locale in LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in dir(provider):
            value = getattr(provider, attr)
            if callable(value) or attr.startswith("_") or not isinstance(value, (tuple, list, dict)):
                continue
            if attr.startswith("first_names"):
                given |= _tokens(value)
            elif "last_names" in attr:
                surnames |= _tokens(value)
    # Polish surnames in -ski/-cki/-dzki are listed in the masculine form; women carry -ska/-cka/-dzka.
    surnames |= {s[:-1] + "a" for s in surnames if s.endswith(("ski", "cki", "dzki"))}
    common: set[str] = set()
    for locale in LOREM_LOCALES:
        words = {w.lower() for w in importlib.import_module(f"faker.providers.lorem.{locale}").Provider.word_list
                 if w.isalpha()}
        # Other languages' lorem lists come from prose and hold names ("Carlos", "Pedro"): only the
        # English list (the language most prose here is in) may mark a name as an ordinary word.
        common |= words if locale == "en_US" else words - given - surnames
    return {
        "source": f"Faker {faker.VERSION} person providers {', '.join(LOCALES)}; "
                  f"lorem word lists {', '.join(LOREM_LOCALES)}",
        "licence": "MIT (Faker, Copyright (c) 2012 Daniele Faraglia)",
        "regenerate": "python -m aimds.detect.build_names",
        "given": sorted(given),
        "surnames": sorted(surnames),
        "common": sorted(common),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    data = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(data['given'])} given names, {len(data['surnames'])} surname tokens, "
          f"{len(data['common'])} common words")


if __name__ == "__main__":
    main()
