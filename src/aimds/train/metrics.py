"""Detection metrics shared by training, LOSO validation and `aimds eval`.

Plain numpy so the runtime package can use them without scikit-learn. Conventions: label 1 is an
attack, a score at or above the threshold flags the text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _arrays(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int8)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError("labels and scores must be 1-D sequences of equal length")
    return y, s


def catch_rate(labels: Sequence[int], scores: Sequence[float], threshold: float) -> float:
    """Share of attacks flagged (recall / TPR); NaN when there are no attacks."""
    y, s = _arrays(labels, scores)
    attacks = s[y == 1]
    return float(np.mean(attacks >= threshold)) if attacks.size else float("nan")


def false_positive_rate(labels: Sequence[int], scores: Sequence[float], threshold: float) -> float:
    """Share of benign texts flagged; NaN when there are none."""
    y, s = _arrays(labels, scores)
    benign = s[y == 0]
    return float(np.mean(benign >= threshold)) if benign.size else float("nan")


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve via the rank-sum formula (ties count half); NaN if one class is absent."""
    y, s = _arrays(labels, scores)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if not n_pos or not n_neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def threshold_at_fpr(benign_scores: Sequence[float], max_fpr: float) -> float:
    """Smallest threshold whose FPR on ``benign_scores`` is at most ``max_fpr``."""
    b = np.sort(np.asarray(benign_scores, dtype=np.float64))
    if not b.size:
        return 0.5
    allowed = int(np.floor(max_fpr * b.size))  # benign texts that may score >= threshold
    if allowed >= b.size:
        return float(b[0])
    # threshold just above the (allowed+1)-th highest benign score
    return float(np.nextafter(b[b.size - allowed - 1], np.inf))


def recall_at_fpr(labels: Sequence[int], scores: Sequence[float], max_fpr: float = 0.01) -> float:
    y, s = _arrays(labels, scores)
    return catch_rate(y, s, threshold_at_fpr(s[y == 0], max_fpr))


def summary(labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, float | int]:
    """The figures reported everywhere: counts, catch rate, FPR, AUC and recall at 1% FPR."""
    y, s = _arrays(labels, scores)
    return {
        "n_attack": int((y == 1).sum()),
        "n_benign": int((y == 0).sum()),
        "catch_rate": catch_rate(y, s, threshold),
        "fpr": false_positive_rate(y, s, threshold),
        "auc": roc_auc(y, s),
        "recall_at_1pct_fpr": recall_at_fpr(y, s, 0.01),
    }


def loso_by_family(examples, labels: np.ndarray, prob: np.ndarray, scored: np.ndarray,
                   threshold: float) -> dict[str, dict]:
    """Per public family: the `summary` of its own rows, plus the catch rate of the generated
    indirect injections built from its attacks (scored out of fold, so each family was held out)."""
    fam = np.array([ex.family for ex in examples])
    synthetic = np.array([ex.synthetic for ex in examples])
    per_family: dict[str, dict] = {}
    for name in sorted(set(fam) - {"synthetic"}):
        m = (fam == name) & scored
        real, derived = m & ~synthetic, m & synthetic
        entry = summary(labels[real], prob[real], threshold)
        if derived.any():
            entry["indirect_catch_rate"] = catch_rate(labels[derived], prob[derived], threshold)
            entry["n_indirect"] = int(derived.sum())
        per_family[name] = entry
    return per_family


def benign_group_fpr(examples, labels: np.ndarray, prob: np.ndarray, scored: np.ndarray,
                     threshold: float) -> dict[str, float]:
    """FPR per public benign source, and over all generated benign text."""
    fam = np.array([ex.family for ex in examples])
    synthetic = np.array([ex.synthetic for ex in examples])
    benign = scored & (labels == 0)
    groups = {f: float(np.mean(prob[benign & (fam == f) & ~synthetic] >= threshold))
              for f in sorted(set(fam[benign & ~synthetic]))}
    groups["generated"] = float(np.mean(prob[benign & synthetic] >= threshold))
    return groups
