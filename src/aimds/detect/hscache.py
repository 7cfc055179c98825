"""Compile Hyperscan databases once per machine, not once per process.

Compiling a few dozen patterns takes most of a second, which would dominate `import aimds` plus
`Guard()`. The serialized database is cached on disk, keyed by a hash of the expressions, ids, flags
and Hyperscan version, under ``AIMDS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/aimds`` or
``~/.cache/aimds``); an empty ``AIMDS_CACHE_DIR`` turns the cache off. A cache file that cannot be
read or written only costs a recompile. Each rule-pack version leaves a file, so the directory keeps
only the ``MAX_FILES`` most recently written.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import hyperscan

MAX_FILES = 64


def compile_database(expressions: Sequence[bytes], ids: Sequence[int], flags: Sequence[int]) -> Any:
    """A block-mode database for these patterns; raises ``hyperscan.error`` if they don't compile."""
    digest = hashlib.sha256()
    for part in (hyperscan.__version__.encode(), *expressions, repr(list(ids)).encode(), repr(list(flags)).encode()):
        digest.update(len(part).to_bytes(8, "little") + part)
    cache_dir = _cache_dir()
    path = cache_dir / f"hs-{digest.hexdigest()[:40]}.db" if cache_dir else None
    if path is not None and path.is_file():
        try:
            return hyperscan.loadb(path.read_bytes(), mode=hyperscan.HS_MODE_BLOCK)
        except (hyperscan.error, OSError, TypeError, ValueError):
            pass
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=list(expressions), ids=list(ids), elements=len(expressions), flags=list(flags))
    if path is not None:
        _write_atomically(path, hyperscan.dumpb(db))
        _prune(path.parent)
    return db


def _cache_dir() -> Path | None:
    configured = os.environ.get("AIMDS_CACHE_DIR")
    if configured == "":
        return None
    if configured:
        base = Path(configured)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aimds"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return base


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".hs-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


def _prune(cache_dir: Path) -> None:
    """Delete all but the ``MAX_FILES`` newest cache files (another process may race us: ignore it)."""
    try:
        files = sorted(cache_dir.glob("hs-*.db"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[MAX_FILES:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
