"""AgentDefense: the runtime defence for agents. Record events, get a decision per event, guard tools.

Flow per event: verify the agent's signature (when keys are configured) → enrich the event
(untrusted content scanned with the guard and remembered for taint; tool-call arguments scanned for
injection, traversal, SSRF and secrets, and checked for copied untrusted text) → advance the temporal
policy monitor → update the agent's behaviour profile → decide (strictest of policy responses,
argument findings and content verdicts) → run the responses (review queue, quarantine, session
reset) through the mitigation scheduler. The server exposes the same methods over HTTP.

Thread-safe: one lock around the stateful part; text scanning runs outside it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aimds.agents.argscan import ArgumentScanner
from aimds.agents.behaviour import AgentHealth, AgentProfile, BehaviourMonitor
from aimds.agents.board import AgentBoard
from aimds.agents.events import Event, EventKind, parse_event
from aimds.agents.identity import KeyRing
from aimds.agents.ltl.atoms import argument_domains
from aimds.agents.monitor import Monitor, Violation
from aimds.agents.policy import (
    HUMAN_HANDOFF,
    MAX_FALLBACKS,
    Policy,
    PolicyAction,
    PolicySet,
    default_policies,
    load_policies,
)
from aimds.agents.review import ReviewQueue
from aimds.agents.scheduler import MitigationScheduler
from aimds.agents.spotlight import SpotlightMode, spotlight
from aimds.agents.taint import TaintTracker
from aimds.errors import AimdsError, Blocked, ConfigError, InvalidInput
from aimds.store.base import Store
from aimds.types import Action, Finding, Role, ThreatKind, Verdict, strictest

ScanFn = Callable[[str, str], Verdict]
log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

_POLICY_TO_ACTION = {
    PolicyAction.LOG.value: Action.ALLOW,
    PolicyAction.SANITIZE.value: Action.SANITIZE,
    PolicyAction.REVIEW.value: Action.REVIEW,
    PolicyAction.BLOCK.value: Action.BLOCK,
    PolicyAction.QUARANTINE.value: Action.BLOCK,
    PolicyAction.RESET.value: Action.BLOCK,
    PolicyAction.REROUTE.value: Action.BLOCK,  # unless a fallback chain takes over, see _reroute
}
_QUARANTINE_KEY = "aimds:agents:quarantine:"
_TOOL_CALL, _TOOL_RESULT, _USER_MESSAGE = (EventKind.TOOL_CALL.value, EventKind.TOOL_RESULT.value,
                                           EventKind.USER_MESSAGE.value)
MAX_SESSIONS = 100_000
ARG_BLOCK_SCORE = 0.8
ARG_REVIEW_SCORE = 0.5


@dataclass(frozen=True)
class Decision:
    """What to do with one event, and why."""

    action: Action
    event: Event
    violations: tuple[Violation, ...] = ()
    findings: tuple[Finding, ...] = ()
    reasons: tuple[str, ...] = ()
    review_id: str | None = None
    reroute: tuple[str, ...] = ()  # fallback chain offered instead of the stopped call, in order
    agent_status: str = AgentHealth.HEALTHY.value
    anomaly: float = 0.0
    latency_ms: float = 0.0
    content_verdict: Verdict | None = field(default=None, repr=False)

    @property
    def allowed(self) -> bool:
        return not self.action.stops

    def to_verdict(self) -> Verdict:
        policy_findings = tuple(
            Finding(ThreatKind.POLICY_VIOLATION, "policy", 1.0, f"policy {v.policy} violated", rule_id=v.policy,
                    metadata={"events": list(v.events)})
            for v in self.violations
        )
        findings = policy_findings + self.findings
        return Verdict(
            action=self.action,
            risk=max((f.score for f in findings), default=self.event.risk),
            findings=findings,
            role=Role.TOOL_OUTPUT if self.event.kind == EventKind.TOOL_RESULT.value else Role.ASSISTANT,
            latency_ms=self.latency_ms,
            session_id=self.event.session_id,
            agent_id=self.event.agent_id,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "seq": self.event.seq,
            "agent_id": self.event.agent_id,
            "session_id": self.event.session_id,
            "labels": sorted(self.event.labels),
            "violations": [v.to_dict() for v in self.violations],
            "findings": [f.to_dict() for f in self.findings],
            "reasons": list(self.reasons),
            "review_id": self.review_id,
            "reroute": list(self.reroute) or None,
            "agent_status": self.agent_status,
            "anomaly": round(self.anomaly, 4),
            "latency_ms": round(self.latency_ms, 3),
        }


class _SessionContext:
    __slots__ = ("taint", "last_seq")

    def __init__(self) -> None:
        self.taint = TaintTracker()
        self.last_seq = 0


def _check_fallbacks(fallbacks: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    checked = {}
    for tool, chain in fallbacks.items():
        chain = (chain,) if isinstance(chain, str) else tuple(chain)
        if not chain or len(chain) > MAX_FALLBACKS or not all(isinstance(t, str) and t for t in chain):
            raise ConfigError(f"fallback chain for {tool!r} must list 1 to {MAX_FALLBACKS} tool names")
        checked[str(tool)] = chain
    return checked


def _jsonable(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if depth > 6:
        return repr(value)[:1000]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in list(value.items())[:1000]}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v, depth + 1) for v in list(value)[:1000]]
    return repr(value)[:1000]


def _result_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, bytes):
        return result.decode("utf-8", "replace")
    try:
        return json.dumps(_jsonable(result), ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(result)


class AgentDefense:
    def __init__(
        self,
        guard: Any | None = None,
        *,
        scan: ScanFn | None = None,
        policies: PolicySet | Sequence[Policy] | Sequence[str | Path] | None = None,
        lists: Mapping[str, Sequence[str]] | None = None,
        store: Store | None = None,
        keys: KeyRing | None = None,
        require_signatures: bool = False,
        review_timeout_s: float = 300.0,
        trusted_tools: Iterable[str] = (),
        spotlight_mode: SpotlightMode | str = SpotlightMode.DATAMARK,
        block_injected_results: bool = False,
        scan_user_messages: bool = True,
        fail_closed: bool = True,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``fallbacks`` maps a tool name to the chain a ``reroute`` policy offers when the policy
        names none, e.g. ``{"send_email": ["draft_email", "human"]}`` (``human``: a human handoff
        through the review queue)."""
        if scan is None:
            if guard is None:
                from aimds.guard import Guard

                guard = Guard()
            scan = lambda text, role: guard.check(text, role=role)  # noqa: E731
        self._scan = scan
        self.lists = dict(lists or {})
        self.policies = self._load_policies(policies)
        self.monitor = Monitor(self.policies.runtime, max_sessions=MAX_SESSIONS)
        if store is None:
            from aimds.store.memory import MemoryStore

            store = MemoryStore()
        self.store = store
        self.keys = keys
        self.require_signatures = require_signatures
        self.argscan = ArgumentScanner(self.lists.get("allowed_domains", ()))
        self.behaviour = BehaviourMonitor()
        self.reviews = ReviewQueue(store, timeout_s=review_timeout_s, clock=clock)
        self.scheduler = MitigationScheduler()
        self.trusted_tools = frozenset(trusted_tools)
        self.spotlight_mode = SpotlightMode(spotlight_mode)
        self.block_injected_results = block_injected_results
        self.scan_user_messages = scan_user_messages
        self.fail_closed = fail_closed
        self.fallbacks = _check_fallbacks(fallbacks or {})
        self.board = AgentBoard(store)
        self._published: dict[str, tuple[str, float]] = {}  # agent -> (status, time) this process last published
        self._outbox: list[dict[str, Any]] = []  # status records to publish once the lock is released
        self._policy_fallbacks = {p.name: p.fallback for p in self.policies.runtime}
        self._tools: dict[str, Callable[..., Any]] = {}  # guarded tools by name: fallback targets
        self._rerouting: contextvars.ContextVar[bool] = contextvars.ContextVar(
            f"aimds_agent_rerouting_{id(self)}", default=False)
        self._clock = clock
        self._lock = threading.RLock()
        self._sessions: OrderedDict[tuple[str, str], _SessionContext] = OrderedDict()
        self._current: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar(
            f"aimds_agent_session_{id(self)}", default=("default", "default")
        )

    def _load_policies(self, policies: Any) -> PolicySet:
        if policies is None:
            return default_policies(self.lists)
        if isinstance(policies, PolicySet):
            return policies
        items = list(policies)
        if all(isinstance(p, Policy) for p in items):
            return PolicySet(items)
        return load_policies(items, self.lists)

    # -- sessions ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self, agent_id: str, session_id: str) -> Iterator[None]:
        """Guarded tools called inside this block are attributed to this agent and session."""
        token = self._current.set((agent_id, session_id))
        try:
            yield
        finally:
            self._current.reset(token)

    def _context(self, agent_id: str, session_id: str) -> _SessionContext:
        key = (agent_id, session_id)
        context = self._sessions.get(key)
        if context is None:
            context = self._sessions[key] = _SessionContext()
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return context

    def reset_session(self, agent_id: str, session_id: str) -> None:
        """Recovery: drop the session's temporal state, taint and accumulated risk."""
        with self._lock:
            self.monitor.reset(agent_id, session_id)
            self.behaviour.reset_session(agent_id, session_id)
            context = self._sessions.get((agent_id, session_id))
            if context is not None:
                context.taint = TaintTracker()

    # -- agents ------------------------------------------------------------------------------------
    def quarantine(self, agent_id: str, reason: str = "quarantined by policy") -> None:
        self.store.set(_QUARANTINE_KEY + agent_id, json.dumps({"reason": reason[:500], "at": self._clock()}).encode())
        with self._lock:
            self.behaviour.profile(agent_id).quarantined = True

    def release(self, agent_id: str) -> None:
        """Lift quarantine and clear the agent's compromised status on every instance."""
        self.store.delete(_QUARANTINE_KEY + agent_id)
        with self._lock:
            self.behaviour.release(agent_id)
            record = self._status_record(agent_id, self.behaviour.health(agent_id).value)
        self.board.publish(record | {"release": True})

    def is_quarantined(self, agent_id: str) -> bool:
        return self.store.get(_QUARANTINE_KEY + agent_id) is not None

    def knows(self, agent_id: str) -> bool:
        """Whether this or another instance sharing the store has seen the agent."""
        self._sync_board()
        return self.behaviour.has(agent_id) or self.board.latest(agent_id) is not None

    def known_agents(self) -> list[str]:
        """Agents seen by any instance sharing the store."""
        self._sync_board()
        return list(dict.fromkeys([*self.behaviour.known_agents(), *self.board.known()]))

    def agent_status(self, agent_id: str) -> dict[str, Any]:
        """The agent's profile here; status, trust and reasons from another instance when that one
        changed them after this one last did (the newest change wins)."""
        self._sync_board()
        return self._status(agent_id)

    def _status(self, agent_id: str) -> dict[str, Any]:
        quarantined = self.is_quarantined(agent_id)
        with self._lock:
            if self.behaviour.has(agent_id):
                profile = self.behaviour.profile(agent_id)
                profile.quarantined = quarantined
                out = profile.to_dict(self.behaviour.health(agent_id))
            else:  # seen elsewhere or not at all: no profile is made here for it
                out = AgentProfile(agent_id, quarantined=quarantined).to_dict(AgentHealth.HEALTHY)
            mine = self._published.get(agent_id)
        shared = self.board.latest(agent_id)
        if shared is not None and (mine is None or float(shared["at"]) > mine[1]):
            for key in ("status", "trust", "anomaly", "violations", "reasons"):
                if key in shared:
                    out[key] = shared[key]
        if quarantined:
            out["status"] = AgentHealth.COMPROMISED.value
        return out

    def compromised_agents(self) -> list[str]:
        return [a for a in self.known_agents() if self._status(a)["status"] == AgentHealth.COMPROMISED.value]

    def _status_record(self, agent_id: str, health: str) -> dict[str, Any]:
        """What other instances learn about an agent (called under the lock)."""
        at = self._clock()
        self._published[agent_id] = (health, at)
        if len(self._published) > MAX_SESSIONS:
            self._published.pop(next(iter(self._published)))
        profile = self.behaviour.profile(agent_id)
        return {"agent_id": agent_id, "at": at, "status": health, "trust": round(profile.trust, 4),
                "anomaly": round(profile.anomaly, 4), "violations": profile.violations, "reasons": profile.reasons[-5:]}

    def _sync_board(self) -> None:
        """Apply releases made on other instances after this one last changed the agent's status."""
        for record in self.board.sync():
            if not record.get("release"):
                continue
            agent_id, at = str(record["agent_id"]), float(record["at"])
            with self._lock:
                mine = self._published.get(agent_id)
                if self.behaviour.has(agent_id) and (mine is None or mine[1] < at):
                    self.behaviour.release(agent_id)
                    self._published[agent_id] = (self.behaviour.health(agent_id).value, at)

    # -- events ------------------------------------------------------------------------------------
    def record(self, event: Event | Mapping[str, Any] | str) -> Decision:
        """Record one event and decide what to do with it. Bad input raises an `AimdsError`."""
        started = time.perf_counter()
        event = event if isinstance(event, Event) else parse_event(dict(event) if isinstance(event, Mapping) else event)
        if self.keys is not None and (self.require_signatures or event.signature):
            self.keys.verify_event(event)
        elif self.require_signatures:
            from aimds.agents.identity import SignatureError

            raise SignatureError("signatures are required but no key ring is configured")
        verdict, scan_failed = self._scan_content(event)
        with self._lock:
            decision = self._decide(event, verdict, scan_failed, started)
            outbox: list[dict[str, Any]] = []
            if self._outbox:
                outbox, self._outbox = self._outbox, []
        if self.scheduler.queued:
            self.scheduler.run_pending()
        for record in outbox:
            try:
                self.board.publish(record)
            except AimdsError as exc:  # the decision stands; other instances learn the status later
                log.warning("agent status not published: %s", exc)
        return decision

    def _scan_content(self, event: Event) -> tuple[Verdict | None, bool]:
        if not event.content:
            return None, False
        if event.kind == EventKind.TOOL_RESULT.value and event.tool not in self.trusted_tools:
            role = "tool_output"
        elif event.kind == EventKind.USER_MESSAGE.value and self.scan_user_messages:
            role = "user"
        else:
            return None, False
        try:
            return self._scan(event.content, role), False
        except AimdsError:
            raise
        except Exception:  # a broken detector must not wave content through
            return None, True

    def _decide(self, event: Event, verdict: Verdict | None, scan_failed: bool, started: float) -> Decision:
        agent, session_id = event.agent_id, event.session_id
        context = self._context(agent, session_id)
        if event.seq == 0:
            event.seq = context.last_seq + 1
        context.last_seq = max(context.last_seq, event.seq)
        labels = set(event.labels)
        actions: list[Action] = []
        reasons: list[str] = []
        findings: list[Finding] = []
        kind = event.kind
        is_call = kind == _TOOL_CALL
        untrusted = kind == _TOOL_RESULT and event.tool not in self.trusted_tools

        if untrusted:
            labels.add("untrusted")
            context.taint.add_untrusted(event.content)
        if verdict is not None:
            scores = dict(event.scores)
            for finding in verdict.findings:
                scores[finding.kind.value] = max(scores.get(finding.kind.value, 0.0), finding.score)
            event.scores, event.risk = scores, max(event.risk, verdict.risk)
            if verdict.action.stops:
                labels.add("injection" if untrusted else "risky")
                reasons.extend(verdict.reasons[:3])
            if untrusted:
                actions.append(Action.BLOCK if verdict.action is Action.BLOCK and self.block_injected_results
                               else Action.SANITIZE if verdict.action.stops else verdict.action)
            else:
                actions.append(verdict.action)
        if scan_failed:
            reasons.append("content scan failed")
            actions.append(Action.BLOCK if self.fail_closed else Action.ALLOW)
        if event.content and (kind == _USER_MESSAGE or kind == _TOOL_RESULT):
            if self.behaviour.observe_content(agent, session_id, event.risk, untrusted).escalating:
                reasons.append("risk is escalating over the conversation")
        if self.behaviour.session(agent, session_id).escalating:
            labels.add("escalating")

        anomaly = 0.0
        if is_call:
            findings = self.argscan.scan(event.arguments)
            for finding in findings:
                labels.add(finding.rule_id or finding.kind.value)
                if finding.score >= ARG_REVIEW_SCORE:
                    actions.append(Action.BLOCK if finding.score >= ARG_BLOCK_SCORE else Action.REVIEW)
                    reasons.append(finding.reason)
            copied = context.taint.tainted_arguments(event.arguments)
            if copied:
                labels.add("tainted")
            shape = hash((event.tool, tuple(sorted(event.arguments)),
                          tuple(sorted(set(argument_domains(event.arguments))))))
            anomaly = self.behaviour.observe_tool_call(agent, event.tool or "", shape, event.time)
            if self.is_quarantined(agent):
                actions.append(Action.BLOCK)
                reasons.append(f"agent {agent} is quarantined")

        event.labels = frozenset(labels)
        violations = self.monitor.step(event)
        chain: tuple[str, ...] = ()
        for violation in violations:
            reasons.append(f"policy {violation.policy} violated (events {list(violation.events)})")
            if violation.action == PolicyAction.REROUTE.value:
                found = self._policy_fallbacks.get(violation.policy) or self.fallbacks.get(event.tool or "", ())
                if found and not self._rerouting.get():
                    chain = chain or found
                    continue
                reasons.append("no fallback for this call" if not found else "a fallback call is not rerouted again")
            actions.append(_POLICY_TO_ACTION[violation.action])
            if violation.action == PolicyAction.QUARANTINE.value:
                self.scheduler.submit(f"quarantine {agent}", functools.partial(self.quarantine, agent,
                                      f"policy {violation.policy}"), priority=0)
            elif violation.action == PolicyAction.RESET.value:
                self.scheduler.submit(f"reset {agent}/{session_id}",
                                      functools.partial(self.reset_session, agent, session_id), priority=1)
        self.behaviour.observe_outcome(agent, [v.action for v in violations], [v.policy for v in violations])
        health = self.behaviour.health(agent).value
        published = self._published.get(agent)
        if published is None or published[0] != health:  # first sight here, or a new status: tell the others
            self._outbox.append(self._status_record(agent, health))

        action = strictest(actions)
        if chain:
            action, chain = self._reroute(action, chain, reasons)
        review_id = None
        if action is Action.REVIEW:
            item = self.reviews.submit(agent, session_id, event.tool, event.arguments, reasons)
            review_id = item.id
        return Decision(
            action=action, event=event, violations=violations, findings=tuple(findings), reasons=tuple(reasons),
            review_id=review_id, reroute=chain, agent_status=health, anomaly=anomaly,
            latency_ms=(time.perf_counter() - started) * 1000, content_verdict=verdict,
        )

    @staticmethod
    def _reroute(action: Action, chain: tuple[str, ...], reasons: list[str]) -> tuple[Action, tuple[str, ...]]:
        """A reroute replaces the call only when nothing else blocks it: a blocked call (secret in the
        arguments, quarantined agent, a block policy) stays blocked with no fallback offered. With a
        human first in the chain the call goes to the review queue; otherwise it is stopped and the
        caller runs the chain (`wrap` does this for guarded tools)."""
        if action is Action.BLOCK:
            reasons.append("fallback not offered: the call is blocked")
            return action, ()
        if chain[0] == HUMAN_HANDOFF:
            reasons.append(f"handed to a human (fallback chain {list(chain)})")
            return Action.REVIEW, chain
        reasons.append(f"rerouted to {chain[0]} (fallback chain {list(chain)})")
        return Action.BLOCK, chain

    # -- tool interception ---------------------------------------------------------------------------
    def tool(self, name: str | None = None, *, spotlight_mode: SpotlightMode | str | None = None) -> Callable[[F], F]:
        """Decorator: ``@defense.tool("send_email")`` guards a sync or async tool."""

        def decorate(func: F) -> F:
            return self.wrap(func, name, spotlight_mode=spotlight_mode)

        return decorate

    def wrap(self, func: F, name: str | None = None, *, spotlight_mode: SpotlightMode | str | None = None) -> F:
        """Guard ``func``: arguments checked before (a stopped call raises `Blocked` and never runs),
        the result scanned as untrusted after, and returned spotlighted when it is text."""
        tool_name = name or getattr(func, "__name__", "tool")
        mode = SpotlightMode(spotlight_mode) if spotlight_mode is not None else self.spotlight_mode
        signature = inspect.signature(func)

        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Decision:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise InvalidInput(f"bad arguments for tool {tool_name}: {exc}") from None
            arguments: dict[str, Any] = {}
            for key, value in bound.arguments.items():
                kind = signature.parameters[key].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update({str(k): _jsonable(v) for k, v in value.items()})
                else:
                    arguments[key] = _jsonable(value)
            agent, session_id = self._current.get()
            return self.record(Event(kind="tool_call", tool=tool_name, arguments=arguments, agent_id=agent,
                                     session_id=session_id, time=self._clock()))

        def after(result: Any, call: Decision) -> Any:
            text = _result_text(result)[: 1_048_576]
            decision = self.record(Event(kind="tool_result", tool=tool_name, content=text, call_id=str(call.event.seq),
                                         agent_id=call.event.agent_id, session_id=call.event.session_id,
                                         time=self._clock()))
            if decision.action is Action.BLOCK:
                raise Blocked(decision.to_verdict(), f"result of {tool_name} blocked: " + "; ".join(decision.reasons[:3]))
            if isinstance(result, str) and tool_name not in self.trusted_tools:
                return spotlight(result, mode, source=tool_name)
            return result

        def refuse(decision: Decision, notes: Sequence[str] = ()) -> Blocked:
            error = Blocked(decision.to_verdict(), f"{tool_name} {decision.action.value}: "
                            + "; ".join([*decision.reasons[:3], *notes]))
            error.decision = decision  # type: ignore[attr-defined]
            return error

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                decision = before(args, kwargs)
                if decision.reroute:
                    async def original() -> Any:
                        return after(await func(*args, **kwargs), decision)

                    return await self._follow_chain_async(decision, args, kwargs, original, refuse)
                if decision.action is Action.REVIEW and decision.review_id:
                    if not await self.reviews.wait_async(decision.review_id):
                        raise refuse(decision)
                elif decision.action.stops:
                    raise refuse(decision)
                return after(await func(*args, **kwargs), decision)

            self._tools[tool_name] = guarded_async
            return guarded_async  # type: ignore[return-value]

        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            decision = before(args, kwargs)
            if decision.reroute:
                return self._follow_chain(decision, args, kwargs, lambda: after(func(*args, **kwargs), decision),
                                          refuse)
            if decision.action is Action.REVIEW and decision.review_id:
                if not self.reviews.wait(decision.review_id):
                    raise refuse(decision)
            elif decision.action.stops:
                raise refuse(decision)
            return after(func(*args, **kwargs), decision)

        self._tools[tool_name] = guarded
        return guarded  # type: ignore[return-value]

    # -- reroute: try the fallback chain in order ---------------------------------------------------
    def _handoff(self, decision: Decision, position: int, notes: list[str]) -> str:
        """The review item for a human in the chain (made by `record` when the human comes first)."""
        if position == 0 and decision.review_id:
            return decision.review_id
        event = decision.event
        return self.reviews.submit(event.agent_id, event.session_id, event.tool, event.arguments,
                                   [*decision.reasons, *notes]).id

    def _fallback(self, target: str, notes: list[str]) -> Callable[..., Any] | None:
        fallback = self._tools.get(target)
        if fallback is None:
            notes.append(f"fallback {target} is not a guarded tool")
        return fallback

    def _follow_chain(self, decision: Decision, args: tuple[Any, ...], kwargs: dict[str, Any],
                      original: Callable[[], Any], refuse: Callable[[Decision, Sequence[str]], Blocked]) -> Any:
        """Each fallback tool gets the stopped call's arguments and runs guarded (its own checks
        apply, without a second reroute); a human who approves lets the original call run."""
        notes: list[str] = []
        for position, target in enumerate(decision.reroute):
            if target == HUMAN_HANDOFF:
                if self.reviews.wait(self._handoff(decision, position, notes)):
                    return original()
                notes.append("the human handoff was denied or timed out")
                continue
            fallback = self._fallback(target, notes)
            if fallback is None:
                continue
            if inspect.iscoroutinefunction(fallback):
                notes.append(f"fallback {target} is async and the stopped tool is not")
                continue
            token = self._rerouting.set(True)
            try:
                return fallback(*args, **kwargs)
            except (Blocked, InvalidInput) as exc:
                notes.append(f"fallback {target} refused: {exc}")
            finally:
                self._rerouting.reset(token)
        raise refuse(decision, notes)

    async def _follow_chain_async(self, decision: Decision, args: tuple[Any, ...], kwargs: dict[str, Any],
                                  original: Callable[[], Any],
                                  refuse: Callable[[Decision, Sequence[str]], Blocked]) -> Any:
        notes: list[str] = []
        for position, target in enumerate(decision.reroute):
            if target == HUMAN_HANDOFF:
                if await self.reviews.wait_async(self._handoff(decision, position, notes)):
                    return await original()
                notes.append("the human handoff was denied or timed out")
                continue
            fallback = self._fallback(target, notes)
            if fallback is None:
                continue
            token = self._rerouting.set(True)
            try:
                result = fallback(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result
            except (Blocked, InvalidInput) as exc:
                notes.append(f"fallback {target} refused: {exc}")
            finally:
                self._rerouting.reset(token)
        raise refuse(decision, notes)
