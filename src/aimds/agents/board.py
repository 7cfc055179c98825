"""Agent board: which agents any instance sharing the store has seen, and the last status published.

Behaviour profiles stay in the process that sees an agent's events (a session sticks to one
instance). What other instances need is small: that the agent exists, and its status when it
changes. Each instance appends a record to one stream in the store when it first sees an agent and
whenever that agent's status changes (and on release); every instance follows the stream from where
it last read, keeping the newest record per agent. Records carry the publisher's wall-clock time, so
the newest one wins (instances need roughly synchronised clocks). The stream grows with status
changes, not with events.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from aimds.store.base import Store

STREAM = "aimds:agents:board"
MAX_AGENTS = 100_000
_PAGE = 1000
MAX_PAGES_PER_SYNC = 100


class AgentBoard:
    def __init__(self, store: Store, max_agents: int = MAX_AGENTS) -> None:
        self._store = store
        self._max_agents = max_agents
        self._cursor = 0
        self._latest: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def publish(self, record: dict[str, Any]) -> None:
        """``record`` holds ``agent_id``, ``at`` (time) and ``status``; ``release`` marks a release."""
        self._store.append(STREAM, json.dumps(record, default=str).encode())

    def sync(self) -> list[dict[str, Any]]:
        """Read records appended since the last call; return them (newest per agent kept here)."""
        fresh: list[dict[str, Any]] = []
        with self._lock:
            for _ in range(MAX_PAGES_PER_SYNC):
                rows = self._store.read(STREAM, self._cursor, _PAGE)
                for _, raw in rows:
                    try:
                        record = json.loads(raw)
                        agent_id, at = str(record["agent_id"]), float(record["at"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a damaged record names no agent
                    known = self._latest.get(agent_id)
                    if known is None or at >= float(known["at"]):
                        self._latest[agent_id] = record
                        self._latest.move_to_end(agent_id)
                        if len(self._latest) > self._max_agents:
                            self._latest.popitem(last=False)
                    fresh.append(record)
                if rows:
                    self._cursor = rows[-1][0]
                if len(rows) < _PAGE:
                    break
        return fresh

    def latest(self, agent_id: str) -> dict[str, Any] | None:
        return self._latest.get(agent_id)

    def known(self) -> list[str]:
        return list(self._latest)
