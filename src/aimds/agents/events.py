"""Agent events: the trace that temporal policies and the behaviour monitor reason over.

A session is a sequence of events. Every event carries the agent and session it belongs to, a
sequence number (strictly increasing inside a session) and a time in seconds (Unix epoch or any
monotonic clock, as long as one session uses one clock).

JSON form (one object per line in a ``.jsonl`` trace)::

    {"kind": "user_message",      "agent_id": "mailbot", "session_id": "s1", "seq": 1, "time": 1700000000.0,
     "content": "Summarise my inbox"}
    {"kind": "tool_call",         "agent_id": "mailbot", "session_id": "s1", "seq": 2, "time": 1700000001.0,
     "tool": "read_inbox", "arguments": {"limit": 10}, "call_id": "c1"}
    {"kind": "tool_result",       "agent_id": "mailbot", "session_id": "s1", "seq": 3, "time": 1700000001.5,
     "tool": "read_inbox", "call_id": "c1", "content": "From: ..."}
    {"kind": "assistant_message", "agent_id": "mailbot", "session_id": "s1", "seq": 4, "time": 1700000002.0,
     "content": "You have 3 new emails."}

Optional fields: ``labels`` (taint and scan labels such as ``"untrusted"``, ``"tainted"``,
``"secret"``; filled in by `AgentDefense` when it records an event, and kept in recorded traces so an
offline check sees what the runtime saw), ``scores`` (detector score per threat kind, e.g.
``{"indirect_injection": 0.93}``), ``risk`` (overall risk of the content in [0, 1]) and
``signature`` (hex HMAC-SHA256 by the agent's key, see `aimds.agents.identity`).

Sizes are bounded so that one hostile event cannot exhaust memory: see the ``MAX_*`` constants.
"""

from __future__ import annotations

import json
import time as _time
from collections.abc import Iterable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aimds.errors import InvalidInput

MAX_CONTENT_CHARS = 1_048_576
MAX_ID_CHARS = 128
MAX_TOOL_NAME_CHARS = 128
MAX_ARGUMENTS_JSON_CHARS = 262_144
MAX_ARGUMENT_DEPTH = 8
MAX_LABELS = 64
MAX_TRACE_EVENTS = 1_000_000


class EventKind(str, Enum):
    USER_MESSAGE = "user_message"
    ASSISTANT_MESSAGE = "assistant_message"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"


