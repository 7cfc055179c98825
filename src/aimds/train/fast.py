"""Train, validate (leave-one-source-out) and calibrate the fast learned detector.

The model is logistic regression over L1-normalised hashed n-gram counts of a *window* of text, so
its score is ``bias + mean weight of the window's n-grams``: exactly what `aimds.detect.learned`
computes at run time with cumulative sums. Long documents are cut into windows for training; in an
injected document only the windows that hold the payload are positive, the others are benign text.

Calibration is anchored on false-positive rates measured out of fold: the raw logit at 1% FPR on
the wide benign set (public benign rows scored by LOSO models that never saw their source, and
generated benign rows scored by models that never saw their template type) maps to the default
review threshold 0.60, the 0.2% FPR logit to the block threshold 0.85.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from aimds.config import Settings
from aimds.detect.learned import ARTIFACT_NAME, FastModel, FastScorer, Featurizer, Hashed, scorable_lines
from aimds.text.normalize import prepare
from aimds.text.views import View, identity_view
from aimds.types import Role, Span
from aimds.train import metrics
from aimds.train.corpus import Example, build_corpus, loso_splits, template_groups, template_type

Progress = Callable[[str, float], None]  # (stage description, fraction done in [0, 1])

_LOGIT_REVIEW = math.log(0.60 / 0.40)
_LOGIT_BLOCK = math.log(0.85 / 0.15)
# The defaults, never the environment's AIMDS_* values: training must not depend on the shell.
_DEFAULT_SETTINGS = Settings.model_construct()


@dataclass(frozen=True)
class FastConfig:
    bits: int = 18
    window: int = 192
    max_windows: int = 12
    alpha: float = 1e-5  # L2 strength of the SGD logistic regression
    epochs: int = 15
    feature_scale: float = 30.0  # L1-normalised rows are tiny; scaling keeps SGD steps well sized
    min_features: int = 64  # rows are normalised by at least this many features (see FastModel)
    review_fpr: float = 0.01
    block_fpr: float = 0.002


def _require_sklearn():
    try:
        from sklearn.linear_model import SGDClassifier
    except ImportError as exc:  # training-only dependency
        from aimds.errors import ConfigError

        raise ConfigError("training needs scikit-learn: pip install 'aimds[train]'") from exc
    return SGDClassifier


# ---------------------------------------------------------------------------------------------
# Windowed feature rows


def _window_starts(n: int, window: int, max_windows: int, rng: random.Random, span: tuple[int, int] | None) -> list[int]:
    if n <= window:
        return [0]
    offset = rng.randrange(window // 2)
    starts = list(range(0, n - window + 1, window // 2 + offset // 4 + 1)) + [n - window]
    if span is not None:  # make sure a window centred on the payload is there
        centre = (span[0] + span[1]) // 2
        starts.append(min(max(0, centre - window // 2), n - window))
    starts = sorted(set(starts))
    if len(starts) > max_windows:
        keep = set(rng.sample(starts, max_windows))
        if span is not None:
            keep.add(min(max(0, (span[0] + span[1]) // 2 - window // 2), n - window))
        starts = sorted(keep)
    return starts


def _line_segments(text: str, window: int, max_lines: int, rng: random.Random,
                   span: tuple[int, int] | None) -> list[tuple[int, int]]:
    """The lines the scorer also reads alone (`learned.scorable_lines`), as rows: the model must
    learn what ordinary lines of documents look like by themselves, and a one-line payload is seen
    without its page. At most ``max_lines`` of them, always with those that hold the payload."""
    bounds = scorable_lines(text, window)
    if len(bounds) > max_lines:
        keep = rng.sample(bounds, max_lines)
        if span is not None:
            keep += [b for b in bounds if b[0] < span[1] and span[0] < b[1]]
        bounds = sorted(set(keep))
    return bounds


def _window_label(ex: Example, start: int, end: int) -> int | None:
    """1/0 for a window; None when it holds only part of the payload (ambiguous, left out)."""
    if ex.label == 0:
        return 0
    if ex.span is None:
        return 1
    s, e = ex.span
    overlap = max(0, min(end, e) - max(start, s))
    if overlap == 0:
        return 0
    need = 0.5 * min(e - s, end - start)
    return 1 if overlap >= need else None


@dataclass
class Rows:
    """A CSR feature matrix of windows, with labels, kind labels and the example each row came from."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    y: np.ndarray
    jailbreak: np.ndarray
    example: np.ndarray
    n_features: int

    def matrix(self, rows: np.ndarray | None = None):
        from scipy.sparse import csr_matrix

        full = csr_matrix((self.data, self.indices, self.indptr), shape=(len(self.y), self.n_features))
        return full if rows is None else full[rows]


