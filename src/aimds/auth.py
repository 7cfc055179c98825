"""API keys and JWTs: who is calling, and may they use this route.

A key looks like ``aimds_<id>_<secret>``. Only ``HMAC-SHA256(salt, secret)`` with a per-key random
salt is stored, under the public id, so a check is one store read, one HMAC and one constant-time
compare; the store alone never yields a usable key. Revocation is a store write, so every instance
sharing the store refuses the key on its next request. Failures say *why* (missing, malformed,
invalid, revoked, expired, wrong role) but never whether some other key exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from aimds.errors import AimdsError

KEY_PREFIX = "aimds_"
KEY_EVENTS = "key-events"
_ID_CHARS = 12


class ApiRole(str, Enum):
    CHECKER = "checker"
    AUDITOR = "auditor"
    ADMIN = "admin"


class AuthError(AimdsError):
    """401: the caller could not be identified."""

    status = 401
    code = "unauthorized"


class MissingCredentials(AuthError):
    code = "missing_credentials"


class InvalidCredentials(AuthError):
    code = "invalid_credentials"


class RevokedCredentials(AuthError):
    code = "revoked_credentials"


class ExpiredCredentials(AuthError):
    code = "expired_credentials"


class Forbidden(AimdsError):
    """403: the caller is known but their role may not use this route."""

    status = 403
    code = "forbidden"


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    role: ApiRole
    via: str  # "key" or "jwt"

    @property
    def actor(self) -> str:
        return f"{self.via}:{self.id}"


def _digest(salt: bytes, secret: str) -> str:
    return hmac.new(salt, secret.encode(), hashlib.sha256).hexdigest()


class KeyRing:
    """Creates, checks and revokes API keys held in a `Store`."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def create(self, role: ApiRole | str, name: str = "") -> tuple[str, dict[str, Any]]:
        """Return (the plaintext key, shown once; its stored record, which holds no secret)."""
        role = ApiRole(role)
        key_id = secrets.token_hex(_ID_CHARS // 2)
        secret = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        salt = os.urandom(16)
        record = {
            "id": key_id,
            "role": role.value,
            "name": name[:100],
            "salt": salt.hex(),
            "hash": _digest(salt, secret),
            "created": time.time(),
            "revoked": None,
        }
        self.store.set(f"key:{key_id}", orjson.dumps(record))
        self.store.append(KEY_EVENTS, orjson.dumps({"event": "created", "id": key_id, "ts": record["created"]}))
        return f"{KEY_PREFIX}{key_id}_{secret}", record

    def revoke(self, key_id: str) -> bool:
        record = self._load(key_id)
        if record is None or record["revoked"]:
            return False
        record["revoked"] = time.time()
        self.store.set(f"key:{key_id}", orjson.dumps(record))
        self.store.append(KEY_EVENTS, orjson.dumps({"event": "revoked", "id": key_id, "ts": record["revoked"]}))
        return True

    def list(self) -> list[dict[str, Any]]:
        ids = dict.fromkeys(orjson.loads(raw)["id"] for _, raw in self.store.read(KEY_EVENTS, limit=1_000_000))
        records = (self._load(i) for i in ids)
        return [{k: r[k] for k in ("id", "role", "name", "created", "revoked")} for r in records if r]

    def _load(self, key_id: str) -> dict[str, Any] | None:
        raw = self.store.get(f"key:{key_id}")
        return orjson.loads(raw) if raw else None

    def authenticate(self, token: str) -> Principal:
        return _raise_or_return(self.authenticate_many([token])[0])

    def authenticate_many(self, tokens: list[str]) -> list[Principal | AuthError]:
        """`authenticate` for many tokens, their records read in one store call where the store has a
        ``get_many`` (one round trip to Redis for a whole group of requests). Failures are returned,
        not raised; a store failure raises for all.

        A token sent by many requests of the group (one client's connections) is read and verified
        once: the answer is the same for all of them, as the record is read at one moment either way."""
        parsed: list[tuple[str, str] | AuthError] = []
        for token in tokens:
            key_id, sep, secret = token[len(KEY_PREFIX) :].partition("_")
            if not token.startswith(KEY_PREFIX) or not sep or len(key_id) != _ID_CHARS or not secret:
                parsed.append(InvalidCredentials("malformed API key"))
            else:
                parsed.append((key_id, secret))
        distinct = list(dict.fromkeys(p for p in parsed if isinstance(p, tuple)))
        ids = list(dict.fromkeys(key_id for key_id, _ in distinct))
        get_many = getattr(self.store, "get_many", None)
        keys = [f"key:{key_id}" for key_id in ids]
        records = dict(zip(ids, get_many(keys) if get_many is not None else [self.store.get(k) for k in keys]))
        outcomes = {(key_id, secret): _verify(key_id, secret, records[key_id]) for key_id, secret in distinct}
        # A Principal is immutable and may be shared; each failed request raises its own exception.
        return [p if isinstance(p, AuthError) else _fresh(outcomes[p]) for p in parsed]


def _verify(key_id: str, secret: str, raw: bytes | None) -> Principal | AuthError:
    record = orjson.loads(raw) if raw else None
    # Unknown ids still pay for one HMAC so timing does not tell which ids exist.
    salt = bytes.fromhex(record["salt"]) if record else b"\0" * 16
    expected = record["hash"] if record else "0" * 64
    if not hmac.compare_digest(_digest(salt, secret), expected) or record is None:
        return InvalidCredentials("API key is not valid")
    if record["revoked"]:
        return RevokedCredentials("API key has been revoked")
    return Principal(key_id, ApiRole(record["role"]), "key")


def _fresh(outcome: Principal | AuthError) -> Principal | AuthError:
    return type(outcome)(str(outcome)) if isinstance(outcome, AuthError) else outcome


def _raise_or_return(outcome: Principal | AimdsError) -> Principal:
    if isinstance(outcome, AimdsError):
        raise outcome
    return outcome


class JwtVerifier:
    """Validates bearer JWTs signed by keys in a configured file (PEM public key, or a JWKS document)."""

    def __init__(
        self,
        keys_file: str | os.PathLike[str],
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...] = ("RS256", "ES256"),
        role_claim: str = "aimds_role",
        leeway: float = 30.0,
    ) -> None:
        import jwt

        self._jwt = jwt
        self._issuer, self._audience = issuer, audience
        self._algorithms = list(algorithms)
        self._role_claim, self._leeway = role_claim, leeway
        text = Path(keys_file).read_text(encoding="utf-8")
        if text.lstrip().startswith("{"):
            jwks = jwt.PyJWKSet.from_json(text)
            self._keys: dict[str | None, Any] = {k.key_id: k.key for k in jwks.keys}
        else:
            self._keys = {None: text}

    def authenticate(self, token: str) -> Principal:
        jwt = self._jwt
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) or (self._keys.get(None) if len(self._keys) == 1 else None)
            if key is None:
                raise InvalidCredentials("token signed by an unknown key")
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise ExpiredCredentials("token has expired") from None
        except jwt.PyJWTError as exc:
            raise InvalidCredentials(f"token rejected: {type(exc).__name__}") from None
        try:
            role = ApiRole(claims.get(self._role_claim))
        except ValueError:
            raise Forbidden(f"token carries no valid {self._role_claim} claim") from None
        return Principal(str(claims["sub"])[:200], role, "jwt")


