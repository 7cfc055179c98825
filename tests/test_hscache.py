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
