"""Generated training text: wide benign documents and prompts, and indirect injections.

Recipe (seeded, reproducible):
- benign documents of 21 template types (emails, meeting notes, markdown/CSV tables, code in seven
  languages with comments, HTML pages, reviews, support tickets, READMEs, news, recipes, logs, JSON
  tool outputs, changelogs, invoices, chat transcripts), sentences drawn from word banks, some of
  them containing trigger words used innocently ("ignore the outliers", "override the default");
- plain assistant instructions, alone or followed by a generated document;
- benign prompts built around trigger words, security questions; everyday text in the words of
  jailbreaks (pep talk, standing format requests, corrections of the last turn, questions about a
  person's own training and rules), each joined from one choice per part;
- benign text in 16 other languages (single sentences and short multi-sentence notes);
- indirect injections: a payload (a public attack row of at most 1,500 characters, or a short
  injection written for this project) inserted into a generated document at the start, middle or
  end, inside one of nine wrappers (HTML comment, hidden div, markdown note, email footer, code
  comment, JSON field, table cell, alt text, plain paragraph). Rows built from a public attack row
  carry its family; ``span`` marks where the payload sits;
- benign documents with a benign note (a comment, hidden element, disclaimer, alt text, imperative
  reminders to the reader) inside the same wrappers, so that a wrapper is never evidence by itself;
- the shortest chat turns (greetings, acknowledgements, one-word answers), typed as chat.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from aimds.train import synth_text as T
from aimds.train.corpus import SYNTHETIC_FAMILY, Example
from aimds.train.synth_intent import INTENT_GENERATORS

Gen = Callable[[random.Random], str]


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        topic=rng.choice(T.TOPIC), weekday=rng.choice(T.WEEKDAY), month=rng.choice(T.MONTH),
        day=rng.randint(1, 28), first=rng.choice(T.FIRST), last=rng.choice(T.LAST), city=rng.choice(T.CITY),
        company=rng.choice(T.COMPANY), product=rng.choice(T.PRODUCT), country=rng.choice(T.COUNTRY),
        lang_en=rng.choice(T.LANG_EN), url=rng.choice(T.URLS), email=rng.choice(T.EVIL_EMAIL),
        ms=rng.randint(2, 900), n=rng.randint(1, 9999),
    )


def _sentences(rng: random.Random, bank: tuple[str, ...], lo: int, hi: int) -> list[str]:
    return [_fill(rng, s) for s in rng.sample(bank, min(len(bank), rng.randint(lo, hi)))]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(T.FIRST)} {rng.choice(T.LAST)}"


def _email(rng: random.Random) -> str:
    sender, to = _person(rng), rng.choice(T.FIRST)
    body = " ".join(_sentences(rng, T.BUSINESS_SENTENCES, 2, 6))
    para2 = " ".join(_sentences(rng, T.BUSINESS_SENTENCES, 0, 3))
    subject = f"Re: {rng.choice(T.TOPIC)}"
    return (f"From: {sender} <{sender.split()[0].lower()}@{rng.choice(T.COMPANY).split()[0].lower()}.com>\n"
            f"Subject: {subject}\n\nHi {to},\n\n{body}\n\n{para2}\n\nBest regards,\n{sender}\n"
            f"{rng.choice(T.COMPANY)} | {rng.choice(T.CITY)}")


def _meeting_notes(rng: random.Random) -> str:
    people = ", ".join(_person(rng) for _ in range(rng.randint(2, 5)))
    items = "\n".join(f"- {s}" for s in _sentences(rng, T.BUSINESS_SENTENCES, 3, 7))
    actions = "\n".join(f"- [ ] {rng.choice(T.FIRST)}: {rng.choice(('send', 'review', 'update', 'schedule'))} "
                        f"{rng.choice(T.TOPIC)}" for _ in range(rng.randint(1, 4)))
    return f"# Meeting notes: {rng.choice(T.TOPIC)}\nAttendees: {people}\n\n## Discussion\n{items}\n\n## Action items\n{actions}"


def _table_rows(rng: random.Random) -> tuple[list[str], list[list[str]]]:
    head = ["Name", "City", "Product", "Qty", "Price"]
    rows = [[_person(rng), rng.choice(T.CITY), rng.choice(T.PRODUCT), str(rng.randint(1, 50)),
             f"{rng.uniform(5, 900):.2f}"] for _ in range(rng.randint(3, 12))]
    return head, rows


def _md_table(rng: random.Random) -> str:
    head, rows = _table_rows(rng)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return f"## Orders for {rng.choice(T.MONTH)}\n\n" + "\n".join(lines)


def _csv(rng: random.Random) -> str:
    head, rows = _table_rows(rng)
    return "\n".join([",".join(head)] + [",".join(r) for r in rows])


def _code_python(rng: random.Random) -> str:
    fn, c1, c2 = rng.choice(T.FUNC_NAMES), rng.choice(T.CODE_COMMENTS), rng.choice(T.CODE_COMMENTS)
    return (f"import json\nfrom pathlib import Path\n\n\ndef {fn}(path: Path, retries: int = 3) -> list[dict]:\n"
            f'    """Load records from a JSON file."""\n    # {c1}\n    rows = []\n'
            f"    for line in path.read_text().splitlines():\n        if not line.strip():\n            continue  # {c2}\n"
            f"        rows.append(json.loads(line))\n    return rows\n\n\nif __name__ == \"__main__\":\n"
            f"    print(len({fn}(Path(\"data.jsonl\"))))\n")


def _code_js(rng: random.Random) -> str:
    fn, c1 = rng.choice(T.FUNC_NAMES), rng.choice(T.CODE_COMMENTS)
    return (f"// {c1}\nexport async function {fn}(url, options = {{}}) {{\n  const res = await fetch(url, {{ ...options, "
            f"timeout: {rng.randint(1, 30)}000 }});\n  if (!res.ok) {{\n    throw new Error(`request failed: ${{res.status}}`);\n"
            f"  }}\n  /* {rng.choice(T.CODE_COMMENTS)} */\n  return res.json();\n}}\n")


def _code_go(rng: random.Random) -> str:
    return (f"package main\n\nimport \"fmt\"\n\n// {rng.choice(T.CODE_COMMENTS)}\nfunc sum(xs []int) int {{\n\ttotal := 0\n"
            f"\tfor _, x := range xs {{\n\t\ttotal += x\n\t}}\n\treturn total\n}}\n\nfunc main() {{\n"
            f"\tfmt.Println(sum([]int{{{rng.randint(1, 9)}, {rng.randint(1, 9)}, {rng.randint(1, 9)}}}))\n}}\n")


def _code_java(rng: random.Random) -> str:
    return (f"public class OrderService {{\n    // {rng.choice(T.CODE_COMMENTS)}\n    @Override\n"
            f"    public String toString() {{\n        return \"OrderService\";\n    }}\n\n"
            f"    public double total(List<Order> orders) {{\n        return orders.stream().mapToDouble(Order::price).sum();\n"
            f"    }}\n}}\n")


def _code_sql(rng: random.Random) -> str:
    return (f"-- {rng.choice(T.CODE_COMMENTS)}\nSELECT c.name, COUNT(o.id) AS orders\nFROM customers c\n"
            f"JOIN orders o ON o.customer_id = c.id\nWHERE o.created_at >= '2024-{rng.randint(1, 12):02d}-01'\n"
            f"GROUP BY c.name\nORDER BY orders DESC\nLIMIT {rng.randint(5, 50)};\n")


def _code_shell(rng: random.Random) -> str:
    return (f"#!/usr/bin/env bash\nset -euo pipefail\n# {rng.choice(T.CODE_COMMENTS)}\nBACKUP_DIR=/var/backups/$(date +%F)\n"
            f"mkdir -p \"$BACKUP_DIR\"\ntar czf \"$BACKUP_DIR/home.tgz\" /home --exclude='*.cache'\n"
            f"pkill -f old-backup-worker || true\necho \"backup done\"\n")


def _code_rust(rng: random.Random) -> str:
    return (f"/// {rng.choice(T.CODE_COMMENTS)}\nfn parse_port(s: &str) -> Result<u16, std::num::ParseIntError> {{\n"
            f"    s.trim().parse::<u16>()\n}}\n\nfn main() {{\n    match parse_port(\"{rng.randint(1000, 9999)}\") {{\n"
            f"        Ok(p) => println!(\"port {{}}\", p),\n        Err(e) => eprintln!(\"bad port: {{}}\", e),\n    }}\n}}\n")


def _html_page(rng: random.Random) -> str:
    paras = "\n".join(f"<p>{s}</p>" for s in _sentences(rng, T.NEWS_SENTENCES, 2, 5))
    return (f"<!DOCTYPE html>\n<html><head><title>{rng.choice(T.COMPANY)} - News</title></head>\n<body>\n"
            f"<nav><a href=\"/\">Home</a> | <a href=\"/about\">About</a></nav>\n<h1>{rng.choice(T.CITY)} update</h1>\n"
            f"{paras}\n<footer>&copy; 2024 {rng.choice(T.COMPANY)}. All rights reserved.</footer>\n</body></html>")


def _review(rng: random.Random) -> str:
    stars = "★" * rng.randint(2, 5)
    return f"{stars} {rng.choice(T.PRODUCT).title()}\n" + " ".join(_sentences(rng, T.REVIEW_SENTENCES, 2, 6))


def _support_ticket(rng: random.Random) -> str:
    return (f"Ticket #{rng.randint(10000, 99999)}\nCustomer: {_person(rng)}\nPriority: "
            f"{rng.choice(('low', 'normal', 'high'))}\n\n{rng.choice(T.TICKET_ISSUES)} "
            f"{rng.choice(T.TICKET_ISSUES)}\n\nSteps tried: restarted the app, cleared the cache.")


def _readme(rng: random.Random) -> str:
    name = rng.choice(T.FUNC_NAMES).replace("_", "-")
    return (f"# {name}\n\nA small library to {rng.choice(T.CODE_COMMENTS)}.\n\n## Installation\n\n```\npip install {name}\n```\n\n"
            f"## Usage\n\n```python\nfrom {name.replace('-', '_')} import run\nrun(ignore_errors=True)\n```\n\n"
            f"## Configuration\n\nSet `OVERRIDE_CONFIG=1` to override the defaults. Options in the system config file are ignored.\n\n"
            f"## License\n\nMIT")


def _news(rng: random.Random) -> str:
    return f"{rng.choice(T.CITY).upper()} — " + " ".join(_sentences(rng, T.NEWS_SENTENCES, 3, 7))


def _recipe(rng: random.Random) -> str:
    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(_sentences(rng, T.RECIPE_STEPS, 3, 8), 1))
    return f"{rng.choice(T.RECIPE_NAMES)} (serves {rng.randint(2, 6)})\n\nIngredients: see list above.\n\nMethod:\n{steps}"


def _logs(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(4, 15)):
        level = rng.choice(("INFO", "INFO", "DEBUG", "WARN", "ERROR"))
        lines.append(f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
                     f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z {level} {_fill(rng, rng.choice(T.LOG_MESSAGES))}")
    return "\n".join(lines)


def _json_tool(rng: random.Random) -> str:
    payload = {
        "status": "ok",
        "results": [{"id": rng.randint(1, 10**6), "title": _fill(rng, rng.choice(T.NEWS_SENTENCES))[:80],
                     "author": _person(rng), "score": round(rng.random(), 3)} for _ in range(rng.randint(1, 4))],
        "next_page": None if rng.random() < 0.5 else f"/search?page={rng.randint(2, 9)}",
    }
    return json.dumps(payload, ensure_ascii=False, indent=rng.choice((None, 2)))


def _changelog(rng: random.Random) -> str:
    return (f"## v{rng.randint(1, 5)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}\n"
            + "\n".join(f"- {rng.choice(('Fixed', 'Added', 'Changed', 'Removed'))}: {rng.choice(T.CODE_COMMENTS)}"
                        for _ in range(rng.randint(2, 6))))


def _invoice(rng: random.Random) -> str:
    items = "\n".join(f"{rng.choice(T.PRODUCT):<22} {rng.randint(1, 5):>3} x {rng.uniform(10, 400):>8.2f} EUR"
                      for _ in range(rng.randint(1, 5)))
    return (f"INVOICE {rng.randint(1000, 9999)}\n{rng.choice(T.COMPANY)}\nBill to: {_person(rng)}, {rng.choice(T.CITY)}\n\n"
            f"{items}\n\nPayment due within 30 days. Please ignore this notice if you have already paid.")


def _chat_transcript(rng: random.Random) -> str:
    a, b = rng.choice(T.FIRST), rng.choice(T.FIRST)
    lines = [f"{rng.choice((a, b))}: {s}" for s in _sentences(rng, T.BUSINESS_SENTENCES, 3, 6)]
    return "\n".join(lines)


DOC_GENERATORS: dict[str, Gen] = {
    "email": _email, "meeting_notes": _meeting_notes, "md_table": _md_table, "csv": _csv,
    "code_python": _code_python, "code_js": _code_js, "code_go": _code_go, "code_java": _code_java,
    "code_sql": _code_sql, "code_shell": _code_shell, "code_rust": _code_rust, "html_page": _html_page,
    "review": _review, "support_ticket": _support_ticket, "readme": _readme, "news": _news, "recipe": _recipe,
    "logs": _logs, "json_tool": _json_tool, "changelog": _changelog, "invoice": _invoice, "chat": _chat_transcript,
}


def _long_doc(rng: random.Random, target: int) -> str:
    """Several documents stitched together, for training and testing long inputs."""
    parts: list[str] = []
    while sum(map(len, parts)) < target:
        parts.append(DOC_GENERATORS[rng.choice(sorted(DOC_GENERATORS))](rng))
    return "\n\n".join(parts)


def _instruction(rng: random.Random) -> str:
    text = _fill(rng, rng.choice(T.INSTRUCTIONS))
    if rng.random() < 0.5:
        doc = DOC_GENERATORS[rng.choice(sorted(DOC_GENERATORS))](rng)
        text = f"{text}\n\n{doc}" if rng.random() < 0.7 else f"{doc}\n\n{text}"
    return text


def _trigger(rng: random.Random) -> str:
    text = _fill(rng, rng.choice(T.TRIGGER_BENIGN))
    if rng.random() < 0.3:
        text = f"{_fill(rng, rng.choice(T.TRIGGER_BENIGN))} Also, {text[0].lower()}{text[1:]}"
    return text


def _security(rng: random.Random) -> str:
    return rng.choice(T.SECURITY_QUESTIONS) + ("" if rng.random() < 0.6 else " " + rng.choice(T.SECURITY_QUESTIONS))


def _foreign(lang: str) -> Gen:
    def gen(rng: random.Random) -> str:
        bank = T.FOREIGN[lang]
        return " ".join(rng.sample(bank, rng.randint(1, min(4, len(bank)))))

    return gen


def _everyday(kind: str) -> Gen:
    def gen(rng: random.Random) -> str:
        return _fill(rng, "".join(rng.choice(part) for part in T.EVERYDAY_HARD[kind]))

    return gen


PROMPT_GENERATORS: dict[str, tuple[Gen, str]] = {
    "instruction": (_instruction, "benign"),
    "trigger": (_trigger, "benign_hard"),
    "security_question": (_security, "benign_hard"),
    **{kind: (_everyday(kind), "benign_hard") for kind in T.EVERYDAY_HARD},
    **{f"lang_{lang}": (_foreign(lang), "benign") for lang in T.FOREIGN},
}

# ---------------------------------------------------------------------------------------------
# Indirect injections


def _wrap(rng: random.Random, payload: str) -> str:
    style = rng.randrange(10)
    if style == 0:
        return f"<!-- {payload} -->"
    if style == 1:
        return f'<div style="display:none">{payload}</div>'
    if style == 2:
        return f"> **Note:** {payload}"
    if style == 3:
        return f"--\n{payload}"
    if style == 4:
        return "\n".join(f"# {line}" for line in payload.splitlines() or [payload])
    if style == 5:
        return json.dumps({"note": payload}, ensure_ascii=False)
    if style == 6:
        return f"| {_person(rng)} | {rng.choice(T.CITY)} | {payload} |"
    if style == 7:
        return f"![{payload}](image.png)"
    if style == 8:
        return f'<span style="color:white;font-size:0">{payload}</span>'
    return payload


def _insert(rng: random.Random, doc: str, block: str) -> tuple[str, int]:
    """Insert ``block`` at a line break near the start, middle or end; return text and block offset."""
    where = rng.choice(("start", "middle", "end", "end"))
    if where == "start":
        cut = 0
    elif where == "end":
        cut = len(doc)
    else:
        breaks = [i for i, ch in enumerate(doc) if ch == "\n"] or [len(doc) // 2]
        cut = rng.choice(breaks)
    before, after = doc[:cut], doc[cut:]
    sep_before = "\n\n" if before else ""
    sep_after = "\n\n" if after else ""
    text = f"{before}{sep_before}{block}{sep_after}{after}"
    return text, len(before) + len(sep_before)


def _indirect(rng: random.Random, payload: str, family: str, source: str) -> Example:
    doc_type = rng.choice(sorted(DOC_GENERATORS))
    doc = DOC_GENERATORS[doc_type](rng)
    if rng.random() < 0.25:
        doc = _long_doc(rng, rng.randint(1500, 4000))
    block = _wrap(rng, payload)
    text, offset = _insert(rng, doc, block)
    inner = block.find(payload[:40])
    start = offset + max(inner, 0)
    end = min(len(text), start + len(payload)) if inner >= 0 else offset + len(block)
    return Example(text, 1, "indirect_injection", f"synthetic:indirect_{doc_type}:{source}", family,
                   synthetic=True, span=(start, end))


@dataclass(frozen=True)
class Recipe:
    """How many rows of each kind `generate` makes (defaults sized to balance the public folder)."""

    per_doc_type: int = 220
    long_docs: int = 300
    per_prompt_type: int = 250
    per_language: int = 120
    indirect_from_public: int = 4000
    indirect_written: int = 1200
    written_direct: int = 300
    max_payload_chars: int = 1500
    per_intent_type: int = 0  # attack/benign twins of `synth_intent` (0: not generated)
    wrapped_benign: int = 5200  # as many as indirect injections, so each wrapper is as often benign
    short_chat: int = 300


def generate(real: list[Example], seed: int = 0, recipe: Recipe = Recipe()) -> list[Example]:
    rng = random.Random(seed)
    out: list[Example] = []
    for doc_type in sorted(DOC_GENERATORS):
        for _ in range(recipe.per_doc_type):
            out.append(Example(DOC_GENERATORS[doc_type](rng), 0, "benign", f"synthetic:{doc_type}",
                               SYNTHETIC_FAMILY, synthetic=True))
    for _ in range(recipe.long_docs):
        out.append(Example(_long_doc(rng, rng.randint(1500, 6000)), 0, "benign", "synthetic:long_doc",
                           SYNTHETIC_FAMILY, synthetic=True))
    for name, (gen, category) in sorted(PROMPT_GENERATORS.items()):
        count = recipe.per_language if name.startswith("lang_") else recipe.per_prompt_type
        for _ in range(count):
            out.append(Example(gen(rng), 0, category, f"synthetic:{name}", SYNTHETIC_FAMILY, synthetic=True))

    attacks = [ex for ex in real if ex.label == 1 and len(ex.text) <= recipe.max_payload_chars]
    for ex in rng.sample(attacks, min(recipe.indirect_from_public, len(attacks))):
        out.append(_indirect(rng, ex.text.strip(), ex.family, ex.family))
    for _ in range(recipe.indirect_written):
        payload = _fill(rng, rng.choice(T.INDIRECT_PAYLOADS))
        out.append(_indirect(rng, payload, SYNTHETIC_FAMILY, "written"))
    for _ in range(recipe.written_direct):
        if rng.random() < 0.5:
            lang = rng.choice(sorted(T.FOREIGN_INJECTIONS))
            text, source = rng.choice(T.FOREIGN_INJECTIONS[lang]), f"synthetic:direct_{lang}"
        else:
            text, source = _fill(rng, rng.choice(T.INDIRECT_PAYLOADS)), "synthetic:direct_written"
        out.append(Example(text, 1, "injection", source, SYNTHETIC_FAMILY, synthetic=True))
    for name, (gen, label, category) in sorted(INTENT_GENERATORS.items()):
        for _ in range(recipe.per_intent_type):
            out.append(Example(gen(rng), label, category, f"synthetic:{name}", SYNTHETIC_FAMILY, synthetic=True))
    for _ in range(recipe.wrapped_benign):
        out.append(_wrapped_benign(rng))
    for _ in range(recipe.short_chat):  # typed as chat, so they are held out with chat transcripts
        out.append(Example(_short_chat(rng), 0, "benign", "synthetic:chat", SYNTHETIC_FAMILY, synthetic=True))
    return out


def _short_chat(rng: random.Random) -> str:
    text = _fill(rng, rng.choice(T.SHORT_CHAT))
    return text.capitalize() if rng.random() < 0.4 else text


def _wrapped_benign(rng: random.Random) -> Example:
    """A benign document with a benign note in one of the injection wrappers; it counts as its host
    format, so leave-one-format-out validation holds it out with that format."""
    doc_type = rng.choice(sorted(DOC_GENERATORS))
    bank = rng.choice((T.BENIGN_NOTES, T.BENIGN_NOTES, T.BUSINESS_SENTENCES, T.REVIEW_SENTENCES, T.TRIGGER_BENIGN))
    text, _ = _insert(rng, DOC_GENERATORS[doc_type](rng), _wrap(rng, _fill(rng, rng.choice(bank))))
    return Example(text, 0, "benign", f"synthetic:{doc_type}", SYNTHETIC_FAMILY, synthetic=True)
