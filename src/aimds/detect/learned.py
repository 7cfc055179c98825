"""The fast learned detector: a linear model over hashed character and word n-grams.

Why this shape: it must score a 1 kB prompt in well under a millisecond with numpy alone, and still
notice a one-sentence payload buried in a long benign document. Every n-gram's weight is added at
the position where it starts; cumulative sums then give the mean weight of *every* window of
``window`` characters in linear time, and the text's score is its worst window. Training
(`aimds.train.fast`) uses exactly these features, so what is measured there is what ships.

Hashing: the lowercased text becomes an array of code points (ASCII digits folded to ``0``,
whitespace to a space). One polynomial prefix sum gives the hash of any segment in O(1), so char
3/4/5-grams and word uni/bigrams are all hashed with a handful of vectorised operations, then
bucketed by multiplicative hashing into ``2**bits`` weights.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import IO

import numpy as np

from aimds.config import Settings
from aimds.errors import ModelError
from aimds.text.views import Prepared, View
from aimds.types import Finding, ThreatKind

ARTIFACT_NAME = "fast_model.npz"
FORMAT_VERSION = 1

_P = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_P_INV = pow(_P, -1, 1 << 64)
_MIX_INT = 0x9E3779B97F4A7C15  # multiplicative hashing: the top bits pick the bucket
_MIX = np.uint64(_MIX_INT)
_WORD_SALT = 0xD6E8FEB86659FD93  # keeps a word apart from the char n-gram with its letters
_BIGRAM_MUL = np.uint64(0x2545F4914F6CDD1D)
_WORD_SALT_MIXED = np.uint64(_WORD_SALT * _MIX_INT % (1 << 64))  # hashes are kept times MIX (see _Powers)
_CHAR_NS = (3, 4, 5)
# `score_many` joins texts up to about this many characters: beyond it the intermediate arrays outgrow
# the CPU caches and a joined pass costs more than the per-call overhead it saves. Measured on a 2-core
# EPYC (1 MiB L2 a core), CPU per text against 4096: 8192 -> 0.81-0.89 (150- to 859-character texts),
# 16384 -> 0.74 for 859 but 1.38 for 150.
JOIN_CHARS = 8192


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Lookup tables over the Basic Multilingual Plane: folded code point, and "is a word character".

    Folding maps ASCII digits to ``0`` and whitespace to a space. Word characters are ASCII
    letters/digits/underscore and anything from Latin-1 letters up, minus the punctuation, symbol
    and CJK-punctuation blocks.
    """
    cp = np.arange(1 << 16, dtype=np.uint64)
    cp[48:58] = 48
    cp[[9, 10, 11, 12, 13]] = 32
    word = np.zeros(1 << 16, dtype=bool)
    word[48:58] = word[97:123] = word[95] = True
    word[0xC0:] = True
    word[0xD7] = word[0xF7] = False
    word[0x2000:0x2E80] = word[0x3000:0x3040] = word[0xFF00:0xFF10] = word[0xD800:0xE000] = False
    return cp, word


_FOLD, _WORD = _tables()
# The same two tables for ASCII text as `bytes.translate` tables: one C loop each, no numpy call.
_FOLD_ASCII = bytes(_FOLD[:128].astype(np.uint8).tobytes()) + bytes(range(128, 256))
_WORD_ASCII = bytes(_WORD[:128].astype(np.uint8).tobytes()) + bytes(128)


