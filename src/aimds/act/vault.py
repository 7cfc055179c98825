"""Per-session memory of placeholders, so an anonymized prompt's answer can be restored for the user.

Anonymizing replaces ``jane@example.com`` with ``<EMAIL_1>``; the vault keeps ``<EMAIL_1> → value``
for the session (and ``value → <EMAIL_1>`` so the same value always gets the same placeholder) in
any `aimds.store.base.Store`: memory for one process, Redis to share it between instances. Entries
expire after ``ttl`` seconds of disuse. Store keys carry only hashes of session ids and values;
the raw value is stored once, as the entry's payload, because restoring it is the point.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _secrets
from collections.abc import Container

from aimds.errors import AimdsError, InvalidInput
from aimds.store.base import Store
from aimds.store.memory import MemoryStore

PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]{0,30})_([1-9][0-9]{0,8})>")
MAX_SESSION_ID_CHARS = 256


class VaultFull(AimdsError):
    code = "vault_full"


class Vault:
    def __init__(
        self,
        store: Store | None = None,
        *,
        ttl: float = 3600.0,
        key: bytes | None = None,
        max_entries: int = 10_000,
    ) -> None:
        if ttl <= 0:
            raise InvalidInput("vault ttl must be positive")
        self.store = store if store is not None else MemoryStore()
        self.ttl = ttl
        self.max_entries = max_entries
        # Hashing values with a key keeps guessable PII (phone numbers, SSNs) out of store keys.
        self._key = key or _secrets.token_bytes(32)

    def _prefix(self, session_id: str) -> str:
        if not isinstance(session_id, str) or not session_id or len(session_id) > MAX_SESSION_ID_CHARS:
            raise InvalidInput(f"session_id must be a non-empty string of at most {MAX_SESSION_ID_CHARS} characters")
        digest = hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()[:32]
        return f"aimds:vault:{digest}"

    def _value_key(self, prefix: str, entity: str, value: str) -> str:
        digest = hmac.new(self._key, f"{entity}\0{value}".encode(), hashlib.sha256).hexdigest()[:32]
        return f"{prefix}:v:{digest}"

    def placeholder(self, session_id: str, entity: str, value: str, avoid: Container[str] = ()) -> str:
        """The session's placeholder for ``value``, creating one (never one listed in ``avoid``)."""
        entity = _entity_label(entity)
        prefix = self._prefix(session_id)
        value_key = self._value_key(prefix, entity, value)
        known = self.store.get(value_key)
        if known is not None:
            token = known.decode()
            if token not in avoid:
                self._touch(prefix, token, value, value_key)
                return token
        while True:
            number = self.store.incr(f"{prefix}:n:{entity}", 1, ttl=self.ttl)
            if number > self.max_entries:
                raise VaultFull(f"session holds more than {self.max_entries} {entity} placeholders")
            token = f"<{entity}_{number}>"
            if token not in avoid:
                break
        self._touch(prefix, token, value, value_key)
        return token

    def _touch(self, prefix: str, token: str, value: str, value_key: str) -> None:
        self.store.set(f"{prefix}:p:{token}", value.encode(), ttl=self.ttl)
        self.store.set(value_key, token.encode(), ttl=self.ttl)

    def lookup(self, session_id: str, token: str) -> str | None:
        raw = self.store.get(f"{self._prefix(session_id)}:p:{token}")
        return None if raw is None else raw.decode()

    def deanonymize(self, text: str, session_id: str) -> str:
        """Put the session's values back in place of its placeholders; unknown ones stay as they are."""
        prefix = self._prefix(session_id)

        def restore(match: re.Match[str]) -> str:
            raw = self.store.get(f"{prefix}:p:{match.group(0)}")
            return match.group(0) if raw is None else raw.decode()

        return PLACEHOLDER.sub(restore, text)


def _entity_label(entity: str) -> str:
    label = re.sub(r"[^A-Z0-9_]", "_", entity.upper())[:31] or "PII"
    return label if label[0].isalpha() else "X" + label[:30]
