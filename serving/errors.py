"""One error shape for every 400: ``{"error": {"field": ..., "message": ...}}``.

The handlers answer a bad candidate in that shape. Problems found before a handler runs (invalid JSON, a missing
``candidate``/``candidates`` key, an empty batch, a body of the wrong type) are answered by BentoML as
``{"error": "1 validation error for Input", "detail": [pydantic errors]}``. This middleware rewrites exactly that
shape into ours, naming the first offending field, so clients parse one format. Other responses pass untouched;
only 400 responses are buffered (they are small).
"""

from __future__ import annotations

import json
import logging
from typing import Any

Message = dict[str, Any]

_MESSAGES = {
    "json_invalid": "invalid JSON",
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "too_short": "must hold at least one candidate",
    "list_type": "must be a JSON array",
    "dict_type": "must be a JSON object",
    "model_type": "the request body must be a JSON object",
    "model_attributes_type": "the request body must be a JSON object",
}


def uniform_error(body: bytes) -> bytes | None:
    """Our shape for a BentoML validation-error body, or None when ``body`` is something else."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("error"), str) and isinstance(data.get("detail"), list)
            and data["detail"] and isinstance(data["detail"][0], dict)):
        return None
    # A field typed as a union (the batch's candidate list) reports one error per member, with the member's label
    # (e.g. "list[any]") inside the location. Field names never contain "[": drop those parts, then count each
    # (location, problem) once.
    problems: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    for detail in data["detail"]:
        if isinstance(detail, dict):
            loc = tuple(str(p) for p in detail.get("loc") or () if not (isinstance(p, str) and "[" in p))
            problems.setdefault((loc, str(detail.get("type", ""))), detail)
    (loc, kind), first = next(iter(problems.items()))
    field = ".".join(loc) if loc else "body"
    message = _MESSAGES.get(kind, str(first.get("msg", "invalid request")))
    if kind == "json_invalid" and first.get("msg"):
        message = str(first["msg"])
    if len(problems) > 1:
        more = len(problems) - 1
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return json.dumps({"error": {"field": field, "message": message}}).encode()


class UniformErrors:
    """ASGI middleware: rewrite BentoML's request-validation 400 bodies into the service's error shape."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def send_wrapper(message: Message) -> None:
            nonlocal held
            kind = message.get("type")
            if kind == "http.response.start" and message.get("status") == 400:
                held = message
                return
            if held is None or kind != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            original = b"".join(chunks)
            body = uniform_error(original) or original
            headers = [(k, v) for k, v in held.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**held, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_wrapper)


# ------------------------------------------------------------------------------------------- the server log
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"
"""The logger BentoML reports a failed request on, with the exception attached (``log_exception``)."""


class CallerValuesFilter(logging.Filter):
    """Replace BentoML's traceback for a refused request by one line that carries no caller-supplied value.

    BentoML logs every request it refuses (invalid JSON, a body of the wrong shape) at ERROR level with the
    exception, and pydantic's message quotes the offending input: a patient identifier or a free-text note sent by
    mistake would land in the server log. For a refusal (a pydantic validation error, or a BentoML error with a
    4xx code) the record keeps the route and method (from BentoML's own arguments) and the kinds of problem, and
    loses the exception. Errors of the server itself (5xx) keep their traceback: those are ours to debug.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        kinds = _refusal_kinds(exc)
        if kinds is None:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        where = f"{args[0]} [{args[1]}]" if len(args) >= 2 else "a route"
        record.msg = "refused a bad request to %s: %s (caller values are never logged)"
        record.args = (where, kinds)
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _refusal_kinds(exc: BaseException) -> str | None:
    """A value-free summary of why a request was refused, or None when ``exc`` is not a refusal."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        kinds = sorted({str(e.get("type")) for e in exc.errors(include_input=False, include_context=False)})
        return f"{exc.error_count()} validation error(s): {', '.join(kinds)}"
    code = getattr(getattr(exc, "error_code", None), "value", None)
    if isinstance(code, int) and 400 <= code < 500:
        return f"{type(exc).__name__} (HTTP {code})"
    return None


def install_log_filter() -> None:
    """Attach :class:`CallerValuesFilter` to BentoML's request logger once (called when a worker starts)."""
    target = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, CallerValuesFilter) for f in target.filters):
        target.addFilter(CallerValuesFilter())