def build_rows(examples: Sequence[Example], hashed: Sequence[Hashed], cfg: FastConfig, seed: int,
               progress: Progress | None = None) -> Rows:
    rng = random.Random(seed)
    indptr = [0]
    chunks_idx: list[np.ndarray] = []
    chunks_val: list[np.ndarray] = []
    y: list[int] = []
    jb: list[int] = []
    owner: list[int] = []
    nnz = 0
    for i, (ex, h) in enumerate(zip(examples, hashed)):
        if progress and i % 2000 == 0:
            progress("building windows", i / len(examples))
        segments = [(start, min(h.length, start + cfg.window))
                    for start in _window_starts(h.length, cfg.window, cfg.max_windows, rng, ex.span)]
        for start, end in segments + _line_segments(ex.text, cfg.window, cfg.max_windows, rng, ex.span):
            label = _window_label(ex, start, end)
            if label is None:
                continue
            sel = (h.pos >= start) & (h.pos < end)
            idx = h.idx[sel]
            if not idx.size:
                continue
            uniq, counts = np.unique(idx, return_counts=True)
            chunks_idx.append(uniq.astype(np.int32))
            chunks_val.append((counts / max(idx.size, cfg.min_features)).astype(np.float32))
            nnz += uniq.size
            indptr.append(nnz)
            y.append(label)
            jb.append(int(label == 1 and ex.category == "jailbreak"))
            owner.append(i)
    return Rows(np.asarray(indptr, dtype=np.int64), np.concatenate(chunks_idx), np.concatenate(chunks_val),
                np.asarray(y, dtype=np.int8), np.asarray(jb, dtype=np.int8), np.asarray(owner, dtype=np.int64),
                1 << cfg.bits)


# ---------------------------------------------------------------------------------------------
# Fitting and scoring


def fit_linear(X, y: np.ndarray, cfg: FastConfig, seed: int) -> tuple[np.ndarray, float]:
    """Logistic regression by SGD (linear time in the nonzeros; liblinear was 6x slower and no better)."""
    SGDClassifier = _require_sklearn()
    clf = SGDClassifier(loss="log_loss", alpha=cfg.alpha, class_weight="balanced", max_iter=cfg.epochs, tol=None,
                        random_state=seed)
    clf.fit(X * cfg.feature_scale, y)
    return clf.coef_.ravel().astype(np.float64) * cfg.feature_scale, float(clf.intercept_[0])


def fit_model(rows: Rows, select: np.ndarray, cfg: FastConfig, seed: int, with_kind: bool = False) -> FastModel:
    X = rows.matrix(select)
    w, b = fit_linear(X, rows.y[select], cfg, seed)
    kw, kb = np.zeros_like(w), 0.0
    if with_kind:
        attack = select[rows.y[select] == 1]
        kw, kb = fit_linear(rows.matrix(attack), rows.jailbreak[attack], cfg, seed)
    # float16 round trip now, so validation scores what ships
    w = w.astype(np.float16).astype(np.float64)
    kw = kw.astype(np.float16).astype(np.float64)
    return FastModel(w, b, kw, kb, 1.0, 0.0, cfg.window, cfg.bits, min_features=cfg.min_features)


def logits(model: FastModel, texts: Sequence[str]) -> np.ndarray:
    scorer = FastScorer(model)
    return np.fromiter((scorer.logit(t) for t in texts), dtype=np.float64, count=len(texts))


def scored_views(text: str) -> tuple[View, ...]:
    """What `LearnedDetector` scores for ``text`` at run time (`Prepared.model_views`), so that
    out-of-fold scores are those the shipped detector would give: the worst of them counts."""
    return prepare(text, Role.USER, _DEFAULT_SETTINGS).model_views or (identity_view("normalized", text),)


def worst_logits(model: FastModel, views: Sequence[Sequence[View]]) -> tuple[np.ndarray, list[Span]]:
    """Per example, the highest logit over its scored views (see `scored_views`) and where in the
    original text its worst window lies, as the run-time finding's span."""
    scorer = FastScorer(model)
    out, spans = np.empty(len(views)), []
    for i, example_views in enumerate(views):
        logit, view = max(((scorer.logit(v.text), v) for v in example_views), key=lambda pair: pair[0])
        scored = scorer.score(view.text)
        out[i] = logit
        spans.append(view.to_original(scored.start, scored.end))
    return out, spans