class Authenticator:
    """Turns an ``Authorization`` header into a `Principal`, or raises a 401 error."""

    def __init__(self, keys: KeyRing, jwt: JwtVerifier | None = None) -> None:
        self.keys, self.jwt = keys, jwt

    def __call__(self, header: str | None) -> Principal:
        return _raise_or_return(self.many([header])[0])

    def many(self, headers: list[str | None]) -> list[Principal | AuthError | Forbidden]:
        """`__call__` for many headers, the API keys among them checked together (one store read).
        Failures are returned, not raised; a store failure raises for all."""
        out: list[Principal | AuthError | Forbidden | None] = [None] * len(headers)
        keyed: list[tuple[int, str]] = []
        for i, header in enumerate(headers):
            try:
                token = _bearer(header)
                if token.startswith(KEY_PREFIX):
                    keyed.append((i, token))
                elif self.jwt is None:
                    raise InvalidCredentials("API key is not valid")
                else:
                    out[i] = self.jwt.authenticate(token)
            except (AuthError, Forbidden) as exc:
                out[i] = exc
        if keyed:
            for (i, _), outcome in zip(keyed, self.keys.authenticate_many([t for _, t in keyed])):
                out[i] = outcome
        return out  # type: ignore[return-value]


def _bearer(header: str | None) -> str:
    if not header:
        raise MissingCredentials("send 'Authorization: Bearer <API key or token>'")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 8192:
        raise InvalidCredentials("Authorization header must be 'Bearer <API key or token>'")
    return token


def require(principal: Principal, allowed: frozenset[ApiRole]) -> None:
    """Admins may do everything; others only what the route lists."""
    if principal.role is not ApiRole.ADMIN and principal.role not in allowed:
        needs = ", ".join(sorted(r.value for r in allowed | {ApiRole.ADMIN}))
        raise Forbidden(f"role {principal.role.value} may not use this route; it needs one of: {needs}")
