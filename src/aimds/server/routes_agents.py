"""Routes for the agent runtime defence (`aimds.agents.AgentDefense`): events, agent status,
quarantine, session reset and the human review queue.

Shared across instances through the store: quarantine (every instance refuses a quarantined agent's
calls at once), review items and the list of pending ones (any instance lists, approves or denies
them, and the waiting one sees it), and the list of known agents with the last status any instance
published for each. Per process: the temporal-policy monitor state, taint and behaviour profiles of
sessions (so one agent session should stick to one instance, e.g. by hashing the session id at the
load balancer).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from aimds.audit import action_entry
from aimds.auth import ApiRole, Principal
from aimds.errors import InvalidInput
from aimds.server.errors import ApiError
from aimds.server.http import json_response, path_id
from aimds.server.schemas import QuarantineRequest, ReviewDecisionRequest, SessionResetRequest
from aimds.server.service import Service

STATUSES = ("healthy", "suspicious", "compromised", "quarantined")
MAX_LISTED = 1000


async def _agents_call(svc: Service, fn: Any, *args: Any, chars: int = 0, **kwargs: Any) -> Any:
    """Agent state may live in a remote store: run it off the event loop then."""
    return await svc.run_guard(partial(fn, *args, **kwargs), chars, blocking_io=svc.remote_store)


async def record_event(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    if not request.headers.get("content-type", "application/json").startswith("application/json"):
        raise ApiError(415, "unsupported_media_type", "send the event as application/json")
    body = await svc.read_body(request)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
    if type(data) is not dict:
        raise ApiError(422, "validation_error", "the event must be a JSON object")
    content = data.get("content")
    if type(content) is str:
        svc.check_text_size(content, "content")
    decision = await _agents_call(svc, svc.agents.record, data, chars=len(content) if type(content) is str else 0)
    svc.metrics.labelled(svc.metrics.agent_decisions, decision.action.value).inc()
    verdict = svc.observe(decision.to_verdict())
    event = decision.event
    text = event.content or orjson.dumps(event.arguments).decode()
    headers = await svc.record([verdict], [text], principal, svc.client_address(request), "event", keep=False)
    return json_response(decision.to_dict() | {"id": verdict["id"], "audit_seq": verdict.get("audit_seq")},
                         headers=headers)


async def agent_status(svc: Service, request: Request, principal: Principal | None) -> Response:
    agent_id = path_id(request, "agent_id")
    agents = svc.agents
    known = await _agents_call(svc, agents.knows, agent_id)
    if not known and not await _agents_call(svc, agents.is_quarantined, agent_id):
        raise ApiError(404, "agent_not_found", "no instance sharing this store has seen events of this agent")
    return json_response(await _agents_call(svc, agents.agent_status, agent_id))


async def list_agents(svc: Service, request: Request, principal: Principal | None) -> Response:
    wanted = request.query_params.get("status")
    if wanted is not None and wanted not in STATUSES:
        raise ApiError(422, "validation_error", f"status must be one of {', '.join(STATUSES)}", field="status")
    agents = svc.agents
    if wanted == "compromised":
        ids = await _agents_call(svc, agents.compromised_agents)
    else:
        ids = await _agents_call(svc, agents.known_agents)
    out = []
    for agent_id in ids:
        status = await _agents_call(svc, agents.agent_status, agent_id)
        if wanted in (None, "compromised") or status["status"] == wanted or \
                (wanted == "quarantined" and status["quarantined"]):
            out.append(status)
        if len(out) >= MAX_LISTED:
            break
    return json_response({"agents": out})


async def quarantine(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    agent_id = path_id(request, "agent_id")
    body: QuarantineRequest = await svc.read_json(request, QuarantineRequest, optional=True)
    await _agents_call(svc, svc.agents.quarantine, agent_id, body.reason)
    headers = await svc.record_action(action_entry("quarantine", principal.actor, svc.client_address(request),
                                                   agent_id=agent_id, reason=body.reason))
    return json_response(await _agents_call(svc, svc.agents.agent_status, agent_id), headers=headers)


async def release(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    agent_id = path_id(request, "agent_id")
    if not await _agents_call(svc, svc.agents.is_quarantined, agent_id):
        raise ApiError(409, "not_quarantined", "this agent is not quarantined")
    await _agents_call(svc, svc.agents.release, agent_id)
    headers = await svc.record_action(action_entry("release", principal.actor, svc.client_address(request),
                                                   agent_id=agent_id))
    return json_response(await _agents_call(svc, svc.agents.agent_status, agent_id), headers=headers)


async def reset_session(svc: Service, request: Request, principal: Principal | None) -> Response:
    assert principal is not None
    session_id = path_id(request, "session_id")
    body: SessionResetRequest = await svc.read_json(request, SessionResetRequest, optional=True)
    await _agents_call(svc, svc.agents.reset_session, body.agent_id, session_id)
    headers = await svc.record_action(action_entry("session_reset", principal.actor, svc.client_address(request),
                                                   agent_id=body.agent_id, session_id=session_id))
    return json_response({"ok": True}, headers=headers)


async def list_reviews(svc: Service, request: Request, principal: Principal | None) -> Response:
    items = await _agents_call(svc, svc.agents.reviews.pending)
    return json_response({"items": [item.to_dict() for item in items[:MAX_LISTED]]})


async def _decide(svc: Service, request: Request, principal: Principal | None, approve: bool) -> Response:
    assert principal is not None
    item_id = path_id(request, "review_id")
    body: ReviewDecisionRequest = await svc.read_json(request, ReviewDecisionRequest, optional=True)
    reviews = svc.agents.reviews
    item = await _agents_call(svc, reviews.get, item_id)
    if item is None:
        raise ApiError(404, "review_not_found", "no review item with this id (unknown or expired)")
    decide = reviews.approve if approve else reviews.deny
    try:
        item = await svc.offload(decide, item_id, reviewer=principal.actor, note=body.note)
    except InvalidInput as exc:  # already decided or expired, perhaps by another instance just now
        raise ApiError(409, "review_closed", str(exc)) from None
    headers = await svc.record_action(action_entry("review_" + item.status, principal.actor,
                                                   svc.client_address(request), review_id=item_id,
                                                   agent_id=item.agent_id, tool=item.tool))
    return json_response(item.to_dict(), headers=headers)


async def approve_review(svc: Service, request: Request, principal: Principal | None) -> Response:
    return await _decide(svc, request, principal, approve=True)


async def deny_review(svc: Service, request: Request, principal: Principal | None) -> Response:
    return await _decide(svc, request, principal, approve=False)


def routes(checkers: frozenset[ApiRole], readers: frozenset[ApiRole], admins: frozenset[ApiRole]) -> list[tuple[Any, ...]]:
    auditors = frozenset({ApiRole.AUDITOR})
    return [
        ("POST", "/v1/events", "record_event", checkers, record_event),
        ("GET", "/v1/agents", "list_agents", readers, list_agents),
        ("GET", "/v1/agents/{agent_id}", "agent_status", readers, agent_status),
        ("POST", "/v1/agents/{agent_id}/quarantine", "quarantine", admins, quarantine),
        ("POST", "/v1/agents/{agent_id}/release", "release", admins, release),
        ("POST", "/v1/sessions/{session_id}/reset", "reset_session", checkers, reset_session),
        ("GET", "/v1/reviews", "list_reviews", auditors, list_reviews),
        ("POST", "/v1/reviews/{review_id}/approve", "approve_review", admins, approve_review),
        ("POST", "/v1/reviews/{review_id}/deny", "deny_review", admins, deny_review),
    ]
