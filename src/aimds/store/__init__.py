"""State behind one protocol: memory, SQLite (one host) or Redis (many instances). See `base.Store`."""

from aimds.store.base import Store
from aimds.store.errors import StoreUnavailable
from aimds.store.factory import open_store
from aimds.store.memory import MemoryStore
from aimds.store.sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore", "Store", "StoreUnavailable", "open_store"]
