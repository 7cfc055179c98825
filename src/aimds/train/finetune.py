"""End-to-end fine-tuning of the semantic tier: embedding table and MLP head trained together, in numpy.

Why: the distilled table is a general-purpose embedding; it places "ignore the outliers in the
table" and "ignore your instructions" close together because both talk about ignoring. Letting
the window labels move the rows of the tokens that occur in training windows teaches the table
what a window asks a model to do. Why numpy: a window vector is the mean of its tokens' rows, so
the network is an embedding bag + MLP whose backward pass is two sparse products; no deep
learning framework is needed, and CI never installs one.

The model is exactly the run-time one (`aimds.detect.semantic`): unit-normalised mean of table rows
-> ReLU layer -> logit. Training:
- class-balanced logistic loss over labelled windows (`aimds.train.semantic` decides the labels);
- Adam for the head, *lazy* Adam for the table (only rows used in a batch move), with an L2 pull
  of every touched row back to its distilled value (``table_decay``) so rare tokens cannot learn
  a source's vocabulary far from what the encoder knew;
- early stopping on a random tenth of the allowed examples (whole examples, never split windows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class FinetuneConfig:
    hidden: int = 64
    epochs: int = 10
    batch: int = 512
    lr_head: float = 1e-3
    lr_table: float = 3e-4
    head_decay: float = 1e-4  # L2 on the head's weights, per batch
    table_decay: float = 1e-3  # L2 pull of touched rows toward their distilled values, per batch
    patience: int = 2
    validation_share: float = 0.1
    min_token_examples: int = 5  # a token's row moves only if it occurs in this many training examples


@dataclass
class TokenWindows:
    """Every window as a token range into one flat id array (CSR-like), with labels and owners."""

    ids: np.ndarray  # int32 token ids of all examples, concatenated
    start: np.ndarray  # window w covers ids[start[w]:end[w]]
    end: np.ndarray
    example: np.ndarray
    label: np.ndarray  # 1, 0, or -1 (left out)
    sampled: np.ndarray
    offsets: np.ndarray  # example i owns windows offsets[i]:offsets[i+1]


@dataclass
class Params:
    table: np.ndarray
    hidden_w: np.ndarray
    hidden_b: np.ndarray
    out_w: np.ndarray
    out_b: float

    def copy(self) -> "Params":
        return Params(self.table.copy(), self.hidden_w.copy(), self.hidden_b.copy(), self.out_w.copy(), self.out_b)


def _positions(tw: TokenWindows, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions into ``tw.ids`` of every token of ``windows`` (in order), and the row pointer."""
    starts, ends = tw.start[windows], tw.end[windows]
    lengths = ends - starts
    indptr = np.zeros(len(windows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    return np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1] - starts, lengths), indptr


def trainable_tokens(tw: TokenWindows, windows: np.ndarray, vocab: int, min_examples: int) -> np.ndarray:
    """Tokens seen in at least ``min_examples`` distinct examples among ``windows``' owners: only their
    rows are fine-tuned, so a word that a single source repeats cannot become a learned trigger."""
    examples = np.unique(tw.example[windows])
    first = tw.offsets[examples]  # every example's whole-text window holds all its tokens
    positions, _ = _positions(tw, first)
    owner = np.repeat(np.arange(len(first)), tw.end[first] - tw.start[first])
    pairs = np.unique(owner.astype(np.int64) * vocab + tw.ids[positions])
    return np.bincount(pairs % vocab, minlength=vocab) >= min_examples


def _csr_matrix():
    try:
        from scipy.sparse import csr_matrix
    except ImportError as exc:  # training-only dependency
        from aimds.errors import ConfigError

        raise ConfigError("training needs scipy: pip install 'aimds[train]'") from exc
    return csr_matrix


def _batch_matrix(tw: TokenWindows, windows: np.ndarray):
    """Sparse (windows x used-tokens) averaging matrix and the used token ids."""
    csr_matrix = _csr_matrix()

    positions, indptr = _positions(tw, windows)
    lengths = np.diff(indptr)
    used, column = np.unique(tw.ids[positions], return_inverse=True)
    weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths).astype(np.float32)
    return csr_matrix((weights, column.ravel(), indptr), shape=(len(windows), len(used))), used


def _forward(p: Params, matrix, used: np.ndarray):
    raw = np.asarray(matrix @ p.table[used])
    norm = np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)
    unit = raw / norm
    pre = unit @ p.hidden_w + p.hidden_b
    hidden = np.maximum(pre, 0.0)
    return hidden @ p.out_w + p.out_b, (unit, norm, pre, hidden)


def window_logits(p: Params, tw: TokenWindows, windows: np.ndarray, batch: int = 4096) -> np.ndarray:
    out = np.empty(len(windows), dtype=np.float32)
    for lo in range(0, len(windows), batch):
        matrix, used = _batch_matrix(tw, windows[lo : lo + batch])
        out[lo : lo + batch] = _forward(p, matrix, used)[0]
    return out


