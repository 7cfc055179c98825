"""Static token-embedding encoder: a text window's vector is the mean of its word pieces' rows.

The table is distilled from all-MiniLM-L6-v2 (see `aimds.train.distill`). Because vectors are summed,
every window of a text comes from prefix sums taken at window edges, so scoring hundreds of
overlapping windows costs about as much as tokenising the text once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aimds.errors import ModelError

TABLE_FILE = "static.npz"
TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True, slots=True)
class Windows:
    """Unit-norm window vectors (n, dims) and each window's character range in the encoded text."""

    vectors: np.ndarray
    spans: tuple[tuple[int, int], ...]


class StaticEncoder:
    """``row_delta`` (token rows, float16 changes) adds fine-tuned changes to the distilled table."""

    def __init__(self, model_dir: str | Path, row_delta: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        model_dir = Path(model_dir)
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelError("the semantic detector needs the package tokenizers (pip install tokenizers)") from exc
        try:
            with np.load(model_dir / TABLE_FILE, allow_pickle=False) as data:
                table = np.asarray(data["embeddings"], dtype=np.float16)  # kept half-size in memory
            tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        except Exception as exc:  # OSError, zip/npz corruption, missing key, tokenizer JSON errors
            raise ModelError(f"semantic encoder artifacts in {model_dir.name!r} are missing or corrupt: {exc}") from exc
        if table.ndim != 2 or table.shape[0] != tokenizer.get_vocab_size() or not np.isfinite(table).all():
            raise ModelError("semantic embedding table does not match its tokenizer or holds non-finite values")
        if row_delta is not None and len(row_delta[0]):
            rows, delta = row_delta
            if delta.shape != (len(rows), table.shape[1]) or rows.min() < 0 or rows.max() >= table.shape[0]:
                raise ModelError("fine-tuned table rows do not fit the embedding table")
            table = table.copy()
            table[rows] = (table[rows].astype(np.float32) + delta.astype(np.float32)).astype(np.float16)
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.table = table
        self.tokenizer = tokenizer
        self.dims = table.shape[1]

    def tokens(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        encoding = self.tokenizer.encode(text, add_special_tokens=False)
        return np.asarray(encoding.ids, dtype=np.int64), encoding.offsets

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit-norm vector per text (mean over all its pieces)."""
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, encoding in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):
            if encoding.ids:
                out[row] = self.table[encoding.ids].mean(0, dtype=np.float32)
        return _unit(out)

    def windows(self, text: str, sizes: tuple[int, ...], stride_ratio: float = 0.5) -> Windows:
        """Vectors of overlapping windows of each size in ``sizes`` (word pieces), plus the whole text.

        Short windows let a one-sentence payload dominate its own window instead of being averaged
        away by a long benign document around it.
        """
        ids, offsets = self.tokens(text)
        n = len(ids)
        if n == 0:
            return Windows(np.zeros((0, self.dims), dtype=np.float32), ())
        bounds = window_bounds(n, sizes, stride_ratio)
        starts = np.fromiter((s for s, _ in bounds), dtype=np.int64, count=len(bounds))
        ends = np.fromiter((e for _, e in bounds), dtype=np.int64, count=len(bounds))
        # Prefix sums are needed only at window edges: sum the segments between consecutive edges
        # in one pass (reduceat), then accumulate those few segment sums.
        edges = np.unique(np.concatenate((starts, ends)))
        segments = np.add.reduceat(self.table[ids], edges[:-1], axis=0, dtype=np.float32)
        prefix = np.zeros((len(edges), self.dims), dtype=np.float32)
        np.cumsum(segments, axis=0, out=prefix[1:])
        vectors = (prefix[np.searchsorted(edges, ends)] - prefix[np.searchsorted(edges, starts)]) \
            / (ends - starts).astype(np.float32)[:, None]
        spans = tuple((offsets[s][0], offsets[e - 1][1]) for s, e in bounds)
        return Windows(_unit(vectors), spans)


def window_bounds(n: int, sizes: tuple[int, ...], stride_ratio: float) -> list[tuple[int, int]]:
    """Token ranges: the whole sequence, then sliding windows of each size shorter than it."""
    bounds = [(0, n)]
    for size in sizes:
        if size >= n:
            continue
        stride = max(1, int(size * stride_ratio))
        last = n - size
        bounds.extend((s, s + size) for s in range(0, last, stride))
        bounds.append((last, n))
    return bounds


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
