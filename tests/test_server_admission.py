"""Admission of requests in groups: one call per event-loop pass (in a thread for remote stores)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aimds.auth import ApiRole, Authenticator, AuthError, Forbidden, InvalidCredentials, KeyRing, Principal
from aimds.server.admission import GroupAdmission
from aimds.store.errors import StoreUnavailable
from aimds.store.memory import MemoryStore


@pytest.mark.parametrize("in_thread", [True, False])
def test_one_call_per_loop_pass_and_outcomes_per_request(in_thread: bool) -> None:
    calls: list[list[tuple[str, str]]] = []

    def admit_many(requests: list[tuple[str, str]]) -> list[Principal | Exception]:
        calls.append(requests)
        return [Principal(h, ApiRole.CHECKER, "key") if h.startswith("ok") else InvalidCredentials("no")
                for h, _ in requests]

    async def run() -> list[object]:
        admission = GroupAdmission(admit_many, ThreadPoolExecutor(1) if in_thread else None)
        futures = [admission.admit(h, "10.0.0.1") for h in ("ok-1", "bad", "ok-2")]
        results = await asyncio.gather(*futures, return_exceptions=True)
        later = await admission.admit("ok-3", "10.0.0.2")  # a later pass: a second call
        return [*results, later]

    ok1, bad, ok2, ok3 = asyncio.run(run())
    assert [len(c) for c in calls] == [3, 1]
    assert ok1.id == "ok-1" and ok2.id == "ok-2" and ok3.id == "ok-3"
    assert isinstance(bad, InvalidCredentials)


@pytest.mark.parametrize("in_thread", [True, False])
def test_a_failing_call_fails_every_request_of_its_group(in_thread: bool) -> None:
    def admit_many(requests: list[tuple[str, str]]) -> list[Principal | Exception]:
        raise StoreUnavailable("redis down")

    async def run() -> list[object]:
        admission = GroupAdmission(admit_many, ThreadPoolExecutor(1) if in_thread else None)
        return await asyncio.gather(admission.admit("a", "c"), admission.admit("b", "c"), return_exceptions=True)

    assert all(isinstance(r, StoreUnavailable) for r in asyncio.run(run()))


def test_keys_of_a_group_are_read_in_one_store_call() -> None:
    class Counting(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.reads: list[int] = []

        def get_many(self, keys: list[str]) -> list[bytes | None]:
            self.reads.append(len(keys))
            return [self.get(k) for k in keys]

    store = Counting()
    ring = KeyRing(store)
    good, _ = ring.create("checker")
    revoked, record = ring.create("auditor")
    ring.revoke(record["id"])
    outcomes = ring.authenticate_many([good, revoked, "aimds_short", good[:-2] + "xx"])
    assert store.reads == [2]  # the malformed key needs no read; the wrong secret's key id is read once
    assert isinstance(outcomes[0], Principal) and outcomes[0].role is ApiRole.CHECKER
    assert [type(o).__name__ for o in outcomes[1:]] == ["RevokedCredentials", "InvalidCredentials", "InvalidCredentials"]
    with pytest.raises(InvalidCredentials):
        ring.authenticate("aimds_short")


def test_a_key_sent_by_many_requests_of_a_group_is_read_and_verified_once() -> None:
    """One client's connections send one key: its record is read once per group, each request still
    gets its own answer (and a failure its own exception), and a revocation shows in the next group."""
    class Counting(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.reads: list[list[str]] = []

        def get_many(self, keys: list[str]) -> list[bytes | None]:
            self.reads.append(keys)
            return [self.get(k) for k in keys]

    store = Counting()
    ring = KeyRing(store)
    good, record = ring.create("checker")
    wrong = good[:-2] + ("xx" if not good.endswith("xx") else "yy")
    outcomes = ring.authenticate_many([good, wrong, good, wrong, good])
    assert store.reads == [[f"key:{record['id']}"]]
    assert all(isinstance(o, Principal) and o.id == record["id"] for o in outcomes[0::2])
    assert all(isinstance(o, InvalidCredentials) for o in outcomes[1::2]) and outcomes[1] is not outcomes[3]
    ring.revoke(record["id"])
    assert [type(o).__name__ for o in ring.authenticate_many([good, good])] == ["RevokedCredentials"] * 2


def _one_by_one(auth: Authenticator, header: str) -> object:
    try:
        return auth(header)
    except (AuthError, Forbidden) as exc:
        return (type(exc), str(exc))


def _as_comparable(outcome: object) -> object:
    return (type(outcome), str(outcome)) if isinstance(outcome, Exception) else outcome


_RING_STORE = MemoryStore()
_RING = KeyRing(_RING_STORE)
_GOOD = _RING.create("checker")[0]
_REVOKED, _RECORD = _RING.create("admin")
_RING.revoke(_RECORD["id"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.sampled_from([f"Bearer {_GOOD}", f"Bearer {_REVOKED}", f"bearer  {_GOOD} ", f"Bearer {_GOOD[:-1]}",
                     "Bearer aimds_short", "Basic abc", "", "Bearer ", f"Bearer {_GOOD}x", "Bearer eyJ.not.jwt"]),
    st.text(max_size=60).map(lambda t: "Bearer " + t),
    st.text(max_size=40),
), max_size=12))
def test_group_authentication_answers_each_header_as_alone(headers: list[str]) -> None:
    auth = Authenticator(_RING)
    assert [_as_comparable(o) for o in auth.many(headers)] == [_one_by_one(auth, h) for h in headers]
