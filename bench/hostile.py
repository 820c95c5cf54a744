"""The hostile checks of issue 16, made permanent: what a careless or hostile caller does to a running service.

Against a real ``bentoml serve`` on 127.0.0.1 (two workers, the model of the serving section):

1. 64 concurrent clients scoring for 60 s: every answer must be a 200 (the errors are counted, p50/p99 reported);
2. 4,000 requests to unknown paths: ``/metrics`` must stay bounded (its size before and after is reported);
3. the bad-body table: chunked and declared oversized bodies, broken multipart, wrong media types, invalid JSON,
   NaN, repeated keys, no token: no answer may be a 5xx;
4. ``kill -9`` of the whole server while a 10,000-row batch is being scored: every line of the audit log must
   still parse.

Every loop is bounded (a fixed count, or a deadline); the server is always stopped.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

URL = "http://127.0.0.1:3903"
CLIENTS = 64
SOAK_SECONDS = 60.0
UNKNOWN_PATHS = 4_000
METRICS_LIMIT_BYTES = 200_000


def soak(token: str, candidate: dict[str, Any], clients: int = CLIENTS, seconds: float = SOAK_SECONDS,
         ) -> dict[str, float]:
    """``clients`` threads, each with one keep-alive connection, POST /score until the deadline."""
    body = json.dumps({"candidate": candidate}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    deadline = time.monotonic() + seconds

    def client(_: int) -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        with httpx.Client(base_url=URL, headers=headers, timeout=60.0) as http:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    ok = http.post("/score", content=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok
        return latencies, errors

    started = time.monotonic()
    with cf.ThreadPoolExecutor(clients) as pool:
        parts = list(pool.map(client, range(clients)))
    elapsed = time.monotonic() - started
    latencies = np.concatenate([np.asarray(p[0]) for p in parts]) * 1000
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": int(latencies.size),
            "errors": sum(p[1] for p in parts), "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99)), "requests_per_s": latencies.size / elapsed}


def unknown_paths(n: int = UNKNOWN_PATHS, threads: int = 8) -> dict[str, float]:
    """``/metrics`` size before and after ``n`` GETs to distinct unknown paths, and how long the last scrape took."""
    before = len(httpx.get(f"{URL}/metrics", timeout=60).content)

    def walk(offset: int) -> None:
        with httpx.Client(base_url=URL, timeout=30.0) as http:
            for i in range(offset, n, threads):
                http.get(f"/x{i}")

    with cf.ThreadPoolExecutor(threads) as pool:
        list(pool.map(walk, range(threads)))
    started = time.perf_counter()
    after = len(httpx.get(f"{URL}/metrics", timeout=60).content)
    return {"paths": n, "metrics_bytes_before": before, "metrics_bytes_after": after,
            "scrape_ms": 1000 * (time.perf_counter() - started)}


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    yield b'{"candidate": {"candidate_id": "'
    for _ in range(total // size):
        yield b"x" * size
    yield b'"}}'


def bad_bodies(token: str, candidate: dict[str, Any], max_body: int) -> list[tuple[str, int]]:
    """(case, status) for every request of the bad-body table."""
    auth = {"Authorization": f"Bearer {token}"}
    json_type = {"Content-Type": "application/json"}
    good = json.dumps({"candidate": candidate})
    cases: list[tuple[str, str, dict[str, str], Any]] = [
        ("chunked body over the limit, no Content-Length", "/score", {**auth, **json_type}, "chunked"),
        ("declared body over the limit", "/score_batch", {**auth, **json_type}, b"x" * (max_body + 1)),
        ("multipart, no boundary", "/score", {**auth, "Content-Type": "multipart/form-data"}, b"--x\r\n"),
        ("multipart, empty boundary", "/score_batch", {**auth, "Content-Type": "multipart/form-data; boundary="},
         b"--zz\r\nContent-Disposition: form-data\r\n\r\nA\r\n"),
        ("text/plain", "/score", {**auth, "Content-Type": "text/plain"}, good.encode()),
        ("no Content-Type", "/score", auth, good.encode()),
        ("invalid JSON", "/score", {**auth, **json_type}, b'{"candidate": {"sex": '),
        ("NaN", "/score", {**auth, **json_type}, good.replace('"fvc_pct_pred": 86.0', '"fvc_pct_pred": NaN')
         .encode()),
        ("repeated key", "/score", {**auth, **json_type}, good.replace('"sex": "male"', '"sex": "male", "sex": '
                                                                       '"female"').encode()),
        ("body not an object", "/score", {**auth, **json_type}, b"[1, 2, 3]"),
        ("empty batch", "/score_batch", {**auth, **json_type}, b'{"candidates": []}'),
        ("free text where a candidate goes", "/score", {**auth, **json_type},
         b'{"candidate": "PATIENT-SECRET-456 born 1961-03-04"}'),
        ("bad body without a token", "/score", json_type, b'{"candidate": '),
        ("1 MB candidate_id", "/score_batch", {**auth, **json_type},
         json.dumps({"candidates": [{**candidate, "candidate_id": "P" * 1_000_000}]}).encode()),
    ]
    results = []
    with httpx.Client(base_url=URL, timeout=120.0) as http:
        for name, path, headers, body in cases:
            content = _chunks(max_body + (1 << 20)) if body == "chunked" else body
            try:
                status = http.post(path, content=content, headers=headers).status_code
            except httpx.HTTPError as exc:
                status = -1
                name += f" ({type(exc).__name__})"
            results.append((name, status))
    return results


def kill_mid_batch(server: Any, token: str, rows: list[dict[str, Any]], audit: Path) -> dict[str, Any]:
    """SIGKILL the server and every one of its workers while a large batch is in flight; then read the audit log."""
    body = json.dumps({"candidates": rows}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send() -> None:
        try:
            httpx.post(f"{URL}/score_batch", content=body, headers=headers, timeout=60.0)
        except httpx.HTTPError:
            pass  # the server is killed under it: that is the point

    import psutil

    # BentoML starts each worker in a process group of its own: list the whole tree before killing it.
    tree = [server.pid, *(child.pid for child in psutil.Process(server.pid).children(recursive=True))]
    flight = threading.Thread(target=send)
    flight.start()
    time.sleep(0.15)  # the body is on its way or being scored
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.wait(timeout=30)
    flight.join(timeout=60)
    text = audit.read_text() if audit.exists() else ""
    lines = text.splitlines()
    parsed = 0
    for line in lines:
        json.loads(line)  # raises on a half-written line
        parsed += 1
    return {"lines": len(lines), "parsed": parsed, "ends_with_newline": text.endswith("\n") or not text}


def report(soaked: dict[str, float], paths: dict[str, float], bodies: list[tuple[str, int]],
           killed: dict[str, Any]) -> str:
    """The section's markdown, with the pass/fail verdict of each check."""
    no_5xx = all(0 < status < 500 for _, status in bodies)
    bounded = paths["metrics_bytes_after"] < METRICS_LIMIT_BYTES
    lines = [
        "| check | result | verdict |", "|---|---|---|",
        f"| {int(soaked['clients'])} clients, `/score` for {soaked['seconds']:.0f} s | {int(soaked['requests']):,} "
        f"requests, {int(soaked['errors'])} errors, p50 {soaked['p50_ms']:.1f} ms, p99 {soaked['p99_ms']:.1f} ms, "
        f"{soaked['requests_per_s']:.0f} requests/s | {'pass' if soaked['errors'] == 0 else 'FAIL'} |",
        f"| {int(paths['paths']):,} unknown paths, then `/metrics` | {paths['metrics_bytes_before'] / 1000:.1f} KB "
        f"before, {paths['metrics_bytes_after'] / 1000:.1f} KB after, scrape {paths['scrape_ms']:.0f} ms | "
        f"{'pass' if bounded else 'FAIL'} (< {METRICS_LIMIT_BYTES // 1000} KB) |",
        f"| bad-body table ({len(bodies)} requests) | statuses: "
        f"{', '.join(sorted({str(s) for _, s in bodies}))} | {'pass' if no_5xx else 'FAIL'} (no 5xx) |",
        f"| `kill -9` of the server mid-batch | {killed['parsed']} of {killed['lines']} audit lines parse"
        f"{', last line whole' if killed['ends_with_newline'] else ', LAST LINE CUT'} | "
        f"{'pass' if killed['parsed'] == killed['lines'] and killed['ends_with_newline'] else 'FAIL'} |",
        "",
        "| bad body | status |", "|---|---|",
        *(f"| {name} | {status} |" for name, status in bodies),
    ]
    return "\n".join(lines) + "\n"
