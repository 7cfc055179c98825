"""API errors: one JSON shape, ``{"error": {"code", "message", "field"?, "request_id"}}``, stable codes."""

from __future__ import annotations

import orjson
from starlette.responses import Response


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}

    def response(self, request_id: str | None) -> Response:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        body["request_id"] = request_id
        return Response(
            orjson.dumps({"error": body}), status_code=self.status, media_type="application/json",
            headers=self.headers,
        )
