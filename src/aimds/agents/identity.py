"""Agent identity: per-agent HMAC-SHA256 keys; signed events and agent-to-agent messages.

The signature covers the canonical JSON of what the agent asserts (everything except the signature
and the fields AIMDS fills in itself: labels, scores, risk). Verification uses a constant-time
comparison; an unknown agent, a missing signature where one is required, or any change to a signed
field fails.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from aimds.agents.events import Event
from aimds.errors import AimdsError

_DERIVED = {"signature", "labels", "scores", "risk"}
MIN_KEY_BYTES = 16


class SignatureError(AimdsError):
    code = "bad_signature"


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


class KeyRing:
    def __init__(self, keys: dict[str, bytes] | None = None) -> None:
        self._keys: dict[str, bytes] = {}
        for agent_id, key in (keys or {}).items():
            self.add(agent_id, key)

    def add(self, agent_id: str, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise SignatureError(f"agent keys need at least {MIN_KEY_BYTES} bytes")
        self._keys[agent_id] = bytes(key)

    def generate(self, agent_id: str) -> bytes:
        key = secrets.token_bytes(32)
        self._keys[agent_id] = key
        return key

    def remove(self, agent_id: str) -> bool:
        return self._keys.pop(agent_id, None) is not None

    def has(self, agent_id: str) -> bool:
        return agent_id in self._keys

    def _mac(self, agent_id: str, payload: bytes) -> str:
        key = self._keys.get(agent_id)
        if key is None:
            raise SignatureError(f"no key for agent {agent_id!r}")
        return hmac.new(key, payload, hashlib.sha256).hexdigest()

    # -- events ----------------------------------------------------------------------------------
    def sign_event(self, event: Event) -> Event:
        payload = _canonical(event.model_dump(mode="json", exclude=_DERIVED))
        return event.model_copy(update={"signature": self._mac(event.agent_id, payload)})

    def verify_event(self, event: Event) -> None:
        """Raise `SignatureError` unless the event carries a valid signature by its agent."""
        if not event.signature:
            raise SignatureError(f"event from agent {event.agent_id!r} is not signed")
        payload = _canonical(event.model_dump(mode="json", exclude=_DERIVED))
        if not hmac.compare_digest(self._mac(event.agent_id, payload), event.signature):
            raise SignatureError(f"event from agent {event.agent_id!r} has an invalid signature")

    # -- agent-to-agent messages -----------------------------------------------------------------
    def sign_message(self, sender: str, recipient: str, body: Any) -> dict[str, Any]:
        message = {"from": sender, "to": recipient, "body": body, "nonce": secrets.token_hex(8)}
        return {**message, "signature": self._mac(sender, _canonical(message))}

    def verify_message(self, message: dict[str, Any], expected_recipient: str | None = None) -> Any:
        """Return the body of a correctly signed message, else raise `SignatureError`."""
        if not isinstance(message, dict) or not isinstance(message.get("signature"), str):
            raise SignatureError("message is not signed")
        unsigned = {k: message.get(k) for k in ("from", "to", "body", "nonce")}
        if not isinstance(unsigned["from"], str):
            raise SignatureError("message has no sender")
        if expected_recipient is not None and unsigned["to"] != expected_recipient:
            raise SignatureError("message is addressed to another agent")
        if not hmac.compare_digest(self._mac(unsigned["from"], _canonical(unsigned)), message["signature"]):
            raise SignatureError(f"message from {unsigned['from']!r} has an invalid signature")
        return unsigned["body"]
