"""Latency, load time and memory of the semantic (deep-tier) detector.

Run: python bench/bench_semantic.py [--model DIR] [--runs N]
Targets: pipeline with the deep tier triggered <= 10 ms median for a 1 kB prompt (one core);
load <= 1 s; RSS <= 250 MB. Pin one core for the one-core figure: taskset -c 0 python bench/...
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import time
from pathlib import Path

import numpy as np

SENTENCES = (
    "Thanks for sending over the quarterly figures.", "The marketing budget is slightly above plan.",
    "Could you double-check the travel expenses for October?", "I have asked Tom to update the forecast.",
    "The meeting room on the second floor is booked from two to four.", "Please review the attached invoice.",
    "Our release notes for version 2.3 are in the shared folder.", "Let me know if Thursday works for you.",
)


def _text(chars: int, rng: random.Random) -> str:
    out, size = [], 0
    while size < chars:
        s = rng.choice(SENTENCES)
        out.append(s)
        size += len(s) + 1
    return " ".join(out)[:chars]


def _timings(fn, runs: int) -> np.ndarray:
    for _ in range(min(20, runs)):
        fn()
    out = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out * 1e3


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="artifact folder (default: the shipped one)")
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()

    t0 = time.perf_counter()
    from aimds.config import Settings
    from aimds.detect.semantic import SemanticDetector, load_scorer
    from aimds.text.normalize import prepare

    imported = time.perf_counter()
    detector = SemanticDetector(load_scorer(args.model), report_floor=0.0)
    loaded = time.perf_counter()
    print(f"import {1e3 * (imported - t0):.0f} ms, load artifacts {1e3 * (loaded - imported):.0f} ms, "
          f"peak RSS {_rss_mb():.0f} MB")

    settings = Settings()
    rng = random.Random(0)
    prompt, doc = _text(1024, rng), _text(100_000, rng)
    for label, text, runs in (("1 kB prompt", prompt, args.runs), ("100 kB doc", doc, max(10, args.runs // 20))):
        prepared = prepare(text, "document", settings)
        t = _timings(lambda: detector.scan(prepared), runs)
        print(f"detector.scan {label:12s}: median {np.median(t):7.2f} ms   p99 {np.percentile(t, 99):7.2f} ms")

    try:
        from aimds import Guard
    except ImportError:
        return
    for mode in ("off", "always"):
        guard = Guard(Settings(semantic=mode))
        t = _timings(lambda: guard.check(prompt + f" {rng.random()}", role="document"), args.runs)
        print(f"Guard.check semantic={mode:6s} 1 kB: median {np.median(t):7.2f} ms   p99 {np.percentile(t, 99):7.2f} ms")
    print(f"peak RSS {_rss_mb():.0f} MB (pid {os.getpid()})")


if __name__ == "__main__":
    main()
