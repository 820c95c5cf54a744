"""ASGI middleware in front of the handlers: who may call, what may be sent, and how much, before a byte is parsed.

For the scoring routes, in this order: a missing or wrong bearer token is 401 (audited) before the body is read;
a body that is not ``application/json`` is 415; a body over ALSSTRAT_MAX_BODY_BYTES is 413, whether it declares
its length or arrives in chunks. Every other request's body is held to the same size limit. The whole body is read
here, within the limit, and handed on in one piece: BentoML then parses bytes it can trust to be bounded, and no
error raised while reading (a chunked body growing past the limit) can surface as a 500 from inside BentoML.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import bentoml

Scope = dict[str, Any]
Message = dict[str, Any]

BODY_SCOPE_KEY = "alsstrat.body"
"""Where the gate leaves the request body in the ASGI scope (a reference, not a copy)."""
SCORING_ROUTES = {"/score": "score", "/score_batch": "score_batch", "/trial/plan": "trial_plan"}
"""Path -> audit endpoint name of the routes that need a token and a JSON body."""
JSON_MEDIA_TYPE = "application/json"


def _error(status: int, field: str, message: str, headers: list[tuple[bytes, bytes]] | None = None,
           ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"error": {"field": field, "message": message}}).encode()
    return status, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    *(headers or [])], body


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower case, without parameters (``""`` when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


class RequestGate:
    """Authenticate, check the media type and bound the body before the request reaches BentoML.

    The settings (tokens, body limit) and the audit log are the running service's: the gate asks for the service
    instance per request, so it never reads configuration on its own.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        try:
            service = bentoml.get_current_service()
        except bentoml.exceptions.BentoMLException:  # still starting: nothing to check against yet
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        endpoint = SCORING_ROUTES.get(scope.get("path", "")) if scope.get("method") == "POST" else None
        if endpoint is not None:
            refusal = self._refusal(service, endpoint, headers)
            if refusal is not None:
                await _respond(send, *refusal)
                return
        limit = service.settings.max_body_bytes
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _respond(send, *_too_large(limit))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message: Message = await receive()
            if message.get("type") != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _respond(send, *_too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        scope[BODY_SCOPE_KEY] = body  # for duplicate_key, after the handler's parse
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # only http.disconnect can follow

        await self.app(scope, replay, send)

    @staticmethod
    def _refusal(service: Any, endpoint: str, headers: dict[bytes, bytes],
                 ) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        authorization = headers.get(b"authorization")
        header = authorization.decode("latin-1") if authorization is not None else None
        if not service.authorised(header):
            request_id = service.audit_refusal(endpoint, header, time.perf_counter())
            return _error(401, "Authorization", "missing or invalid bearer token",
                          [(b"www-authenticate", b"Bearer"), (b"x-request-id", request_id.encode())])
        if media_type(headers.get(b"content-type", b"").decode("latin-1")) != JSON_MEDIA_TYPE:
            return _error(415, "Content-Type", f"must be {JSON_MEDIA_TYPE}")
        return None


def _too_large(limit: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return _error(413, "body", f"request body exceeds {limit} bytes")


async def _respond(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def duplicate_key(scope: Mapping[str, Any], rows: list[Any]) -> str | None:
    """The first key that a JSON object of the request body repeats, or None.

    JSON parsers, pydantic's included, keep the last of repeated keys silently, so ``{"sex": "female", ...,
    "sex": "male"}`` would be scored as male. Checking every body exactly costs as much as a second parse, so the
    exact check runs only when a count cannot rule duplicates out: each key of the body is followed by a colon, so
    when the body holds exactly as many colons as the parsed request has keys (one top-level key plus the keys of
    each row), no key can have been repeated. Colons inside strings (an id such as ``site:4``) or nested objects
    only send the request to the exact check, never past it.

    Parameters
    ----------
    scope : dict
        The request's ASGI scope, where :class:`RequestGate` left the body.
    rows : list
        The request's candidates as parsed (before validation moves anything out of them).
    """
    body = scope.get(BODY_SCOPE_KEY)
    if not isinstance(body, bytes):
        return None
    parsed_keys = 1 + sum(len(row) for row in rows if isinstance(row, dict))
    if body.count(b":") == parsed_keys:
        return None
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items) and not repeated:
            seen: set[str] = set()
            repeated.append(next(k for k, _ in items if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
        return result

    try:
        json.loads(body, object_pairs_hook=pairs)
    except ValueError:  # pydantic accepted it, so it is JSON; nothing more to say here
        return None
    return repeated[0] if repeated else None
