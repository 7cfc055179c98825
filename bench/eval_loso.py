"""Leave-one-source-out evaluation of the whole fast pipeline, not just the learned model.

The learned model's score for each example comes from a model trained without that example's
source (`aimds.train.fast.out_of_fold`); every other detector (signatures, intent, exfiltration,
normalization findings) is hand-written and not trained on the folder. Both go through the real
decision policy, so the figures are what `Guard` would do on a source it never saw.

    python bench/eval_loso.py --data ../shared/datasets [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from aimds import Guard
from aimds.decide.policy import DecisionPolicy
from aimds.train.corpus import build_corpus, normalise_for_dedup
from aimds.train.fast import out_of_fold
from aimds.train.semantic import SemanticConfig
from aimds.types import Finding, Role, ThreatKind

_MANIPULATION = {ThreatKind.PROMPT_INJECTION, ThreatKind.INDIRECT_INJECTION, ThreatKind.JAILBREAK,
                 ThreatKind.SYSTEM_PROMPT_EXTRACTION}
MIN_GROUP = 5  # groups with fewer texts are listed but not averaged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path, help="also write the table and summary as markdown (docs/evaluation.md)")
    parser.add_argument("--dump", type=Path, help="write one JSON line per example (group, text, scores, decisions) for error analysis")
    parser.add_argument("--semantic-oof", type=Path,
                        help="out-of-fold semantic scores from `aimds train semantic --oof FILE` (same seed)")
    args = parser.parse_args()

    oof = out_of_fold(args.data, args.seed, report=lambda stage, frac: print(f"  {stage} {frac:.0%}", file=sys.stderr))
    semantic = _semantic_scores(args.semantic_oof, args.data, args.seed, oof.examples) if args.semantic_oof else None
    guard = Guard(cache_size=0, semantic="off")
    rule_detectors = [d for d in guard.detectors if d.tier == "fast" and d.name not in ("learned", "pii", "secrets")]
    policy: DecisionPolicy = guard.policy
    floor = guard.settings.semantic_band[0]  # the learned detector reports nothing below the deep-tier band

    rows = defaultdict(lambda: defaultdict(list))
    dump = args.dump.open("w", encoding="utf-8") if args.dump else None
    for i, ex in enumerate(oof.examples):
        if not oof.scored[i]:
            continue
        role = Role.DOCUMENT if (ex.synthetic and ex.category in ("indirect_injection", "benign")
                                  and len(ex.text) > 400) else Role.USER
        prepared = guard.prepare(ex.text, role)
        findings = list(prepared.findings)
        for detector in rule_detectors:
            findings += detector.scan(prepared)
        rules_action = policy.decide(findings, role).action
        learned_p = float(oof.prob[i])
        learned = [Finding(kind=ThreatKind.PROMPT_INJECTION, detector="learned", score=learned_p, span=oof.span[i],
                           reason="learned (out of fold)")] if learned_p >= floor else []
        combined = policy.decide(findings + learned, role)
        group = _group(ex)
        if semantic is not None:
            low, high = guard.settings.semantic_band
            fast_risk = max((f.score for f in findings + learned if f.kind in _MANIPULATION), default=0.0)
            deep = []
            if low <= fast_risk < high and semantic[i] >= low:
                deep = [Finding(kind=ThreatKind.PROMPT_INJECTION, detector="semantic", score=float(semantic[i]),
                                reason="semantic (out of fold)")]
            rows[group]["with deep tier"].append(policy.decide(findings + learned + deep, role).action.stops)
            always = [Finding(kind=ThreatKind.PROMPT_INJECTION, detector="semantic", score=float(semantic[i]),
                              reason="semantic (out of fold)")] if semantic[i] >= low else []
            rows[group]["deep always"].append(policy.decide(findings + learned + always, role).action.stops)
            rows[group]["semantic"].append(semantic[i] >= policy.thresholds[ThreatKind.PROMPT_INJECTION].review)
        rows[group]["label"].append(ex.label)
        rows[group]["rules"].append(rules_action.stops)
        rows[group]["learned"].append(learned_p >= policy.thresholds[ThreatKind.PROMPT_INJECTION].review)
        rows[group]["combined"].append(combined.action.stops)
        if dump is not None:
            dump.write(json.dumps({"group": group, "label": ex.label, "text": ex.text, "learned_p": learned_p,
                                   "semantic_p": None if semantic is None else float(semantic[i]),
                                   "findings": [[f.detector, f.kind.value, round(f.score, 3)] for f in findings],
                                   **{s: bool(v[-1]) for s, v in rows[group].items() if s != "label"}},
                                  ensure_ascii=False) + "\n")
        if i % 2000 == 0:
            print(f"  scored {i}/{len(oof.examples)}", file=sys.stderr)

    if dump is not None:
        dump.close()
    systems = ["rules", "learned", "combined"] + (["semantic", "with deep tier", "deep always"]
                                                   if semantic is not None else [])
    report = {}
    for group in sorted(rows):
        r = rows[group]
        label = np.array(r["label"])
        entry = {"n": int(len(label)), "attack": bool(label[0] == 1)}
        for system in systems:
            entry[system] = float(np.mean(r[system]))
        report[group] = entry
    # A group of a handful of texts (a family's one attack that the generator happened to hide in a
    # document) is listed but not averaged: one text would weigh as much as thousands.
    attacks = [v for v in report.values() if v["attack"] and v["n"] >= MIN_GROUP]
    benign = [v for v in report.values() if not v["attack"] and v["n"] >= MIN_GROUP]
    summary = {system: {"mean_catch": float(np.mean([v[system] for v in attacks])),
                        "mean_fpr": float(np.mean([v[system] for v in benign]))}
               for system in systems}
    print(f"{'group':42} {'n':>6}  " + " ".join(f"{s:>14}" for s in systems))
    for group, v in report.items():
        what = "caught" if v["attack"] else "flagged"
        print(f"{group:42} {v['n']:6d}  " + " ".join(f"{v[s]:14.1%}" for s in systems) + f"  {what}")
    for system, s in summary.items():
        print(f"{system:9} mean catch over attack groups (n >= {MIN_GROUP}) {s['mean_catch']:.1%}, mean false positives over benign groups {s['mean_fpr']:.2%}")
    if args.json:
        args.json.write_text(json.dumps({"groups": report, "summary": summary}, indent=2))
    if args.markdown:
        args.markdown.write_text(_markdown(report, summary, systems), encoding="utf-8")


def _markdown(report: dict, summary: dict, systems: list[str]) -> str:
    head = "| group | n | " + " | ".join(systems) + " |\n|---|---:|" + "---:|" * len(systems) + "\n"
    rows = "".join(f"| {g} | {v['n']} | " + " | ".join(f"{v[s]:.1%}" for s in systems) + " |\n"
                   for g, v in report.items())
    notes = "".join(f"- **{s}**: mean catch over attack groups (n >= {MIN_GROUP}) {v['mean_catch']:.1%}, mean false positives over "
                    f"benign groups {v['mean_fpr']:.2%}\n" for s, v in summary.items())
    return head + rows + "\n" + notes


def _semantic_scores(path: Path, data: Path, seed: int, examples) -> np.ndarray:
    """The semantic tier's out-of-fold scores for ``examples``, matched by text: its corpus adds
    generated rows (`aimds.train.synth_intent`) that the fast tier's corpus does not hold."""
    scores = np.load(path)
    corpus = build_corpus(data, seed=seed, recipe=SemanticConfig().recipe)
    if len(scores) != len(corpus):
        raise SystemExit(f"{path}: {len(scores)} scores for a corpus of {len(corpus)}; retrain with the same seed")
    by_text = {normalise_for_dedup(ex.text): float(p) for ex, p in zip(corpus, scores)}
    return np.array([by_text.get(normalise_for_dedup(ex.text), np.nan) for ex in examples])


def _group(ex) -> str:
    side = "attack" if ex.label == 1 else "benign"
    if ex.synthetic:
        kind = "indirect" if ex.label == 1 else "generated"
        return f"{side}/{kind}:{ex.family}" if ex.label == 1 else f"{side}/generated"
    return f"{side}/{ex.family}"


if __name__ == "__main__":
    main()
