"""The on-disk Hyperscan cache: a second process with another hash seed compiles nothing new."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

hyperscan = pytest.importorskip("hyperscan")  # not on every architecture; the re fallback has no cache

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _build_guard(cache: Path, seed: str) -> None:
    env = os.environ | {"AIMDS_CACHE_DIR": str(cache), "PYTHONHASHSEED": seed,
                        "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-c", "import aimds; aimds.Guard()"], env=env, check=True, timeout=120)


def test_every_database_is_reused_by_the_next_process(tmp_path: Path) -> None:
    """Pattern sets built from Python sets must not depend on the hash seed: if they did, each
    process would compile its databases again (a few hundred ms at start) and leave new cache files."""
    _build_guard(tmp_path, "1")
    first = sorted(p.name for p in tmp_path.iterdir())
    assert first  # the detectors did use the cache
    _build_guard(tmp_path, "2")
    assert sorted(p.name for p in tmp_path.iterdir()) == first


def test_the_cache_keeps_only_the_newest_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aimds.detect import hscache

    monkeypatch.setenv("AIMDS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(hscache, "MAX_FILES", 3)
    made = []
    for i in range(6):
        before = set(tmp_path.glob("hs-*.db"))
        hscache.compile_database([f"word{i}".encode()], [0], [0])
        (new,) = set(tmp_path.glob("hs-*.db")) - before
        os.utime(new, (1_000_000 + i, 1_000_000 + i))  # written in this order, whatever the clock's grain
        made.append(new)
    assert sorted(tmp_path.glob("hs-*.db")) == sorted(made[-3:])
