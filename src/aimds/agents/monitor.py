"""Incremental runtime monitor: one step per event, per session, for every runtime policy at once.

State per session is the compiled policy set's slot list (O(number of temporal sub-formulas)), the
facts the user stated, and the last sequence number and time. Sessions beyond ``max_sessions`` are
evicted least-recently-used first (their temporal history restarts; `evicted` counts them).
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aimds.agents.events import Event
from aimds.agents.ltl import ast
from aimds.agents.ltl.atoms import SessionFacts
from aimds.agents.ltl.compiler import compile_bodies
from aimds.agents.ltl.errors import PolicyError
from aimds.agents.policy import Policy, PolicySet
from aimds.errors import InvalidInput


@dataclass(frozen=True)
class Violation:
    """A runtime policy that fails at an event; ``events`` are the sequence numbers of the
    counterexample (the current event plus the earlier ones the formula depended on)."""

    policy: str
    severity: str
    action: str
    events: tuple[int, ...]
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "severity": self.severity,
            "action": self.action,
            "events": list(self.events),
            "description": self.description,
        }


class _Session:
    __slots__ = ("state", "facts", "last_seq", "last_time")

    def __init__(self, state: list[Any]) -> None:
        self.state = state
        self.facts = SessionFacts()
        self.last_seq = -1
        self.last_time = 0.0


class Monitor:
    def __init__(self, policies: PolicySet | Iterable[Policy], max_sessions: int = 100_000) -> None:
        listed = list(policies.policies if isinstance(policies, PolicySet) else policies)
        offline = [p.name for p in listed if not p.is_runtime]
        if offline:
            raise PolicyError(
                "runtime policies must have the form 'always <past-time formula>'; offline only: "
                + ", ".join(offline)
            )
        if max_sessions < 1:
            raise PolicyError("max_sessions must be at least 1")
        self.policies: list[Policy] = listed
        self._compiled = compile_bodies([p.runtime_body for p in listed])  # type: ignore[misc]
        self._special = self._compiled._special
        # user texts are parsed for mentioned addresses only when some policy reads them
        self._needs_facts = any(
            isinstance(node, ast.AtomNode) and getattr(node.atom, "dynamic_set", None) is not None
            for policy in listed for node in ast.walk(policy.runtime_body)  # type: ignore[arg-type]
        )
        self._sessions: OrderedDict[tuple[str, str], _Session] = OrderedDict()
        self._max_sessions = max_sessions
        self.evicted = 0

    def _new_session(self, key: tuple[str, str]) -> _Session:
        session = self._sessions[key] = _Session(self._compiled.new_state())
        if len(self._sessions) > self._max_sessions:
            self._sessions.popitem(last=False)
            self.evicted += 1
        return session

    def step(self, event: Event) -> tuple[Violation, ...]:
        """Advance the event's session by one event; return the policies it violates."""
        key = (event.agent_id, event.session_id)
        sessions = self._sessions
        session = sessions.get(key)
        if session is None:
            session = self._new_session(key)
        else:
            sessions.move_to_end(key)
        seq, now, kind, tool = event.seq, event.time, event.kind, event.tool
        previous = session.last_seq
        if seq <= previous or now < session.last_time:
            raise InvalidInput(
                f"event seq {seq} at time {now} is not after seq {previous} at time "
                f"{session.last_time} in session {event.session_id!r}"
            )
        if self._needs_facts and kind == "user_message" and event.content:
            session.facts.observe_user_text(event.content)
        session.last_seq = seq
        session.last_time = now
        step = self._special.get((kind, tool)) or self._compiled.step_for(kind, tool)
        mask = step(session.state, event, session.facts)
        if not mask:
            return ()
        return self._violations(mask, session.state, seq, now, previous if previous >= 0 else None)

    def _violations(self, mask: int, state: list[Any], seq: int, now: float,
                    previous: int | None) -> tuple[Violation, ...]:
        found = []
        for index, policy in enumerate(self.policies):
            if mask >> index & 1:
                seqs = set(self._compiled.witnesses(index, state, previous, now))
                seqs.add(seq)
                found.append(
                    Violation(policy.name, policy.severity.value, policy.action.value, tuple(sorted(seqs)),
                              policy.description)
                )
        return tuple(found)

    def reset(self, agent_id: str, session_id: str) -> bool:
        """Forget a session's temporal state and facts (recovery after a hijack)."""
        return self._sessions.pop((agent_id, session_id), None) is not None

    def sessions(self) -> int:
        return len(self._sessions)

    # -- persistence: a session's state as bytes, so it can live in a Store between processes -----
    def snapshot(self, agent_id: str, session_id: str) -> bytes | None:
        session = self._sessions.get((agent_id, session_id))
        if session is None:
            return None
        state = [list(v) if isinstance(v, deque) else v for v in session.state]
        return json.dumps(
            {"state": state, "facts": session.facts.to_dict(), "seq": session.last_seq, "time": session.last_time}
        ).encode()

    def restore(self, agent_id: str, session_id: str, data: bytes) -> None:
        try:
            raw = json.loads(data)
            state = self._compiled.new_state()
            if len(raw["state"]) != len(state):
                raise ValueError("state does not match the loaded policies")
            for index, value in enumerate(raw["state"]):
                if isinstance(state[index], deque):
                    state[index].extend(tuple(item) for item in value)
                else:
                    state[index] = value
            session = _Session(state)
            session.facts = SessionFacts.from_dict(raw["facts"])
            session.last_seq, session.last_time = int(raw["seq"]), float(raw["time"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"cannot restore monitor state: {exc}") from None
        self._sessions[(agent_id, session_id)] = session


def check_sequence(policies: Sequence[Policy], events: Sequence[Event]) -> list[tuple[Event, tuple[Violation, ...]]]:
    """Run a fresh monitor over events (any sessions, in order) and pair each with its violations."""
    monitor = Monitor(policies)
    return [(event, monitor.step(event)) for event in events]
