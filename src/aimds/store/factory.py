"""Pick a store from a URL: ``memory://``, ``sqlite:///path/to/file.db`` or ``redis://host:port/db``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from aimds.errors import ConfigError
from aimds.store.base import Store


def open_store(url: str, data_dir: str | Path | None = None) -> Store:
    """Open the store named by ``url``; a bare ``sqlite://`` means ``<data_dir>/aimds.db``."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from aimds.store.memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite":
        from aimds.store.sqlite import SQLiteStore

        path = url[len("sqlite://") :].lstrip("/")
        if path:
            return SQLiteStore("/" + path if url.startswith("sqlite:////") else path)
        if data_dir is None:
            raise ConfigError("sqlite:// without a path needs data_dir (AIMDS_DATA_DIR)")
        return SQLiteStore(Path(data_dir) / "aimds.db")
    if scheme in ("redis", "rediss", "unix"):
        from aimds.store.redis_store import RedisStore

        return RedisStore(url)
    raise ConfigError(f"unknown store URL scheme {scheme!r}; use memory://, sqlite:// or redis://")
