"""Prometheus metrics with a bounded label set, served at ``GET /metrics`` (behind the token if configured).

BentoML's own traffic metrics label every series with the raw request path, so each request to an unknown path
created about twenty new series for the life of the worker: 4,000 such requests took ``/metrics`` from 133 KB to
17.8 MB and a scrape to 7-14 s. The service therefore turns BentoML's metrics off and records the same three
series here (``bentoml_service_request_total``, ``..._duration_seconds``, ``..._in_progress``, same names and
labels), with every path outside :data:`KNOWN_PATHS` counted under the one label ``other``. The number of series
is then fixed by the routes and the status codes, whatever callers send.

``prometheus_client`` is imported on first use, not at import: ``bentoml serve`` sets PROMETHEUS_MULTIPROC_DIR in
the worker after the service module is imported, and the client picks its multiprocess mode when it is imported.
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

KNOWN_PATHS = frozenset({"/score", "/score_batch", "/model", "/healthz", "/livez", "/readyz", "/metrics",
                         "/docs.json", "/"})
"""Paths that keep their own ``endpoint`` label; anything else is :data:`OTHER`."""
OTHER = "other"
SERVICE_NAME = "als_stratifier"
NAMESPACE = "bentoml_service"


def endpoint_label(path: str) -> str:
    """The ``endpoint`` label of a request path: the path itself for a known route, else ``other``."""
    return path if path in KNOWN_PATHS else OTHER


@cache
def _instruments() -> tuple[Any, Any, Any]:
    from prometheus_client import Counter, Gauge, Histogram

    labels = ["endpoint", "service_name", "http_response_code"]
    total = Counter("request", "Requests answered, by route (unknown paths: 'other') and status.", labels,
                    namespace=NAMESPACE)
    duration = Histogram("request_duration_seconds", "Time to answer a request, seconds.", labels,
                         namespace=NAMESPACE)
    in_progress = Gauge("request_in_progress", "Requests being answered now.", ["endpoint", "service_name"],
                        namespace=NAMESPACE, multiprocess_mode="livesum")
    return total, duration, in_progress


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request under a bounded ``endpoint`` label."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        total, duration, in_progress = _instruments()
        endpoint = endpoint_label(str(scope.get("path", "")))
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before it starts a response

        async def observe(message: dict[str, Any]) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)

        gauge = in_progress.labels(endpoint=endpoint, service_name=SERVICE_NAME)
        gauge.inc()
        try:
            await self.app(scope, receive, observe)
        finally:
            gauge.dec()
            labels = {"endpoint": endpoint, "service_name": SERVICE_NAME, "http_response_code": str(status)}
            total.labels(**labels).inc()
            duration.labels(**labels).observe(time.perf_counter() - started)


def render() -> tuple[bytes, str]:
    """The current metrics in the Prometheus text format, summed over the workers when there are several."""
    import prometheus_client
    from prometheus_client import values

    _instruments()  # so that a scrape before the first request lists the series at zero
    registry: Any = prometheus_client.REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and values.ValueClass is not values.MutexValue:
        from prometheus_client import multiprocess

        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST
