"""A bounded HTTP load generator for loopback benchmarks: latency percentiles and throughput.

Each worker thread owns one keep-alive ``httpx.Client``; the number of requests is fixed in advance, so every
run stops by itself. Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    requests_per_s: float


def _worker(url: str, path: str, body: bytes, headers: dict[str, str], n: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, headers={**headers, "Content-Type": "application/json"}, timeout=60.0) as client:
        for _ in range(n):
            started = time.perf_counter()
            response = client.post(path, content=body)
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200
    return latencies, errors


def run_load(url: str, path: str, body: Any, *, headers: dict[str, str] | None = None, concurrency: int = 1,
             requests_per_worker: int = 200, warmup: int = 20) -> LoadResult:
    """Send ``concurrency * requests_per_worker`` POST requests (after a warm-up) and summarise them.

    The body is encoded to JSON once, before timing: the figures are the server's, not the client's encoder's.
    """
    if not url.startswith("http://127.0.0.1"):
        raise ValueError(f"benchmarks only target loopback, got {url}")
    headers = headers or {}
    body = json.dumps(body).encode()
    _worker(url, path, body, headers, warmup)
    started = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        parts = list(pool.map(lambda _: _worker(url, path, body, headers, requests_per_worker), range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies = np.concatenate([np.asarray(p[0]) for p in parts]) * 1000
    total = len(latencies)
    return LoadResult(concurrency=concurrency, requests=total, errors=sum(p[1] for p in parts),
                      p50_ms=float(np.percentile(latencies, 50)), p99_ms=float(np.percentile(latencies, 99)),
                      requests_per_s=total / elapsed)


def wait_ready(url: str, path: str, timeout_s: float = 120.0) -> float:
    """Poll ``url + path`` until it answers 200; return the seconds it took (raises TimeoutError)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        try:
            if httpx.get(url + path, timeout=2.0).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url}{path} not ready after {timeout_s} s")