class Event(BaseModel):
    """One step of an agent session. Mutable only so the defense can attach labels and scores."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    kind: EventKind
    agent_id: str = Field("default", min_length=1, max_length=MAX_ID_CHARS)
    session_id: str = Field("default", min_length=1, max_length=MAX_ID_CHARS)
    seq: int = Field(0, ge=0)
    time: float = Field(default_factory=_time.time, ge=0)
    content: str = Field("", max_length=MAX_CONTENT_CHARS)
    tool: str | None = Field(None, min_length=1, max_length=MAX_TOOL_NAME_CHARS)
    arguments: dict[str, Any] = Field(default_factory=dict)
    call_id: str | None = Field(None, max_length=MAX_ID_CHARS)
    labels: frozenset[str] = Field(default_factory=frozenset)
    scores: dict[str, float] = Field(default_factory=dict)
    risk: float = Field(0.0, ge=0.0, le=1.0)
    signature: str | None = Field(None, max_length=256)

    @field_validator("arguments")
    @classmethod
    def _bounded_arguments(cls, value: dict[str, Any]) -> dict[str, Any]:
        _check_depth(value, 0)
        size = len(json.dumps(value, default=str))
        if size > MAX_ARGUMENTS_JSON_CHARS:
            raise ValueError(f"arguments are {size} characters of JSON; the limit is {MAX_ARGUMENTS_JSON_CHARS}")
        return value

    @field_validator("labels")
    @classmethod
    def _bounded_labels(cls, value: frozenset[str]) -> frozenset[str]:
        if len(value) > MAX_LABELS or any(len(label) > 64 for label in value):
            raise ValueError(f"at most {MAX_LABELS} labels of at most 64 characters")
        return value

    @model_validator(mode="after")
    def _tool_call_named(self) -> "Event":
        if self.kind == EventKind.TOOL_CALL.value and not self.tool:
            raise ValueError("a tool_call event needs a tool name")
        return self

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


def _check_depth(value: Any, depth: int) -> None:
    if depth > MAX_ARGUMENT_DEPTH:
        raise ValueError(f"arguments nest deeper than {MAX_ARGUMENT_DEPTH} levels")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, depth + 1)


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """Validate one event from a dict or JSON text; bad input raises `InvalidInput`."""
    try:
        if isinstance(data, (str, bytes)):
            return Event.model_validate_json(data)
        return Event.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}" for err in exc.errors()[:5]]
    return "invalid event: " + "; ".join(parts)


def read_trace(path: str | Path) -> list[Event]:
    """Read a JSONL trace (one event per line; blank lines ignored). Errors name the line."""
    events: list[Event] = []
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read trace {path}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            if len(events) >= MAX_TRACE_EVENTS:
                raise InvalidInput(f"trace {path} has more than {MAX_TRACE_EVENTS} events")
            if len(line) > MAX_CONTENT_CHARS + MAX_ARGUMENTS_JSON_CHARS + 4096:
                raise InvalidInput(f"{path}:{number}: line too long")
            try:
                events.append(parse_event(line))
            except InvalidInput as exc:
                raise InvalidInput(f"{path}:{number}: {exc}") from None
    return events


def from_openai_messages(
    messages: Iterable[dict[str, Any]],
    agent_id: str = "default",
    session_id: str = "default",
    start_time: float | None = None,
) -> list[Event]:
    """Turn an OpenAI-style chat message list into events.

    ``user`` messages become user messages; ``assistant`` messages become an assistant message (when
    they have text) followed by one tool call per entry in ``tool_calls``; ``tool`` messages become
    tool results, named after the call they answer. ``system`` messages are configuration, not
    actions, and are skipped. Times are synthetic (one second apart) because the format has none.
    """
    events: list[Event] = []
    tool_names: dict[str, str] = {}
    clock = _time.time() if start_time is None else start_time

    def add(**fields: Any) -> None:
        fields.setdefault("agent_id", agent_id)
        fields.setdefault("session_id", session_id)
        events.append(parse_event({**fields, "seq": len(events) + 1, "time": clock + len(events)}))

    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidInput(f"message {index} is not an object")
        role = message.get("role")
        content = _text_of(message.get("content"), index)
        if role == "system" or role == "developer":
            continue
        if role == "user":
            add(kind="user_message", content=content)
        elif role == "assistant":
            if content:
                add(kind="assistant_message", content=content)
            for call in message.get("tool_calls") or []:
                name, arguments, call_id = _tool_call(call, index)
                if call_id:
                    tool_names[call_id] = name
                add(kind="tool_call", tool=name, arguments=arguments, call_id=call_id)
        elif role in ("tool", "function"):
            call_id = message.get("tool_call_id")
            name = tool_names.get(call_id or "") or message.get("name") or "unknown"
            add(kind="tool_result", tool=name, call_id=call_id, content=content)
        else:
            raise InvalidInput(f"message {index} has unknown role {role!r}")
    return events


def _text_of(content: Any, index: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    raise InvalidInput(f"message {index} has content of type {type(content).__name__}")


def _tool_call(call: Any, index: int) -> tuple[str, dict[str, Any], str | None]:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise InvalidInput(f"message {index}: a tool call needs a 'function' object")
    function = call["function"]
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"message {index}: a tool call needs a function name")
    raw = function.get("arguments") or "{}"
    if isinstance(raw, str):
        if len(raw) > MAX_ARGUMENTS_JSON_CHARS:
            raise InvalidInput(f"message {index}: tool arguments too large")
        try:
            arguments = json.loads(raw)
        except json.JSONDecodeError:
            arguments = {"_raw": raw}  # models emit broken JSON; keep it scannable rather than drop it
    else:
        arguments = raw
    if not isinstance(arguments, dict):
        arguments = {"_value": arguments}
    return name, arguments, call.get("id")


def iter_jsonl_events(lines: Iterable[str]) -> Iterator[Event]:
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield parse_event(line)
            except InvalidInput as exc:
                raise InvalidInput(f"line {number}: {exc}") from None
