"""MODEL_CARD.md for the fast model, written from the metrics of the run that produced the artifact."""

from __future__ import annotations

from pathlib import Path

from aimds.train.synth import Recipe


def _pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:.1f}%"


def render(m: dict) -> str:
    cfg = m["config"]
    rows = ["| held-out family | attacks | catch rate | benign | FPR | AUC | recall@1%FPR | indirect (derived) catch |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for fam, v in m["loso"].items():
        rows.append(f"| {fam} | {v['n_attack']} | {_pct(v['catch_rate'])} | {v['n_benign']} | {_pct(v['fpr'])} | "
                    f"{v['auc']:.3f} | {_pct(v['recall_at_1pct_fpr'])} | "
                    f"{_pct(v.get('indirect_catch_rate'))} ({v.get('n_indirect', 0)}) |")
    types = ", ".join(f"{t} {_pct(v['fpr'])}" for t, v in m["template_fpr"].items())
    recipe = Recipe()
    groups = ", ".join(f"{g} {_pct(v)}" for g, v in m["benign_group_fpr"].items())
    return f"""# AIMDS fast learned detector

A logistic-regression model over hashed character 3/4/5-grams and word uni/bigrams of lowercased
text (digits folded, 2^{cfg['bits']} buckets, float16 weights, `fast_model.npz`, {m['artifact_bytes'] / 1e6:.1f} MB).
A text's score is its worst window of {cfg['window']} characters, so a short payload inside a long
document still lights up. A window's logit is the bias plus its features' mean weight, taken over at
least {cfg['min_features']} features, so a two-word text is not decided by one n-gram. Each line of a
longer text (shorter than a window, with at least three words) is also scored alone, so a one-line
payload is not outvoted by the page around it; training adds up to {cfg['max_windows']} such lines of
every long example as rows of their own, so ordinary lines of documents are known to be benign alone.
Runtime needs numpy only. Trained by `aimds train fast` (seed {m['seed']},
{m['examples']} examples, {m['train_rows']} training windows, {m['seconds']} s).

## Data
- Public rows from the training folder (all `*.jsonl`), pooled and deduplicated on NFKC-casefolded,
  whitespace-collapsed text; texts seen with both labels dropped. Template placeholders in jailbreak
  templates (`{{{{ prompt }}}}`, `[INSERT PROMPT HERE]`, `{{generator.name}}`...) are filled with
  sample requests and model names so the placeholder token itself is not learned; each source family
  draws from its own share of the requests, so a held-out family's requests were never trained on.
- Generated rows (`aimds.train.synth`, seeded): {recipe.per_doc_type} benign documents for each of 22
  template types (email, meeting notes, markdown/CSV tables, code in Python/JS/Go/Java/SQL/shell/Rust
  with comments, HTML pages, reviews, support tickets, READMEs, news, recipes, logs, JSON tool output,
  changelogs, invoices, chat transcripts), {recipe.long_docs} long stitched documents, {recipe.per_prompt_type}
  each of plain assistant instructions (with and without an attached document), trigger-word benign
  prompts, security questions and four kinds of everyday text in the words of jailbreaks (pep talk,
  standing format requests, corrections of the last turn, questions about a person's own training
  and rules), {recipe.per_language} benign texts in each of 16 other languages;
  indirect injections: {recipe.indirect_from_public} public attack rows (≤{recipe.max_payload_chars} chars) and
  {recipe.indirect_written} short injections written for this project, inserted into generated documents at
  the start, middle or end inside one of ten wrappers (HTML comment, hidden div, hidden span,
  markdown note, email footer, code comment, JSON field, table cell, image alt text, plain
  paragraph); {recipe.written_direct} short direct injections written for this project (half of them
  in 13 other languages). Rows made from a public attack row carry its source family.
  {recipe.wrapped_benign} benign documents with a benign note (comment, hidden element, disclaimer,
  alt text, reminders to the reader) inside the same wrappers, so that no wrapper is evidence by
  itself; {recipe.short_chat} of the shortest chat turns (greetings, acknowledgements, one-word answers).
- Training windows: texts longer than the window are cut into overlapping windows (at most
  {cfg['max_windows']} per text); in an injected document only windows holding at least half the
  payload are positive, windows without it are benign.

## Validation: leave one source out
Each public family is held out in turn (with every generated row derived from it); the model is
trained on the rest and the held-out family is scored with the run-time scorer (worst window).
Rates are at the default review threshold ({m['thresholds']['review']}).

{chr(10).join(rows)}

Mean catch rate over families with attacks: **{_pct(m['loso_mean_catch_rate'])}**; mean FPR over
families with benign rows: **{_pct(m['loso_mean_fpr'])}**; mean catch rate of indirect injections
built from held-out families' attacks: **{_pct(m['loso_mean_indirect_catch_rate'])}**.

Generated benign template types held out in {len(m['template_groups'])} groups (the model never saw the
format): FPR {_pct(m['synthetic_benign_heldout_fpr'])} overall; per type: {types}.

## Thresholds and calibration
Scores are anchored on out-of-fold false-positive rates over the wide benign set ({m['wide_benign_n']}
texts: public benign rows scored by models that never saw their source, generated benign rows scored
by models that never saw their template type): {m['thresholds']['meaning']}. Review at
{m['thresholds']['review']} → FPR per benign group: {groups} (mean {_pct(m['benign_group_mean_fpr'])}, pooled
{_pct(m['wide_benign_fpr'])}); block at {m['thresholds']['block']} → pooled {_pct(m['wide_benign_block_fpr'])}.
Calibration: `sigmoid({m['calibration']['a']:.3f} * logit + {m['calibration']['b']:.3f})`. The scores are therefore
FPR-anchored risk levels, not literal probabilities of attack.

## Kind
A second logistic head on the same features, trained on attack windows only, separates jailbreaks
(persona / "no restrictions" templates) from prompt injections; p ≥ 0.5 → `jailbreak`. Otherwise a
short list of phrases ("system prompt", "your instructions", "repeat the text above") in the worst
window → `system_prompt_extraction`, else `prompt_injection`. The decide stage relabels injections in
documents and tool outputs as `indirect_injection`.

## Limitations
- A bag of n-grams: it judges vocabulary and phrasing, not meaning; paraphrased attacks with
  unusual wording and benign text that quotes attacks (security write-ups) are its weak spots; the
  semantic tier is there for them.
- Generated benign text comes from a limited set of templates and sentences; real documents are
  more varied. Non-English coverage is a few sentences per language.
- Held-out template types can still appear inside stitched long documents and instruction prompts,
  which mix formats; the template hold-out FPR is therefore somewhat optimistic.
- Catch rates are far from the product bar on their own: short paraphrased injections (s_labs,
  neuralchemy) and non-English ones (yanismiraoui) are mostly missed at 1% FPR when their source is
  held out. The fast model is one signal among the signatures and the semantic tier.
- The LOSO figures above are measured on this folder's families; independent corpora will differ.
"""


def write_model_card(path: Path, m: dict) -> None:
    Path(path).write_text(render(m), encoding="utf-8")
