"""The routes of the trial team's page: ``/`` (the page), ``/web/<file>`` (its script and style) and ``/docs``.

The page itself is public: it holds no data. Everything it shows comes from the data endpoints, which it calls with
the bearer token the user types (kept in memory only); the request gate still guards those endpoints. A strict
Content-Security-Policy allows nothing but this origin: no inline script, no third-party script, font or style.

``/docs`` is a local Swagger UI. BentoML's own index page would be Swagger UI too, but it loads a third-party tag
manager; this one uses only the Swagger UI files BentoML ships and serves under ``/static_content``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
"""The page's Content-Security-Policy: this origin only, no inline script or style."""
DOCS_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
"""Swagger UI sets inline styles on its elements; scripts and everything else still come from this origin only."""
STATIC_FILES = {"index.html": "text/html; charset=utf-8", "docs.html": "text/html; charset=utf-8",
                "app.js": "text/javascript; charset=utf-8", "docs.js": "text/javascript; charset=utf-8",
                "app.css": "text/css; charset=utf-8"}
"""The package's static files (``serving/web/static``) and their media types."""
ASSET_PREFIX = "/web/"


@cache
def static_file(name: str) -> bytes:
    """The bytes of one of :data:`STATIC_FILES` (read once per worker from the installed package)."""
    if name not in STATIC_FILES:
        raise KeyError(name)
    return resources.files("serving.web").joinpath("static", name).read_bytes()


def _headers(csp: str) -> dict[str, str]:
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache"}


async def _index(request: Request) -> Response:
    return Response(static_file("index.html"), media_type=STATIC_FILES["index.html"], headers=_headers(PAGE_CSP))


async def _docs(request: Request) -> Response:
    return Response(static_file("docs.html"), media_type=STATIC_FILES["docs.html"], headers=_headers(DOCS_CSP))


def _asset(name: str) -> Route:
    async def serve(request: Request) -> Response:
        return Response(static_file(name), media_type=STATIC_FILES[name], headers=_headers(PAGE_CSP))

    return Route(ASSET_PREFIX + name, endpoint=serve, methods=["GET"])


def page_routes() -> list[Route]:
    """The page's routes, for the Starlette app the service mounts at ``/``.

    BentoML 1.4 puts mounted apps before its own index route (``/``) and before ``/docs.json``, so these answer
    those paths instead of BentoML's page (a test fails if a BentoML upgrade changes that order).
    """
    return [Route("/", endpoint=_index, methods=["GET"]), Route("/docs", endpoint=_docs, methods=["GET"]),
            *(_asset(name) for name in ("app.js", "docs.js", "app.css"))]