class _Powers:
    """P**k * MIX and P**-k modulo 2**64 for k < n, grown on demand (a cache of constants).

    ``before`` is P**(k-1) * MIX at index k (so that ``before.take(ends)`` needs no ``ends - 1``).
    Hashes come out already multiplied by the bucket mixer: arithmetic modulo 2**64 is a ring, so
    ``(d * P**k) * MIX == d * (P**k * MIX)`` bit for bit, and one pass over all hashes is saved."""

    def __init__(self, n: int = 4096) -> None:
        self._lock = threading.Lock()
        self.tables = self._make(n)

    @staticmethod
    def _make(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with np.errstate(over="ignore"):
            before = np.empty(n + 1, dtype=np.uint64)
            iv = np.empty(n, dtype=np.uint64)
            before[0] = 0
            before[1] = iv[0] = 1
            before[2:] = np.cumprod(np.full(n - 1, _P, dtype=np.uint64), dtype=np.uint64)
            iv[1:] = np.cumprod(np.full(n - 1, _P_INV, dtype=np.uint64), dtype=np.uint64)
            before *= _MIX
        return before[1:], iv, before

    def upto(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pow * MIX, inv, before * MIX)``, each covering at least ``n`` exponents."""
        tables = self.tables
        if len(tables[0]) < n:
            with self._lock:
                if len(self.tables[0]) < n:
                    self.tables = self._make(max(n, 2 * len(self.tables[0])))
                tables = self.tables
        return tables


@dataclass(frozen=True)
class Hashed:
    """Feature buckets of one text, laid out by kind so that no per-feature position array is needed.

    ``idx`` holds char 3-, 4- and 5-grams (one per start position, in order), then one entry per
    word, then one per pair of adjacent words; ``starts`` are the words' start positions and
    ``count`` the number of features starting at each position. ``pos`` (each feature's start) is
    derived on demand: training wants it, scoring does not.
    """

    length: int
    idx: np.ndarray
    count: np.ndarray
    starts: np.ndarray

    @cached_property
    def char_spans(self) -> tuple[tuple[int, int], ...]:
        """``(offset in idx, number)`` of the 3-, 4- and 5-grams; empty kinds are left out."""
        n, out, o = self.length, [], 0
        for k in _CHAR_NS:
            if n >= k:
                out.append((o, n - k + 1))
                o += n - k + 1
        return tuple(out)

    @cached_property
    def pos(self) -> np.ndarray:
        positions = np.arange(self.length)
        return np.concatenate([positions[:m] for _, m in self.char_spans] + [self.starts, self.starts[:-1]])

    def between(self, start: int, end: int) -> np.ndarray:
        """Buckets of the features starting in ``[start, end)``, in ``idx`` order."""
        spans = self.char_spans
        parts = [self.idx[o + min(start, m) : o + min(end, m)] for o, m in spans]
        words = self.idx[sum(m for _, m in spans) :]
        nw = len(self.starts)
        a, b = (int(x) for x in np.searchsorted(self.starts, (start, end)))
        parts += [words[a:b], words[nw + a : nw + min(b, nw - 1)]]
        return np.concatenate(parts)


class Featurizer:
    """Text -> hashed n-gram buckets with their start positions (shared by training and runtime)."""

    def __init__(self, bits: int = 18) -> None:
        if not 10 <= bits <= 24:
            raise ModelError(f"hash bits {bits} outside 10..24")
        self.bits = bits
        self._shift = np.uint64(64 - bits)
        self._powers = _Powers()

    @staticmethod
    def lower(text: str) -> str:
        """Lowercased, one character per character (a few lowercase to two: those stay as they are)."""
        lowered = text.lower()
        if len(lowered) != len(text):
            lowered = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
        return lowered

    @classmethod
    def codepoints(cls, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Folded code points (uint64) and the word-character mask, one entry per character."""
        return cls.fold(cls.lower(text))

    @staticmethod
    def fold(lowered: str) -> tuple[np.ndarray, np.ndarray]:
        if lowered.isascii():  # one byte per character: the cheapest encode and gather
            raw = np.frombuffer(lowered.encode("ascii"), dtype=np.uint8)
            return _FOLD.take(raw), _WORD.take(raw)
        raw = np.frombuffer(lowered.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if raw.size and int(raw.max()) > 0xFFFF:
            astral = raw > 0xFFFF
            clipped = np.minimum(raw, 0xFFFF)
            cp = np.where(astral, raw.astype(np.uint64), _FOLD[clipped])
            word = np.where(astral, raw < 0x1F000, _WORD[clipped])
            return cp, word
        return _FOLD.take(raw), _WORD.take(raw)

    def hash(self, text: str, lowered: bool = False) -> Hashed:
        """Buckets of ``text``; with ``lowered``, the text was passed through `lower` already."""
        n, idx, starts = self.buckets(text if lowered else self.lower(text))
        return Hashed(n, idx, _counts(n, starts), starts)

    def buckets(self, lowered: str) -> tuple[int, np.ndarray, np.ndarray]:
        """``(length, idx, starts)`` of `Hashed` for a lowered text, without the per-position counts
        (scoring derives what it needs of them more cheaply)."""
        if lowered.isascii():  # fold through byte tables; word mask padded with a non-word each side
            encoded = lowered.encode("ascii")
            cp = np.frombuffer(encoded.translate(_FOLD_ASCII), dtype=np.uint8)
            padded = np.frombuffer(b"\0" + encoded.translate(_WORD_ASCII) + b"\0", dtype=np.bool_)
        else:
            cp, word = self.fold(lowered)
            padded = np.zeros(len(cp) + 2, dtype=bool)
            padded[1:-1] = word
        n = len(cp)
        if n == 0:
            return 0, np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        pw, iv, before = self._powers.upto(n + 1)
        edges = (padded[1:] != padded[:-1]).nonzero()[0]  # word starts and ends, interleaved
        starts = edges[0::2]
        nw = len(starts)
        nb = max(nw - 1, 0)
        nc = max(n - 2, 0) + max(n - 3, 0) + max(n - 4, 0)
        h = np.empty(nc + nw + nb, dtype=np.uint64)
        # uint64 arithmetic wraps modulo 2**64 as the hash wants; numpy never warns on arrays
        g = np.empty(n + 1, dtype=np.uint64)
        g[0] = 0
        np.multiply(cp, iv[:n], out=g[1:])
        np.add.accumulate(g, out=g)
        o = 0
        for k in _CHAR_NS:  # hash of cp[i:i+k] = P**(i+k-1) * (g[i+k] - g[i]), times MIX (see _Powers)
            m = n - k + 1
            if m <= 0:
                break
            seg = h[o : o + m]
            np.subtract(g[k:], g[:m], out=seg)
            np.multiply(seg, pw[k - 1 : n], out=seg)
            o += m
        if nw:
            words = h[o : o + nw]
            bounds = g.take(edges)
            np.subtract(bounds[1::2], bounds[0::2], out=words)
            np.multiply(words, before.take(edges[1::2]), out=words)
            words += _WORD_SALT_MIXED
            if nb:  # (a * B + b) * MIX == (a * MIX) * B + b * MIX modulo 2**64
                pairs = h[o + nw :]
                np.multiply(words[:-1], _BIGRAM_MUL, out=pairs)
                pairs += words[1:]
        np.right_shift(h, self._shift, out=h)  # under 2**24 now: the same bits read as intp
        return n, h.view(np.intp), starts


_CHAR_SHORTFALL = np.array([1, 2, 3, 3], dtype=np.int64)  # char n-grams fewer than 3 at the last 4 positions
_THREES = np.full(JOIN_CHARS + 1024, 3, dtype=np.int64)  # copied from: cheaper than np.full


def _counts(n: int, starts: np.ndarray) -> np.ndarray:
    """Features starting at each position: 3 char n-grams (fewer near the end: ``min(3, n-2-i)``),
    plus a word and a bigram at each word start but the last, which has no bigram.

    Word starts are distinct, so they are set to 3 + 2 with one ``put`` (a fancy ``+=`` reads, adds
    and writes back); the end's shortfall is subtracted after."""
    count = _THREES[:n].copy() if n <= len(_THREES) else np.full(n, 3, dtype=np.int64)
    if len(starts):
        count.put(starts, 5)
        count[starts[-1]] -= 1
    tail = min(n, 4)
    count[n - tail :] -= _CHAR_SHORTFALL[4 - tail :]
    return count


def position_sums(hashed: Hashed, weights: np.ndarray) -> np.ndarray:
    """Per start position: the sum of the weights of the features starting there.

    Added kind by kind in ``idx`` order, so each position's float64 sum is bit for bit what
    ``np.bincount(pos, weights)`` gives, without building ``pos``.
    """
    return _padded_sums(hashed.length, hashed.idx, hashed.starts, weights)[1:]


def _padded_sums(n: int, idx: np.ndarray, starts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`position_sums` after a leading 0.0: its cumulative sum is the running sum `worst_window` takes."""
    w = weights.take(idx)
    if w.dtype != np.float64:
        w = w.astype(np.float64)
    padded = np.zeros(n + 1)
    total = padded[1:]
    o = 0
    for k in _CHAR_NS:
        m = n - k + 1
        if m <= 0:
            break
        head = total[:m]
        np.add(head, w[o : o + m], out=head)
        o += m
    nw = len(starts)
    if nw:
        at_words = total.take(starts)
        at_words += w[o : o + nw]
        at_words[:-1] += w[o + nw :]
        total[starts] = at_words
    return padded


@dataclass(frozen=True)
class WindowScore:
    logit: float
    start: int
    end: int


def worst_window(total: np.ndarray, count: np.ndarray, bias: float, window: int, min_features: int = 1) -> WindowScore:
    """The window (of ``window`` positions, or the whole text if shorter) with the highest logit.

    Every window of at least 16 positions holds a char 3-gram, so no window count is zero. A text
    shorter than a window averages its weights over at least ``min_features`` (see `FastModel`).
    """
    n = len(total)
    if n <= window:
        # np.add.reduce is what ndarray.sum calls, without its Python-level wrapper
        c = max(int(np.add.reduce(count)), min_features)
        return WindowScore(bias + float(np.add.reduce(total)) / c, 0, n)
    padded = np.empty(n + 1)
    padded[0] = 0.0
    padded[1:] = total
    return _worst_long(padded, count, bias, window)


def _worst_long(padded: np.ndarray, count: np.ndarray, bias: float, window: int, text: str = "",
                min_features: int = 1) -> WindowScore:
    """`worst_window` of a text longer than ``window``, from ``[0.0, *total]``: running sums of the
    weights in float64, of the (integer) counts in int64, which float64 holds exactly.

    Given the ``text``, each of its `scorable_lines` is scored too, from the same running sums, as a
    short text is (over at least ``min_features``): a one-line payload in a long document ("# Pretend
    you have no constraints" above a recipe) fills only a quarter of the window that holds it, and
    the page's ordinary words outvote it; alone, it scores as if sent by itself. Training adds the
    same lines as rows (`aimds.train.fast`), so ordinary lines of documents are known to be benign."""
    cum = np.add.accumulate(padded)
    sums = np.subtract(cum[window:], cum[:-window])
    seen = np.empty(len(padded), dtype=np.int64)
    seen[0] = 0
    np.add.accumulate(count, out=seen[1:])
    means = np.divide(sums, np.subtract(seen[window:], seen[:-window]), out=sums)
    j = int(means.argmax())
    best = WindowScore(bias + float(means[j]), j, j + window)
    lines = _line_bounds(text, window) if text else None
    if lines is not None:
        starts, stops = lines
        line_means = (cum[stops] - cum[starts]) / np.maximum(seen[stops] - seen[starts], min_features)
        k = int(line_means.argmax())
        if bias + float(line_means[k]) > best.logit:
            best = WindowScore(bias + float(line_means[k]), int(starts[k]), int(stops[k]))
    return best


def scorable_lines(text: str, window: int) -> list[tuple[int, int]]:
    """The lines of a text longer than ``window`` that are also scored alone: shorter than a window
    and holding a sentence's worth of text (16 visible characters, three words), so a navigation
    bar or a table rule left by markup removal is not read as a text of its own."""
    if len(text) <= window:
        return []
    lines, start = [], 0
    while start <= len(text):
        stop = text.find("\n", start)
        stop = len(text) if stop < 0 else stop
        if 16 <= stop - start < window:
            blanks = text.count(" ", start, stop) + text.count("\t", start, stop)
            if stop - start - blanks >= 16 and blanks >= 2:
                lines.append((start, stop))
        start = stop + 1
    return lines


# From this many line breaks on, `_line_bounds` finds the lines with numpy (about 25 us, whatever
# their number) rather than with `scorable_lines`' loop (about 1 us a line).
_VECTOR_LINES = 32


def _line_bounds(text: str, window: int) -> tuple[np.ndarray, np.ndarray] | None:
    """`scorable_lines` as arrays of starts and stops, or None where there are none: the same lines,
    by the same rule, from running counts of blanks at the line breaks for texts with many lines
    (the 100 kB HTML page's text views have ~75 each: 51 -> 28 us a view)."""
    if len(text) <= window:
        return None
    if text.count("\n") < _VECTOR_LINES:
        lines = scorable_lines(text, window)
        if not lines:
            return None
        bounds = np.array(lines, dtype=np.intp)
        return bounds[:, 0], bounds[:, 1]
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = len(codes)
    breaks = (codes == 10).nonzero()[0]
    edges = np.empty(len(breaks) + 2, dtype=np.intp)  # -1, each line break, the end
    edges[0] = -1
    edges[1:-1] = breaks
    edges[-1] = n
    starts, stops = edges[:-1] + 1, edges[1:]
    blank = codes == 32
    blank |= codes == 9
    seen = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(blank, out=seen[1:])
    blanks = seen[stops] - seen[starts]
    length = stops - starts
    keep = (length >= 16) & (length < window) & (length - blanks >= 16) & (blanks >= 2)
    if not keep.any():
        return None
    return starts[keep], stops[keep]


def worst_windows(padded: np.ndarray, count: np.ndarray, begins: np.ndarray, lengths: np.ndarray, bias: float,
                  window: int, min_features: int = 1, texts: Sequence[str] = ()) -> list[WindowScore]:
    """`worst_window` of each slice ``[begin, begin + length)`` of ``padded[1:]``, bit for bit.

    ``padded[begin]`` must be 0.0 (a leading zero or a separator between texts), so that
    ``padded[begin : begin + length + 1]`` is the slice with its leading zero: each slice's running
    sums are then the very additions `worst_window` makes for it alone, one 1-D pass each (a 2-D
    cumulative sum over padded rows costs more than the calls it saves)."""
    best = []
    for i, (begin, n) in enumerate(zip(begins.tolist(), lengths.tolist())):
        if n <= window:
            best.append(worst_window(padded[begin + 1 : begin + n + 1], count[begin : begin + n], bias, window,
                                     min_features))
        else:
            best.append(_worst_long(padded[begin : begin + n + 1], count[begin : begin + n], bias, window,
                                    texts[i] if texts else "", min_features))
    return best


def focus(total: np.ndarray, count: np.ndarray, outer: WindowScore, bias: float, width: int = 96) -> tuple[int, int]:
    """Narrow the worst window to the sub-windows that score at least as high as it (the payload)."""
    lo, hi = outer.start, outer.end
    if hi - lo <= width:
        return lo, hi
    t, c = total[lo:hi], count[lo:hi]
    ct = np.concatenate(([0.0], np.cumsum(t)))
    cc = np.concatenate(([0.0], np.cumsum(c)))
    means = bias + (ct[width:] - ct[:-width]) / np.maximum(cc[width:] - cc[:-width], 1.0)
    hot = np.flatnonzero(means >= outer.logit)
    if not hot.size:
        j = int(np.argmax(means))
        return lo + j, lo + j + width
    return lo + int(hot[0]), lo + int(hot[-1]) + width


def _mean32(values: np.ndarray) -> float:
    """``float(values.mean())`` for float32 values, bit for bit, without `np.mean`'s Python overhead:
    a float32 pairwise sum, divided in float64, rounded to float32."""
    return float(np.float32(float(np.add.reduce(values)) / values.size))


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


@dataclass(frozen=True)
class FastModel:
    """Weights and calibration of the fast model; `score` maps a text to its worst window.

    Calibration is anchored on false-positive rates: a raw logit at the 1% FPR point of the wide
    benign validation set maps to ``anchor_review`` (0.60) and the 0.2% point to ``anchor_block``
    (0.85), so the default decide thresholds mean those FPRs. ``kind_*`` is a second head telling
    jailbreaks (role-play personas, "no restrictions") from injections (goal hijacking).

    A window's logit is the bias plus the mean weight of its features, taken over at least
    ``min_features``: a text of two words has a handful of n-grams, and one that opens many
    jailbreaks ("hi") would otherwise decide it alone. Short texts are shrunk toward the bias
    instead, in training as at run time (full windows always hold more features than this).
    """

    weights: np.ndarray
    bias: float
    kind_weights: np.ndarray
    kind_bias: float
    cal_a: float
    cal_b: float
    window: int
    bits: int
    review: float = 0.60
    block: float = 0.85
    min_features: int = 1

    def calibrate(self, logit: float) -> float:
        return _sigmoid(self.cal_a * logit + self.cal_b)

    def save(self, path: Path | IO[bytes]) -> None:
        np.savez_compressed(
            path,
            format_version=np.int64(FORMAT_VERSION),
            weights=self.weights.astype(np.float16),
            kind_weights=self.kind_weights.astype(np.float16),
            scalars=np.array([self.bias, self.kind_bias, self.cal_a, self.cal_b, self.review, self.block]),
            shape=np.array([self.window, self.bits, self.min_features], dtype=np.int64),
        )

    @classmethod
    def load(cls, source: Path | IO[bytes]) -> "FastModel":
        try:
            with np.load(source, allow_pickle=False) as data:
                if int(data["format_version"]) != FORMAT_VERSION:
                    raise ModelError(f"fast model format {int(data['format_version'])} is not {FORMAT_VERSION}")
                weights = data["weights"].astype(np.float32)  # exact for float16; half the cache of float64
                kind_weights = data["kind_weights"].astype(np.float32)
                bias, kind_bias, cal_a, cal_b, review, block = (float(x) for x in data["scalars"])
                shape = [int(x) for x in data["shape"]]
                window, bits = shape[:2]
                min_features = shape[2] if len(shape) > 2 else 1
        except ModelError:
            raise
        except Exception as exc:  # zip, key, value and OS errors all mean the same: unusable artifact
            raise ModelError(f"fast model artifact is missing or corrupt: {type(exc).__name__}: {exc}") from None
        size = 1 << bits
        if weights.shape != (size,) or kind_weights.shape != (size,) or window < 16 or not 1 <= min_features <= window:
            raise ModelError("fast model artifact has inconsistent shapes")
        if not (np.isfinite(weights).all() and np.isfinite(kind_weights).all()):
            raise ModelError("fast model artifact holds non-finite weights")
        return cls(weights, bias, kind_weights, kind_bias, cal_a, cal_b, window, bits, review, block, min_features)


@dataclass(frozen=True)
class Scored:
    score: float
    start: int
    end: int
    jailbreak: float


class FastScorer:
    """A loaded model plus its featurizer: text -> calibrated worst-window score and span."""

    def __init__(self, model: FastModel) -> None:
        self.model = model
        self.featurizer = Featurizer(model.bits)
        # float64 weights (exactly the float32 ones): the gather then needs no conversion pass. Adding
        # +0.0 turns a -0.0 weight into +0.0, which changes no score (every sum starts from +0.0) and
        # keeps every sum off -0.0, so skipping an addend equals adding 0.0 (`_score_joined`).
        self._weights = model.weights.astype(np.float64) + 0.0

    def logit(self, text: str) -> float:
        """Raw worst-window logit (what training calibrates)."""
        return self._worst(text)[0].logit

    def _worst(self, text: str) -> tuple[WindowScore, tuple[int, np.ndarray, np.ndarray], np.ndarray]:
        """`worst_window` of the text, with its buckets and ``[0.0, *position sums]``. Counts per
        position are only built for texts longer than a window: a shorter one needs just their
        sum, the number of features."""
        m = self.model
        buckets = n, idx, starts = self.featurizer.buckets(self.featurizer.lower(text))
        padded = _padded_sums(n, idx, starts, self._weights)
        if n <= m.window:
            total = float(np.add.reduce(padded))  # ndarray.sum without its Python-level wrapper
            return WindowScore(m.bias + total / max(len(idx), m.min_features), 0, n), buckets, padded
        return _worst_long(padded, _counts(n, starts), m.bias, m.window, text, m.min_features), buckets, padded

    def score(self, text: str, detail_floor: float = 0.0) -> Scored:
        """Calibrated score; the payload span and the kind head are only worked out above ``detail_floor``."""
        m = self.model
        best, (n, idx, starts), padded = self._worst(text)
        score = m.calibrate(best.logit)
        if score < detail_floor:
            return Scored(score, best.start, best.end, 0.0)
        hashed = Hashed(n, idx, _counts(n, starts), starts)
        start, end = focus(padded[1:], hashed.count, best, m.bias)
        kind_idx = hashed.between(best.start, best.end)
        kind_logit = m.kind_bias + (_mean32(m.kind_weights.take(kind_idx)) if kind_idx.size else 0.0)
        return Scored(score, start, end, _sigmoid(kind_logit))

    def score_many(self, texts: Sequence[str], detail_floor: float = 0.0) -> list[Scored]:
        """``[score(t, detail_floor) for t in texts]``, bit for bit, at a fraction of the cost.

        Most of a short text's scoring time is numpy's per-call overhead, so texts are hashed and
        their weights summed in one pass over their concatenation (`JOIN_CHARS` at a time): a segment's hash does not depend
        on where it sits, and n-grams that would cross into the next text are given weight zero. Each
        text's worst window is then found in its own slice. Texts scoring at least ``detail_floor``
        (few) are scored again alone for the payload span and the kind head.
        """
        out: list[Scored] = []
        group: list[str] = []
        chars = 0
        for text in texts:
            if group and chars + len(text) > JOIN_CHARS:
                out += self._score_joined(group, detail_floor)
                group, chars = [], 0
            group.append(text)
            chars += len(text) + 1
        return out + self._score_joined(group, detail_floor)

    def _score_joined(self, texts: list[str], detail_floor: float) -> list[Scored]:
        if len(texts) < 2 or not all(texts):
            return [self.score(t, detail_floor) for t in texts]
        m = self.model
        lengths = np.fromiter(map(len, texts), dtype=np.intp, count=len(texts))
        # Each text lowercased alone (final sigma depends on its context); a non-word separator, so
        # that no word spans two texts.
        n, idx, starts = self.featurizer.buckets("\x00".join(map(self.featurizer.lower, texts)))
        begins = np.zeros(len(texts), dtype=np.intp)
        np.cumsum(lengths[:-1] + 1, out=begins[1:])
        ends = begins + lengths
        end_of = np.repeat(ends, lengths + 1)[:n]  # each position's text end (a separator's is itself)
        w = self._weights.take(idx)
        padded = np.zeros(n + 1)  # a leading zero; each separator's sum stays zero too
        total = padded[1:]
        count = np.zeros(n, dtype=np.int64)
        last = np.arange(_CHAR_NS[0], n + _CHAR_NS[-1])  # last + k - 3: one past the k-gram at each i
        # An n-gram that crosses into the next text is skipped with ``where=``: adding it as 0.0, as
        # `score` sees it (absent), gives the same sums (no sum is -0.0: see `FastScorer.__init__`).
        o = 0
        for k in _CHAR_NS:
            span = n - k + 1
            if span <= 0:
                break
            inside = last[k - 3 : span + k - 3] <= end_of[:span]  # the k-gram at i ends by its text's end
            np.add(total[:span], w[o : o + span], out=total[:span], where=inside)
            count[:span] += inside
            o += span
        if len(starts):
            nw = len(starts)
            at_words = total.take(starts)
            at_words += w[o : o + nw]
            paired = end_of.take(starts[1:]) == end_of.take(starts[:-1])  # both words in one text
            np.add(at_words[:-1], w[o + nw :], out=at_words[:-1], where=paired)
            total[starts] = at_words
            count[starts] += 1
            count[starts[:-1]] += paired
        out = []
        for text, best in zip(texts, worst_windows(padded, count, begins, lengths, m.bias, m.window, m.min_features,
                                                    texts)):
            score = m.calibrate(best.logit)
            out.append(Scored(score, best.start, best.end, 0.0) if score < detail_floor else self.score(text, detail_floor))
        return out


_EXTRACTION = re.compile(
    r"system ?prompt|(?:initial|original|hidden|secret|previous) (?:instructions|prompt)|your (?:instructions|prompt|rules)"
    r"|(?:repeat|print|output|reveal|show) (?:the )?(?:text|words|everything) above",
    re.IGNORECASE,
)

_REASONS = {
    ThreatKind.JAILBREAK: "text reads as an attempt to switch the assistant into an unrestricted persona",
    ThreatKind.PROMPT_INJECTION: "text reads as an instruction to override the assistant",
    ThreatKind.SYSTEM_PROMPT_EXTRACTION: "text reads as an attempt to extract the assistant's hidden instructions",
}


def load_shipped() -> FastModel:
    """The artifact shipped in ``aimds/detect/models/fast``; raises ModelError if absent or corrupt."""
    try:
        ref = resources.files("aimds.detect").joinpath("models", "fast", ARTIFACT_NAME)
        with ref.open("rb") as handle:
            return FastModel.load(handle)
    except (FileNotFoundError, ModuleNotFoundError, OSError) as exc:
        raise ModelError(f"fast model artifact not found: {exc}") from None


class LearnedDetector:
    """Scores `Prepared.model_views`; reports the worst window as one finding."""

    name = "learned"
    tier = "fast"
    kinds = frozenset({ThreatKind.PROMPT_INJECTION, ThreatKind.JAILBREAK, ThreatKind.INDIRECT_INJECTION,
                       ThreatKind.SYSTEM_PROMPT_EXTRACTION})

    def __init__(self, model: FastModel, report_floor: float = 0.07) -> None:
        self.scorer = FastScorer(model)
        self.report_floor = report_floor

    def _kind(self, scored: Scored, excerpt: str) -> ThreatKind:
        if scored.jailbreak >= 0.5:
            return ThreatKind.JAILBREAK
        if _EXTRACTION.search(excerpt):
            return ThreatKind.SYSTEM_PROMPT_EXTRACTION
        return ThreatKind.PROMPT_INJECTION

    def scan(self, prepared: Prepared) -> list[Finding]:
        views = prepared.model_views
        return self._pick(views, [self.scorer.score(v.text, detail_floor=self.report_floor) for v in views])

    def scan_many(self, prepared: Sequence[Prepared]) -> list[list[Finding]]:
        """Every view of every input scored in one `FastScorer.score_many` call."""
        views = [p.model_views for p in prepared]
        scores = self.scorer.score_many([v.text for vs in views for v in vs], detail_floor=self.report_floor)
        out, at = [], 0
        for vs in views:
            out.append(self._pick(vs, scores[at : at + len(vs)]))
            at += len(vs)
        return out

    def _pick(self, views: Sequence[View], scores: list[Scored]) -> list[Finding]:
        """One finding for the worst-scoring view (the first of equals), if it reaches the floor."""
        best: tuple[Scored, View] | None = None
        for view, scored in zip(views, scores):
            if best is None or scored.score > best[0].score:
                best = (scored, view)
        return self._finding(*best) if best is not None and best[0].score >= self.report_floor else []

    def _finding(self, scored: Scored, view: View) -> list[Finding]:
        excerpt = view.text[scored.start : scored.end]
        kind = self._kind(scored, excerpt)
        return [Finding(
            kind=kind,
            detector=self.name,
            score=min(1.0, max(0.0, scored.score)),
            reason=f"learned model: {_REASONS[kind]} (p={scored.score:.2f})",
            span=view.to_original(scored.start, scored.end),
            view=view.name,
            metadata={"jailbreak_p": round(scored.jailbreak, 3)},
        )]


def create(settings: Settings) -> LearnedDetector:
    """Registry factory: loads the shipped artifact once; findings below the deep-tier band are dropped."""
    return LearnedDetector(load_shipped(), report_floor=settings.semantic_band[0])