def threshold_for_mean_fpr(groups: Sequence[np.ndarray], max_fpr: float) -> float:
    """Smallest logit threshold at which the *mean* FPR over benign groups is at most ``max_fpr``.

    Averaging per group (each public benign source, and the generated benign set) stops one large,
    easy group from hiding a small hard one, as pooling would.
    """
    candidates = np.unique(np.concatenate(groups))
    def mean_fpr(t: float) -> float:
        return float(np.mean([np.mean(g >= t) for g in groups]))
    lo, hi = 0, len(candidates) - 1
    if mean_fpr(candidates[hi]) > max_fpr:
        return float(np.nextafter(candidates[hi], np.inf))
    while lo < hi:  # mean FPR falls as the threshold rises
        mid = (lo + hi) // 2
        if mean_fpr(candidates[mid]) <= max_fpr:
            hi = mid
        else:
            lo = mid + 1
    return float(candidates[lo])


def anchored_calibration(benign_groups: Sequence[np.ndarray], cfg: FastConfig) -> tuple[float, float]:
    """(a, b) such that sigmoid(a*r + b) is 0.60 at the review-FPR logit and 0.85 at the block-FPR one."""
    r_review = threshold_for_mean_fpr(benign_groups, cfg.review_fpr)
    r_block = threshold_for_mean_fpr(benign_groups, cfg.block_fpr)
    gap = max(r_block - r_review, 1e-3)
    a = (_LOGIT_BLOCK - _LOGIT_REVIEW) / gap
    return a, _LOGIT_REVIEW - a * r_review


# ---------------------------------------------------------------------------------------------
# The whole procedure



@dataclass
class OutOfFold:
    """Every example scored by a model that never saw its source (or its generated format)."""

    examples: list[Example]
    rows: Rows
    prob: np.ndarray
    scored: np.ndarray
    groups: list[set[str]]
    calibration: tuple[float, float]
    span: list[Span | None]  # where each scored example's worst window lies (None: unscored)


def out_of_fold(data_dir: Path, seed: int = 0, cfg: FastConfig = FastConfig(),
                report: Callable[[str, float], None] = lambda stage, frac: None) -> OutOfFold:
    """Leave-one-source-out scores for the whole corpus, calibrated as the shipped model is."""
    report("building corpus", 0.0)
    examples = build_corpus(Path(data_dir), seed=seed)
    featurizer = Featurizer(cfg.bits)
    hashed = []
    for i, ex in enumerate(examples):
        if i % 2000 == 0:
            report("hashing", i / len(examples))
        hashed.append(featurizer.hash(ex.text))
    rows = build_rows(examples, hashed, cfg, seed, lambda s, f: report(s, f))
    family = np.array([ex.family for ex in examples])
    row_family = family[rows.example]
    views = [scored_views(ex.text) for ex in examples]
    spans: list[Span | None] = [None] * len(examples)
    labels = np.array([ex.label for ex in examples], dtype=np.int8)

    # Leave-one-source-out; each fold also holds out a group of generated benign template types, so
    # every row gets an out-of-fold score from a model that never saw its source or its format.
    oof = np.full(len(examples), np.nan)
    splits = list(loso_splits(examples))
    types = np.array([template_type(ex) or "" for ex in examples])
    hosts = np.array([t.removeprefix("indirect_") for t in types])  # injected documents' host format
    row_hosts = hosts[rows.example]
    groups = template_groups(examples, len(splits), seed)
    for k, ((held, _train, _test), group) in enumerate(zip(splits, groups)):
        report(f"LOSO: holding out {held}", k / (len(splits) + 1))
        held_types = list(group)
        train_rows = np.flatnonzero((row_family != held) & ~np.isin(row_hosts, held_types))
        model = fit_model(rows, train_rows, cfg, seed)
        test = np.flatnonzero((family == held) | (np.isin(types, held_types) & (labels == 0)))
        oof[test], test_spans = worst_logits(model, [views[i] for i in test])
        for i, span in zip(test, test_spans):
            spans[i] = span

    scored = ~np.isnan(oof)
    benign = scored & (labels == 0)
    synthetic = np.array([ex.synthetic for ex in examples])
    benign_groups = [oof[benign & (family == f) & ~synthetic] for f in sorted(set(family[benign & ~synthetic]))]
    benign_groups.append(oof[benign & synthetic])
    cal_a, cal_b = anchored_calibration([g for g in benign_groups if g.size], cfg)
    prob = 1.0 / (1.0 + np.exp(-(cal_a * np.where(scored, oof, 0.0) + cal_b)))
    return OutOfFold(examples, rows, prob, scored, groups, (cal_a, cal_b), spans)


