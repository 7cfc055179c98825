"""Latency of the fast learned detector: median/p99 for a 1 kB prompt, median for a 100 kB document.

Run: python bench/bench_learned.py [--model PATH]   (targets: scorer ~0.1 ms per 1 kB, ~20 ms per 100 kB)
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from aimds.detect.learned import FastModel, FastScorer, LearnedDetector, load_shipped
from aimds.text.views import Prepared, View
from aimds.types import Role

WORDS = ("the report budget meeting please review send attached update team customer order invoice project "
         "deadline schedule thanks regards data server release notes weekly plan").split()


def _text(chars: int, rng: random.Random) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def _timings(fn, text: str, runs: int) -> np.ndarray:
    for _ in range(min(50, runs)):
        fn(text)
    out = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        fn(text)
        out[i] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="artifact to load (default: the shipped one)")
    parser.add_argument("--runs", type=int, default=3000)
    args = parser.parse_args()
    model = FastModel.load(args.model) if args.model else load_shipped()
    scorer = FastScorer(model)
    detector = LearnedDetector(model)
    rng = random.Random(0)
    prompt, doc = _text(1024, rng), _text(100_000, rng)

    def scan(text: str):
        return detector.scan(Prepared(raw=text, role=Role.USER, views=(View("normalized", text),)))

    for label, fn in (("scorer", lambda t: scorer.score(t, detail_floor=0.15)), ("detector.scan", scan)):
        t = _timings(fn, prompt, args.runs) * 1e6
        print(f"{label:14s} 1 kB prompt : median {np.median(t):7.1f} us   p99 {np.percentile(t, 99):7.1f} us")
        t = _timings(fn, doc, max(20, args.runs // 100)) * 1e3
        print(f"{label:14s} 100 kB doc  : median {np.median(t):7.2f} ms   p99 {np.percentile(t, 99):7.2f} ms")


if __name__ == "__main__":
    main()
