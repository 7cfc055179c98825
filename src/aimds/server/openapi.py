"""The OpenAPI 3.1 document, built from the pydantic models the routes validate with."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from aimds.server import schemas

_REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}}}


def _op(summary: str, ok: dict[str, Any], body: dict[str, Any] | None, auth: bool, errors: dict[str, str],
        params: list[dict[str, Any]] | None = None, status: str = "200", optional_body: bool = False,
        content: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {status: ok}}
    if content is not None:
        op["requestBody"] = {"required": True, "content": content}
    elif body is not None:
        op["requestBody"] = {"required": not optional_body, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    if auth:
        op["security"] = [{"bearer": []}]
        errors = {"401": "missing, malformed, invalid, revoked or expired credentials",
                  "403": "the caller's role may not use this route",
                  "429": "rate limited; see Retry-After",
                  "503": "the store is unavailable (fail-closed mode)"} | errors
    for code, text in errors.items():
        op["responses"][code] = _error(text)
    return op


def _json(ref: dict[str, str], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _q(name: str, kind: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": kind, **extra}}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "maxLength": 200, "pattern": r"^[A-Za-z0-9_.:@/-]{1,200}$"}}


@lru_cache(maxsize=4)
def document(max_batch: int) -> dict[str, Any]:
    """The OpenAPI document; cached on the one setting it shows (settings hold unhashable maps)."""
    c: dict[str, Any] = {}
    ref = {m.__name__: _schema(m, c) for m in (
        schemas.CheckRequest, schemas.BatchRequest, schemas.FeedbackRequest, schemas.VerdictOut, schemas.BatchOut,
        schemas.FeedbackOut, schemas.FeedbackList, schemas.AuditList, schemas.ErrorOut, schemas.Health,
        schemas.OutputCheckRequest, schemas.StreamHeader, schemas.StreamChunk, schemas.CanaryOut,
        schemas.DeanonymizeRequest, schemas.DeanonymizeOut, schemas.EventRequest, schemas.DecisionOut,
        schemas.AgentStatusOut, schemas.AgentList, schemas.QuarantineRequest, schemas.SessionResetRequest,
        schemas.ReviewDecisionRequest, schemas.ReviewOut, schemas.ReviewList, schemas.Done)}
    body_errors = {"400": "the body is not valid JSON", "413": "body, text or batch too large",
                   "415": "the body is not JSON", "422": "validation error; `field` names the field",
                   "408": "the body did not arrive in time"}
    page = [_q("after", "integer", "sequence number to continue after", minimum=0),
            _q("limit", "integer", "at most this many items", minimum=1, maximum=1000)]
    audit_filters = page + [
        _q("since", "number", "Unix time, inclusive"), _q("until", "number", "Unix time, exclusive"),
        _q("action", "string", "allow, sanitize, review or block"), _q("actor", "string", "e.g. key:<id>"),
        _q("kind", "string", "records with a finding of this threat kind"), _q("event", "string", "check, check_batch, check_output, check_output_stream, event, "
                                       "canary, quarantine, release, session_reset, review_approved, review_denied"),
        _q("format", "string", "json (paged) or jsonl (export)", enum=["json", "jsonl"]),
    ]
    paths = {
        "/v1/check": {"post": _op("Check one text", _json(ref["VerdictOut"], "the verdict, recorded in the audit trail"),
                                  ref["CheckRequest"], True, body_errors | {"503": "check timed out or audit unavailable"})},
        "/v1/check/batch": {"post": _op(f"Check up to {max_batch} texts", _json(ref["BatchOut"]),
                                        ref["BatchRequest"], True, body_errors)},
        "/v1/feedback": {
            "post": _op("Label a verdict or a text (stored durably for learning)", _json(ref["FeedbackOut"], "stored"),
                        ref["FeedbackRequest"], True, body_errors | {"404": "unknown verdict id"}, status="201"),
            "get": _op("Read stored feedback (auditor)", _json(ref["FeedbackList"]), None, True,
                       {"422": "bad query parameter"}, page),
        },
        "/v1/verdicts/{verdict_id}": {"get": _op(
            "A verdict by id (checkers see only their own)", _json(ref["VerdictOut"]), None, True,
            {"404": "unknown, expired or someone else's verdict"},
            [{"name": "verdict_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}])},
        "/v1/audit": {"get": _op("Audit records (auditor); JSONL export with format=jsonl", {
            "description": "records", "content": {"application/json": {"schema": ref["AuditList"]},
                                                  "application/x-ndjson": {"schema": {"type": "string"}}}},
            None, True, {"422": "bad query parameter"}, audit_filters)},
        "/v1/audit/verify": {"get": _op("Verify the hash chain (auditor)", _json({"type": "object"}), None, True,
                                        {"409": "the chain is broken"})},
        "/v1/check/output": {"post": _op(
            "Check a model's answer: leaked system prompt or canaries, secrets and PII, exfiltration links, "
            "jailbreak personas", _json(ref["VerdictOut"], "the verdict, recorded in the audit trail"),
            ref["OutputCheckRequest"], True, body_errors)},
        "/v1/check/output/stream": {"post": _op(
            "Check an answer as it streams (see the description of the streaming protocol)",
            {"description": "NDJSON events: {\"chunk\"} per passed piece, then one final {\"done\"}, "
                            "{\"blocked\", \"offset\", \"emitted\", \"finding\"} or {\"error\"}",
             "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
            None, True, body_errors, content={
                "application/x-ndjson": {"schema": {"type": "string"}, "examples": {"answer": {"value":
                    '{"prompt": "Summarise the page"}\n{"chunk": "The page says "}\n{"chunk": "hello."}\n'}}},
                "text/plain": {"schema": {"type": "string"}, "example": "The page says hello."}})},
        "/v1/canary": {"post": _op("Issue a canary to plant in a system prompt (admin)",
                                   _json(ref["CanaryOut"], "a new canary"), None, True, {}, status="201")},
        "/v1/deanonymize": {"post": _op(
            "Restore values that anonymize-mode redaction replaced in a session", _json(ref["DeanonymizeOut"]),
            ref["DeanonymizeRequest"], True, body_errors | {"409": "redact_mode is not anonymize"})},
        "/v1/events": {"post": _op(
            "Record one agent event and get the decision for it", _json(ref["DecisionOut"]),
            ref["EventRequest"], True, body_errors | {"400": "malformed JSON or a bad event signature"})},
        "/v1/agents": {"get": _op(
            "Agents any instance sharing the store has seen, optionally by status", _json(ref["AgentList"]), None, True,
            {"422": "bad status"}, [_q("status", "string", "filter", enum=["healthy", "suspicious", "compromised",
                                                                             "quarantined"])])},
        "/v1/agents/{agent_id}": {"get": _op(
            "One agent's behaviour status", _json(ref["AgentStatusOut"]), None, True,
            {"404": "no events of this agent seen by any instance", "422": "bad agent id"}, [_path("agent_id")])},
        "/v1/agents/{agent_id}/quarantine": {"post": _op(
            "Quarantine an agent: its tool calls are blocked on every instance (admin)",
            _json(ref["AgentStatusOut"]), ref["QuarantineRequest"], True, body_errors, [_path("agent_id")],
            optional_body=True)},
        "/v1/agents/{agent_id}/release": {"post": _op(
            "Release a quarantined agent (admin)", _json(ref["AgentStatusOut"]), None, True,
            {"409": "not quarantined", "422": "bad agent id"}, [_path("agent_id")])},
        "/v1/sessions/{session_id}/reset": {"post": _op(
            "Reset an agent session's temporal state, taint and accumulated risk", _json(ref["Done"]),
            ref["SessionResetRequest"], True, body_errors, [_path("session_id")], optional_body=True)},
        "/v1/reviews": {"get": _op("Pending human reviews of every instance sharing the store (auditor)",
                                   _json(ref["ReviewList"]), None, True, {})},
        "/v1/reviews/{review_id}/approve": {"post": _op(
            "Approve a pending review (admin)", _json(ref["ReviewOut"]), ref["ReviewDecisionRequest"], True,
            body_errors | {"404": "unknown or expired item", "409": "already decided"}, [_path("review_id")],
            optional_body=True)},
        "/v1/reviews/{review_id}/deny": {"post": _op(
            "Deny a pending review (admin)", _json(ref["ReviewOut"]), ref["ReviewDecisionRequest"], True,
            body_errors | {"404": "unknown or expired item", "409": "already decided"}, [_path("review_id")],
            optional_body=True)},
        "/healthz": {"get": _op("Liveness", _json(ref["Health"]), None, False, {})},
        "/readyz": {"get": _op("Readiness: store reachable, audit writer running", _json(ref["Health"]), None, False,
                               {"503": "not ready"})},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
            "description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "AIMDS", "version": "0.1.0",
                 "description": "Checks untrusted text for prompt injection, jailbreaks, exfiltration and leaks. "
                                "Errors are `{\"error\": {\"code\", \"message\"}}` with stable codes."},
        "paths": paths,
        "components": {"schemas": c, "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer", "description": "an API key (aimds keys create) or a JWT"}}},
    }