class _Adam:
    def __init__(self, shape: tuple[int, ...], lr: float) -> None:
        self.m = np.zeros(shape, dtype=np.float32)
        self.v = np.zeros(shape, dtype=np.float32)
        self.lr = lr
        self.t = np.zeros(shape[:1], dtype=np.int64) if len(shape) > 1 else np.zeros(1, dtype=np.int64)

    def step(self, param: np.ndarray, grad: np.ndarray, rows: np.ndarray | None = None,
             b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
        """Adam; with ``rows``, a lazy update of only those rows (each keeps its own step count)."""
        idx = rows if rows is not None else slice(None)
        self.t[idx if rows is not None else 0] += 1
        t = (self.t[rows][:, None] if rows is not None else self.t[0]).astype(np.float32)
        m = self.m[idx] * b1 + (1 - b1) * grad
        v = self.v[idx] * b2 + (1 - b2) * grad * grad
        self.m[idx], self.v[idx] = m, v
        param[idx] -= self.lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


def gradients(p: Params, matrix, used: np.ndarray, y: np.ndarray, w: np.ndarray) -> Params:
    """Gradient of the weighted mean logistic loss; ``table`` holds only the ``used`` rows."""
    logits, (unit, norm, pre, hidden) = _forward(p, matrix, used)
    d_logit = (w * (1.0 / (1.0 + np.exp(-logits)) - y) / w.sum()).astype(np.float32)
    d_pre = np.outer(d_logit, p.out_w) * (pre > 0)
    d_unit = d_pre @ p.hidden_w.T
    d_raw = (d_unit - unit * np.sum(unit * d_unit, axis=1, keepdims=True)) / norm
    return Params(np.asarray(matrix.T @ d_raw, dtype=np.float32), (unit.T @ d_pre).astype(np.float32),
                  d_pre.sum(0).astype(np.float32), (hidden.T @ d_logit).astype(np.float32), float(d_logit.sum()))


def loss(logits: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean logistic loss."""
    return float(np.sum(w * (np.logaddexp(0.0, logits) - y * logits)) / np.sum(w))


def validation_examples(tw: TokenWindows, seed: int, cfg: FinetuneConfig) -> np.ndarray:
    """Mask over examples: the random share `fit` keeps out of training for early stopping."""
    return np.random.default_rng([seed, 1]).random(len(tw.offsets) - 1) < cfg.validation_share


def fit(tw: TokenWindows, rows: np.ndarray, y: np.ndarray, table0: np.ndarray, cfg: FinetuneConfig,
        seed: int, progress: Progress | None = None) -> Params:
    """Train table + head on windows ``rows`` with labels ``y``; returns the best-validation params."""
    rng = np.random.default_rng(seed)
    val_mask = validation_examples(tw, seed, cfg)[tw.example[rows]]
    train_rows, train_y = rows[~val_mask], y[~val_mask].astype(np.float32)
    val_rows, val_y = rows[val_mask], y[val_mask].astype(np.float32)
    pos_share = max(float(train_y.mean()), 1e-6)
    weight = np.where(train_y == 1, 0.5 / pos_share, 0.5 / (1 - pos_share)).astype(np.float32)
    val_w = np.where(val_y == 1, 0.5 / pos_share, 0.5 / (1 - pos_share)).astype(np.float32)

    vocab, dims = table0.shape
    # all-zero rows ([UNK], [PAD], the other special tokens) carry no meaning and must keep none:
    # a learned [UNK] row made every Chinese benign text look like the CJK attacks in training
    movable = trainable_tokens(tw, train_rows, vocab, cfg.min_token_examples) & np.any(table0 != 0, axis=1)
    p = Params(table0.astype(np.float32).copy(),
               (rng.standard_normal((dims, cfg.hidden)) * np.sqrt(2.0 / dims)).astype(np.float32),
               np.zeros(cfg.hidden, dtype=np.float32),
               (rng.standard_normal(cfg.hidden) * np.sqrt(1.0 / cfg.hidden)).astype(np.float32), 0.0)
    opt_table = _Adam(p.table.shape, cfg.lr_table)
    opt_w1, opt_b1 = _Adam(p.hidden_w.shape, cfg.lr_head), _Adam(p.hidden_b.shape, cfg.lr_head)
    opt_w2, opt_b2 = _Adam(p.out_w.shape, cfg.lr_head), _Adam((1,), cfg.lr_head)
    out_b = np.array([p.out_b], dtype=np.float32)

    best, best_loss, stale = p.copy(), np.inf, 0
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(train_rows))
        for lo in range(0, len(order), cfg.batch):
            pick = order[lo : lo + cfg.batch]
            matrix, used = _batch_matrix(tw, train_rows[pick])
            grads = gradients(p, matrix, used, train_y[pick], weight[pick])
            if cfg.lr_table > 0:
                keep = movable[used]
                moving = used[keep]
                g_rows = grads.table[keep] + cfg.table_decay * (p.table[moving] - table0[moving])
                opt_table.step(p.table, g_rows, rows=moving)
            g_w1 = grads.hidden_w + cfg.head_decay * p.hidden_w
            g_w2 = grads.out_w + cfg.head_decay * p.out_w
            g_b1, g_b2 = grads.hidden_b, np.array([grads.out_b], dtype=np.float32)
            opt_w1.step(p.hidden_w, g_w1)
            opt_b1.step(p.hidden_b, g_b1)
            opt_w2.step(p.out_w, g_w2)
            opt_b2.step(out_b, g_b2)
            p.out_b = float(out_b[0])
        val_loss = loss(window_logits(p, tw, val_rows), val_y, val_w) if len(val_rows) else -epoch
        if progress:
            progress(f"epoch {epoch + 1}: validation loss {val_loss:.4f}", (epoch + 1) / cfg.epochs)
        if val_loss < best_loss - 1e-4:
            best, best_loss, stale = p.copy(), val_loss, 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    return best
