"""ASGI middleware: refuse request bodies over the configured size with 413 before they are read into memory."""

from __future__ import annotations

import json
import os
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


def _limit() -> int:
    raw = os.environ.get("ALSSTRAT_MAX_BODY_BYTES", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_BODY_BYTES


class BodySizeLimit:
    """Rejects a request whose declared or streamed body exceeds ALSSTRAT_MAX_BODY_BYTES (default 32 MiB)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.max_bytes = _limit()

    async def _reject(self, send: Any) -> None:
        body = json.dumps({"error": {"field": "body", "message": f"request body exceeds {self.max_bytes} bytes"}})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(send)
                return
        seen = 0
        too_big = False

        async def counting_receive() -> Message:
            nonlocal seen, too_big
            message: Message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._reject(send)


class BodyTooLarge(Exception):
    """A chunked body grew past the limit while being read."""
