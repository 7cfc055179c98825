"""The semantic (deep-tier) detector: distilled sentence embeddings of text windows + a small MLP head.

Why windows: averaging a whole document's embedding drowns a one-sentence payload, so the detector
embeds the whole text *and* overlapping windows of a few sizes (word pieces) and reports the worst.
Why static embeddings: a table distilled from all-MiniLM-L6-v2 (`aimds.train.distill`) gives each
window's vector from one prefix sum, so the deep tier costs about a millisecond per kilobyte with
numpy and `tokenizers` alone. It generalises past the fast tier's n-grams to paraphrases that share
no trigger words with known attacks. Why a row delta in the head: the table and the head were
fine-tuned together (`aimds.train.finetune`); the head file carries the moved rows, so the shipped
table stays the distilled one and retraining starts from it. Training and calibration:
`aimds.train.semantic`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO

import numpy as np

from aimds.config import Settings
from aimds.detect.encoders.static import StaticEncoder
from aimds.errors import ModelError
from aimds.text.views import Prepared, View
from aimds.types import Finding, ThreatKind

HEAD_FILE = "head.npz"
FORMAT_VERSION = 2  # 2: fine-tuned table rows ride along with the head
SEGMENT_CHARS = 32_768  # long texts are embedded in segments so memory stays bounded
SEGMENT_OVERLAP = 512


@dataclass(frozen=True)
class SemanticHead:
    """One-hidden-layer ReLU network over unit window vectors, with the anchored calibration of
    `aimds.train.semantic`: ``logit = relu(v @ hidden_w + hidden_b) @ out_w + out_b``. ``table_rows``
    and ``table_delta`` are the fine-tuned changes to the encoder's embedding table."""

    hidden_w: np.ndarray
    hidden_b: np.ndarray
    out_w: np.ndarray
    out_b: float
    cal_a: float
    cal_b: float
    window_sizes: tuple[int, ...]
    stride_ratio: float
    review: float = 0.60
    block: float = 0.85
    table_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    table_delta: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float16))

    @property
    def dims(self) -> int:
        return int(self.hidden_w.shape[0])

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        hidden = np.maximum(vectors @ self.hidden_w + self.hidden_b, 0.0)
        return hidden @ self.out_w + self.out_b

    def calibrate(self, logit: float) -> float:
        return float(1.0 / (1.0 + np.exp(-(self.cal_a * logit + self.cal_b))))

    def save(self, path: Path | IO[bytes]) -> None:
        np.savez(
            path,
            format_version=np.int64(FORMAT_VERSION),
            hidden_w=self.hidden_w.astype(np.float32),
            hidden_b=self.hidden_b.astype(np.float32),
            out_w=self.out_w.astype(np.float32),
            scalars=np.array([self.out_b, self.cal_a, self.cal_b, self.stride_ratio, self.review, self.block]),
            window_sizes=np.array(self.window_sizes, dtype=np.int64),
            table_rows=self.table_rows.astype(np.int32),
            table_delta=self.table_delta.astype(np.float16),
        )

    @classmethod
    def load(cls, source: Path | IO[bytes]) -> "SemanticHead":
        try:
            with np.load(source, allow_pickle=False) as data:
                version = int(data["format_version"])
                if version != FORMAT_VERSION:
                    raise ModelError(f"semantic head format {version} is not {FORMAT_VERSION}")
                hidden_w = data["hidden_w"].astype(np.float32)
                hidden_b = data["hidden_b"].astype(np.float32)
                out_w = data["out_w"].astype(np.float32)
                out_b, cal_a, cal_b, stride, review, block = (float(x) for x in data["scalars"])
                sizes = tuple(int(x) for x in data["window_sizes"])
                rows = data["table_rows"].astype(np.int64)
                delta = data["table_delta"].astype(np.float16)
        except ModelError:
            raise
        except Exception as exc:  # zip, key, value and OS errors all mean the same: unusable artifact
            raise ModelError(f"semantic head is missing or corrupt: {type(exc).__name__}: {exc}") from None
        width = hidden_b.shape[0] if hidden_b.ndim == 1 else -1
        if hidden_w.ndim != 2 or hidden_w.shape[1] != width or out_w.shape != (width,):
            raise ModelError("semantic head has inconsistent shapes")
        if rows.ndim != 1 or delta.ndim != 2 or delta.shape[0] != rows.shape[0] \
                or (rows.size and delta.shape[1] != hidden_w.shape[0]) or np.unique(rows).size != rows.size:
            raise ModelError("semantic head's table rows and delta do not match")
        if not all(np.isfinite(a).all() for a in (hidden_w, hidden_b, out_w, delta)):
            raise ModelError("semantic head holds non-finite weights")
        if not all(4 <= s <= 512 for s in sizes) or not 0.0 < stride <= 1.0 \
                or not np.isfinite([out_b, cal_a, cal_b]).all():
            raise ModelError("semantic head has invalid scalars")
        return cls(hidden_w, hidden_b, out_w, out_b, cal_a, cal_b, sizes, stride, review, block, rows, delta)


