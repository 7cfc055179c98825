"""Vectorised bookkeeping of view offsets: deleting characters, and chaining two offset maps.

Anchors are the ``View.anchors`` format: sorted ``(view_pos, orig_pos)`` pairs, each starting a run in
which both advance together. numpy keeps this linear and C-speed even for a megabyte of removed
characters, where a Python loop per character would take seconds; a few changes (the usual case)
take a plain Python path, as numpy's fixed cost per call would dominate.
"""

from __future__ import annotations

import numpy as np

Anchors = tuple[tuple[int, int], ...]
IDENTITY: Anchors = ((0, 0),)
SPARSE_LIMIT = 256  # up to this many changes, plain Python beats numpy's fixed cost


def codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def from_codepoints(points: np.ndarray) -> str:
    return points.astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")


def anchors_for_lengths(out_len: np.ndarray) -> Anchors:
    """Anchors of a view in which source character ``i`` became ``out_len[i]`` characters.

    A removed character (0) starts a new run after it; an expanded one (n > 1) pins each of its n
    output characters to itself, so a match inside a ligature maps to the ligature.
    """
    n = len(out_len)
    if n == 0 or bool(np.all(out_len == 1)):
        return IDENTITY
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(out_len, out=starts[1:])
    irregular = np.flatnonzero(out_len != 1)
    # a run restarts after every irregular character
    after = irregular + 1
    views = [starts[after]]
    origs = [after]
    expanded = irregular[out_len[irregular] > 1]
    if len(expanded):
        reps = out_len[expanded].astype(np.int64)
        base = np.repeat(starts[expanded], reps)
        offsets = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
        views.append(base + offsets)
        origs.append(np.repeat(expanded, reps))
    return pack(np.concatenate(views), np.concatenate(origs))


def sparse_anchors(changes: list[tuple[int, int]]) -> Anchors:
    """`anchors_for_lengths` for few changes, without numpy's per-call overhead.

    ``changes`` are sorted ``(source position, output length)`` for the characters whose output
    length is not 1.
    """
    anchors: list[tuple[int, int]] = [(0, 0)]

    def add(view: int, orig: int) -> None:
        if anchors[-1][0] == view:
            anchors.pop()
        if not anchors or anchors[-1][1] - anchors[-1][0] != orig - view:
            anchors.append((view, orig))

    shift = 0
    for pos, length in changes:
        for k in range(length if length > 1 else 0):
            add(pos + shift + k, pos)
        shift += length - 1
        add(pos + 1 + shift, pos + 1)
    return tuple(anchors) if anchors else IDENTITY


def delete(text: str, positions: list[int]) -> tuple[str, Anchors]:
    """``text`` without the characters at sorted, distinct ``positions``, and anchors back to ``text``."""
    if len(positions) <= SPARSE_LIMIT:
        pieces = [text[a + 1 : b] for a, b in zip([-1, *positions], [*positions, len(text)])]
        return "".join(pieces), sparse_anchors([(pos, 0) for pos in positions])
    keep = np.ones(len(text), dtype=bool)
    keep[np.asarray(positions, dtype=np.int64)] = False
    out = from_codepoints(codepoints(text)[keep])
    return out, anchors_for_lengths(keep.astype(np.int64))


def compose(outer: Anchors, inner: Anchors) -> Anchors:
    """Anchors of ``outer`` (view -> middle text) followed by ``inner`` (middle -> original).

    The composite changes slope only where ``outer`` does, or where a view position first reaches an
    ``inner`` breakpoint, so both sets of breakpoints are mapped and merged.
    """
    if inner == IDENTITY:
        return outer
    if outer == IDENTITY:
        return inner
    ov, om = _arrays(outer)
    iv, io = _arrays(inner)
    # view positions whose middle position is the first at or after each inner breakpoint
    k = np.searchsorted(om, iv, side="right") - 1
    k = np.maximum(k, 0)
    seg_end = om[k] + np.append(np.diff(ov), np.iinfo(np.int64).max // 4)[k]
    inside = iv < seg_end
    pulled = np.where(inside, ov[k] + (iv - om[k]), np.append(ov[1:], ov[-1])[k])
    pulled = np.maximum(pulled, 0)
    views = np.concatenate([ov, pulled])
    middle = _map(ov, om, views)
    return pack(views, _map(iv, io, middle))


def _map(views: np.ndarray, origs: np.ndarray, positions: np.ndarray) -> np.ndarray:
    i = np.maximum(np.searchsorted(views, positions, side="right") - 1, 0)
    return origs[i] + (positions - views[i])


def _arrays(anchors: Anchors) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(anchors, dtype=np.int64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def pack(views: np.ndarray, origs: np.ndarray) -> Anchors:
    """Sort, keep the last anchor per view position, drop ones implied by the previous run."""
    views = np.concatenate([[0], views.astype(np.int64)])
    origs = np.concatenate([[0], origs.astype(np.int64)])
    if np.any(np.diff(views) < 0) or np.any(np.diff(origs) < 0):
        order = np.lexsort((origs, views))
        views, origs = views[order], origs[order]
    last = np.append(views[1:] != views[:-1], True)
    views, origs = views[last], origs[last]
    shift = origs - views
    needed = np.append(True, shift[1:] != shift[:-1])
    return tuple(zip(views[needed].tolist(), origs[needed].tolist()))