def train_fast(data_dir: Path, out_dir: Path, seed: int = 0, progress: Progress | None = None,
               cfg: FastConfig = FastConfig()) -> dict:
    """Build the corpus, run LOSO + template hold-out validation, fit, calibrate, write the artifact.

    Writes ``fast_model.npz``, ``metrics.json`` and ``MODEL_CARD.md`` into ``out_dir`` and returns
    the metrics. Deterministic for a given ``seed`` and data folder.
    """
    started = time.time()
    report = progress or (lambda stage, frac: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    oof = out_of_fold(Path(data_dir), seed, cfg, report)
    examples, rows, prob, scored, groups = oof.examples, oof.rows, oof.prob, oof.scored, oof.groups
    cal_a, cal_b = oof.calibration
    labels = np.array([ex.label for ex in examples], dtype=np.int8)

    # 3. the shipped model: every row
    report("fitting final model", 0.97)
    final = fit_model(rows, np.arange(len(rows.y)), cfg, seed, with_kind=True)
    final = FastModel(final.weights, final.bias, final.kind_weights, final.kind_bias, cal_a, cal_b,
                      cfg.window, cfg.bits, min_features=cfg.min_features)
    artifact = out_dir / ARTIFACT_NAME
    final.save(artifact)

    result = _metrics(examples, labels, prob, scored, groups, cfg, final)
    result.update({
        "seed": seed, "config": asdict(cfg), "train_rows": int(len(rows.y)), "examples": len(examples),
        "artifact_bytes": artifact.stat().st_size, "calibration": {"a": cal_a, "b": cal_b},
        "seconds": round(time.time() - started, 1),
    })
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2, sort_keys=True), encoding="utf-8")
    from aimds.train.card import write_model_card

    write_model_card(out_dir / "MODEL_CARD.md", result)
    report("done", 1.0)
    return result


def _metrics(examples, labels, prob, scored, groups, cfg: FastConfig, final: FastModel) -> dict:
    thr = final.review
    synthetic = np.array([ex.synthetic for ex in examples])
    per_family = metrics.loso_by_family(examples, labels, prob, scored, thr)
    catch = [v["catch_rate"] for v in per_family.values() if v["n_attack"]]
    fprs = [v["fpr"] for v in per_family.values() if v["n_benign"]]
    indirect = [v["indirect_catch_rate"] for v in per_family.values() if "indirect_catch_rate" in v]
    by_type: dict[str, dict] = defaultdict(dict)
    for i, ex in enumerate(examples):
        t = template_type(ex)
        if t and ex.label == 0 and scored[i]:
            by_type[t].setdefault("scores", []).append(prob[i])
    template_fpr = {t: {"n": len(v["scores"]), "fpr": float(np.mean(np.asarray(v["scores"]) >= thr))}
                    for t, v in sorted(by_type.items())}
    benign = scored & (labels == 0)
    wide_fpr = float(np.mean(prob[benign] >= thr))
    groups_fpr = metrics.benign_group_fpr(examples, labels, prob, scored, thr)
    synth_benign = benign & synthetic
    return {
        "thresholds": {"review": final.review, "block": final.block,
                       "meaning": f"review = {cfg.review_fpr:.1%} and block = {cfg.block_fpr:.1%} mean FPR over "
                                  "benign groups (each public benign source, and all generated benign), out of fold"},
        "loso": per_family,
        "loso_mean_catch_rate": float(np.mean(catch)),
        "loso_mean_fpr": float(np.mean(fprs)),
        "loso_mean_indirect_catch_rate": float(np.mean(indirect)) if indirect else None,
        "wide_benign_fpr": wide_fpr,
        "wide_benign_n": int(benign.sum()),
        "benign_group_fpr": groups_fpr,
        "benign_group_mean_fpr": float(np.mean(list(groups_fpr.values()))),
        "wide_benign_block_fpr": float(np.mean(prob[benign] >= final.block)),
        "synthetic_benign_heldout_fpr": float(np.mean(prob[synth_benign] >= thr)) if synth_benign.any() else None,
        "template_fpr": template_fpr,
        "template_groups": [sorted(g) for g in groups],
    }