@dataclass(frozen=True)
class Worst:
    logit: float
    start: int
    end: int


class SemanticScorer:
    """Encoder + head: text -> raw worst-window logit and that window's character range."""

    def __init__(self, encoder: StaticEncoder, head: SemanticHead) -> None:
        if head.dims != encoder.dims:
            raise ModelError(f"semantic head expects {head.dims} dims, the encoder gives {encoder.dims}")
        self.encoder = encoder
        self.head = head

    def worst(self, text: str) -> Worst:
        best = Worst(float("-inf"), 0, 0)
        step = SEGMENT_CHARS - SEGMENT_OVERLAP
        for base in range(0, max(len(text) - SEGMENT_OVERLAP, 1), step):
            windows = self.encoder.windows(text[base : base + SEGMENT_CHARS], self.head.window_sizes,
                                           self.head.stride_ratio)
            if not windows.spans:
                continue
            logits = self.head.logits(windows.vectors)
            i = int(np.argmax(logits))
            if logits[i] > best.logit:
                start, end = windows.spans[i]
                best = Worst(float(logits[i]), base + start, base + end)
        return best

    def score(self, text: str) -> tuple[float, int, int]:
        worst = self.worst(text)
        if worst.logit == float("-inf"):
            return 0.0, 0, 0
        return self.head.calibrate(worst.logit), worst.start, worst.end


def shipped_dir() -> Path:
    return Path(str(resources.files("aimds.detect").joinpath("models", "semantic")))


def load_scorer(model_dir: str | Path | None = None) -> SemanticScorer:
    """Encoder table, tokenizer and head from ``model_dir`` (default: the shipped artifacts)."""
    model_dir = Path(model_dir) if model_dir else shipped_dir()
    head_path = model_dir / HEAD_FILE
    if not head_path.is_file():
        raise ModelError(f"semantic head not found in {model_dir.name!r}")
    head = SemanticHead.load(head_path)
    return SemanticScorer(StaticEncoder(model_dir, row_delta=(head.table_rows, head.table_delta)), head)


class SemanticDetector:
    """Scores `Prepared.model_views`; reports the worst window as one finding."""

    name = "semantic"
    tier = "deep"
    kinds = frozenset({ThreatKind.PROMPT_INJECTION, ThreatKind.INDIRECT_INJECTION})

    def __init__(self, scorer: SemanticScorer, report_floor: float = 0.07) -> None:
        self.scorer = scorer
        self.report_floor = report_floor

    def scan(self, prepared: Prepared) -> list[Finding]:
        best: tuple[float, int, int, View] | None = None
        for view in prepared.model_views:
            score, start, end = self.scorer.score(view.text)
            if best is None or score > best[0]:
                best = (score, start, end, view)
        if best is None or best[0] < self.report_floor:
            return []
        score, start, end, view = best
        kind = ThreatKind.INDIRECT_INJECTION if prepared.role.is_third_party else ThreatKind.PROMPT_INJECTION
        return [Finding(
            kind=kind,
            detector=self.name,
            score=min(1.0, max(0.0, score)),
            reason=f"semantic model: window resembles known injection attempts (p={score:.2f})",
            span=view.to_original(start, end),
            view=view.name,
        )]


def create(settings: Settings) -> SemanticDetector:
    """Registry factory: loads the shipped artifacts once; scores below the deep-tier band are not reported."""
    return SemanticDetector(load_scorer(), report_floor=settings.semantic_band[0])
