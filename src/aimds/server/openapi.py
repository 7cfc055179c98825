"""The OpenAPI 3.1 document, built from the pydantic models the routes validate with."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from aimds.server import schemas
from aimds.server.settings import ServerSettings

_REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}}}


def _op(summary: str, ok: dict[str, Any], body: dict[str, str] | None, auth: bool, errors: dict[str, str],
        params: list[dict[str, Any]] | None = None, status: str = "200") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {status: ok}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
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


@lru_cache(maxsize=4)
def document(settings: ServerSettings) -> dict[str, Any]:
    c: dict[str, Any] = {}
    ref = {m.__name__: _schema(m, c) for m in (
        schemas.CheckRequest, schemas.BatchRequest, schemas.FeedbackRequest, schemas.VerdictOut, schemas.BatchOut,
        schemas.FeedbackOut, schemas.FeedbackList, schemas.AuditList, schemas.ErrorOut, schemas.Health)}
    body_errors = {"400": "the body is not valid JSON", "413": "body, text or batch too large",
                   "415": "the body is not JSON", "422": "validation error; `field` names the field",
                   "408": "the body did not arrive in time"}
    page = [_q("after", "integer", "sequence number to continue after", minimum=0),
            _q("limit", "integer", "at most this many items", minimum=1, maximum=1000)]
    audit_filters = page + [
        _q("since", "number", "Unix time, inclusive"), _q("until", "number", "Unix time, exclusive"),
        _q("action", "string", "allow, sanitize, review or block"), _q("actor", "string", "e.g. key:<id>"),
        _q("kind", "string", "records with a finding of this threat kind"), _q("event", "string", "check, check_batch"),
        _q("format", "string", "json (paged) or jsonl (export)", enum=["json", "jsonl"]),
    ]
    paths = {
        "/v1/check": {"post": _op("Check one text", _json(ref["VerdictOut"], "the verdict, recorded in the audit trail"),
                                  ref["CheckRequest"], True, body_errors | {"503": "check timed out or audit unavailable"})},
        "/v1/check/batch": {"post": _op(f"Check up to {settings.max_batch} texts", _json(ref["BatchOut"]),
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
