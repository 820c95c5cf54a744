"""``make bench``: every performance figure of the project in one run, written to bench/results/latest.md.

Sections (``python -m bench.run --only NAME`` runs one): ``simulate`` (10,000 patients), ``cohort`` (cohort
assembly and the PRO-ACT-scale import), ``transform`` (serving-side feature transform of one candidate),
``train`` (training time and peak memory at 1k/10k/50k patients), ``serving`` (the BentoML service against
``mlflow models serve`` on the same registered model, with in-process prediction as the floor), ``workers``
(``alsstrat serve --workers 1/2/4`` on one model and one load: ``/score`` and ``/score_batch``), ``pyfunc`` (plain
MLflow ``pyfunc.predict`` on 10,000 rows with missing values), ``hostile`` (64
clients for 60 s, 4,000 unknown paths, the bad-body table, ``kill -9`` mid-batch; :mod:`bench.hostile`), ``trial``
(``alsstrat trial plan`` on 10,000 candidates, whole command).

Whole-process figures come from ``os.wait4`` (wall time measured around it, peak resident memory of the child).
The machine is shared and noisy: compare figures taken in the same run, and prefer ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from features.project import MODEL_NAME
from serving.config import DEFAULT_PREDICT_THREADS

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
TOKEN = "bench-token-0123456789abcdef"
CANDIDATE = {
    "age_at_onset_years": 58.0, "sex": "male", "onset_site": "limb", "months_since_onset": 14.0,
    "diagnostic_delay_months": 10.0, "alsfrs_r_total": 39.0, "fvc_pct_pred": 86.0, "bmi": 24.5,
    "nfl_serum_pg_ml": 72.0, "lcn2_plasma_ng_ml": 95.0, "c9orf72": "negative", "el_escorial": "probable",
    "ftd": "no", "riluzole": True,
}


PREDICT_THREADS = DEFAULT_PREDICT_THREADS
"""XGBoost threads per worker for large batches, in the service (ALSSTRAT_PREDICT_THREADS) and the floor."""


def varied_candidates(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` valid candidates around :data:`CANDIDATE` (seeded), so a batch is not one row repeated."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row = dict(CANDIDATE, candidate_id=f"bench-{i}")
        row["age_at_onset_years"] = float(np.round(rng.uniform(35, 80), 1))
        row["months_since_onset"] = float(np.round(rng.uniform(4, 36), 1))
        row["diagnostic_delay_months"] = float(np.round(min(row["months_since_onset"], rng.uniform(3, 20)), 1))
        row["alsfrs_r_total"] = float(rng.integers(20, 47))
        row["nfl_serum_pg_ml"] = float(np.round(rng.lognormal(4.2, 0.6), 1))
        row["lcn2_plasma_ng_ml"] = float(np.round(rng.lognormal(4.5, 0.4), 1))
        row["onset_site"] = "bulbar" if rng.random() < 0.25 else "limb"
        rows.append(row)
    return rows


def timed_process(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path = REPO,
                  log: Path | None = None) -> dict[str, float]:
    """Run a command to completion; wall seconds, CPU seconds and peak RSS (MB) of the whole process."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if log:
        out.close()  # type: ignore[union-attr]
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}" + (f"; see {log}" if log else ""))
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024}


def section_simulate(work: Path) -> str:
    rows = []
    for run in range(3):
        fig = timed_process([str(BIN / "alsstrat"), "simulate", "--n-patients", "10000", "--seed", str(run),
                             "--out", str(work / f"sim{run}")])
        rows.append(fig)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return (f"| command | wall s (median of 3) | CPU s | peak RSS MB | target |\n|---|---|---|---|---|\n"
            f"| `alsstrat simulate --n-patients 10000` | {med['wall_s']:.2f} | {med['cpu_s']:.2f} | "
            f"{med['peak_rss_mb']:.0f} | < 30 s |\n")


def section_cohort(work: Path) -> str:
    parts = []
    for module in ("bench.cohort_bench", "bench.proact_bench"):
        log = work / f"{module}.log"
        fig = timed_process([sys.executable, "-m", module], log=log)
        parts.append(f"`python -m {module}` (whole process: {fig['wall_s']:.1f} s wall, "
                     f"{fig['peak_rss_mb']:.0f} MB peak RSS):\n\n```\n{log.read_text().strip()[-3000:]}\n```\n")
    return "\n".join(parts)


def section_transform() -> str:
    import timeit

    import pandas as pd

    from features import spec as S
    from features.model.derive import BaselineFeatures

    step = BaselineFeatures().fit(pd.DataFrame([CANDIDATE], columns=list(S.BASELINE_NAMES)))
    frame = pd.DataFrame([CANDIDATE], columns=list(S.BASELINE_NAMES))
    fast = timeit.repeat(lambda: step.transform_records([CANDIDATE]), number=1, repeat=5000)
    slow = timeit.repeat(lambda: step.transform(frame), number=1, repeat=1000)
    return ("| transform of one candidate | median µs | target |\n|---|---|---|\n"
            f"| `transform_records` (serving path, no pandas) | {statistics.median(fast) * 1e6:.0f} | < 1000 |\n"
            f"| `transform` (DataFrame path) | {statistics.median(slow) * 1e6:.0f} | |\n")


def _train_config(path: Path, n_patients: int) -> None:
    path.write_text(f"data: {{source: synthetic, simulate: {{n_patients: {n_patients}, seed: 7}}}}\n")


def section_train(work: Path, sizes: Sequence[int]) -> str:
    lines = ["| patients | wall s | CPU s | peak RSS MB |", "|---|---|---|---|"]
    for n in sizes:
        home = work / f"train-{n}"
        home.mkdir()
        _train_config(home / "config.yaml", n)
        env = {**os.environ, "ALSSTRAT_HOME": str(home)}
        env.pop("MLFLOW_TRACKING_URI", None)
        fig = timed_process([str(BIN / "alsstrat"), "train", "--config", str(home / "config.yaml")], env=env,
                            log=home / "train.log")
        lines.append(f"| {n:,} | {fig['wall_s']:.1f} | {fig['cpu_s']:.1f} | {fig['peak_rss_mb']:.0f} |")
    lines.append("\nDefault configuration (`training/configs/default.yaml`: 6 Optuna trials per model, 5-fold CV, "
                 "500 bootstrap resamples), whole `alsstrat train` process including simulation and MLflow logging.")
    return "\n".join(lines) + "\n"


def _start(cmd: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "w")  # noqa: SIM115 - owned by the child for its lifetime
    return subprocess.Popen(list(cmd), env=env, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def _serving_home(work: Path) -> tuple[Path, dict[str, str]]:
    """A project home with one trained model (1,000 patients), trained once per run for the serving sections."""
    home = work / "serving"
    env = {**os.environ, "ALSSTRAT_HOME": str(home), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    if not (home / "train.log").exists():
        home.mkdir(exist_ok=True)
        _train_config(home / "config.yaml", 1000)
        timed_process([str(BIN / "alsstrat"), "train", "--config", str(home / "config.yaml")], env=env,
                      log=home / "train.log")
    return home, env


def section_serving(work: Path) -> str:
    from bench.http_load import run_load, wait_ready

    home, env = _serving_home(work)
    uri = f"models:/{MODEL_NAME}/1"
    tracking = f"sqlite:///{home / 'mlruns' / 'mlflow.db'}"

    # In-process floor: the same bundle, no HTTP.
    os.environ["ALSSTRAT_HOME"] = str(home)
    from features.model.pyfunc import load_stratifier

    model = load_stratifier(uri).model
    import pandas as pd

    one = [CANDIDATE]
    floor = [timed_call(lambda: model.predict_records(one)) for _ in range(2000)]
    frame = pd.DataFrame(one)
    floor_frame = [timed_call(lambda: model.predict_frame(frame)) for _ in range(300)]
    batch = varied_candidates(1000, seed=11)
    peer_batch = [{k: v for k, v in row.items() if k != "candidate_id"} for row in batch]  # not a model input
    model.set_predict_threads(PREDICT_THREADS)  # as the service does
    import orjson
    from pydantic import TypeAdapter

    from features.candidates import candidate_rows_type
    from serving.encode import ResultEncoder
    from serving.scoring import score_rows

    # What one batch request costs without HTTP: parse and validate the body, score, encode (the handler's code).
    rows_type, encoder, body = TypeAdapter(candidate_rows_type()), ResultEncoder(model), orjson.dumps(batch)
    floor_batch = statistics.median(timed_call(lambda: score_rows(model, encoder, rows_type.validate_json(body)))
                                    for _ in range(15))

    from serving.config import worker_environment

    bento_env = {**worker_environment(env), "ALSSTRAT_MODEL_URI": uri, "ALSSTRAT_API_TOKENS": TOKEN,
                 "ALSSTRAT_AUDIT_LOG": str(home / "audit.jsonl"), "ALSSTRAT_PREDICT_THREADS": str(PREDICT_THREADS)}
    bento = _start([str(BIN / "bentoml"), "serve", "serving.service:ALSStratifier", "--host", "127.0.0.1",
                    "--port", "3901"], bento_env, home / "bentoml.log")
    peer_env = {**env, "MLFLOW_TRACKING_URI": tracking, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    results: dict[str, Any] = {}
    try:
        wait_ready("http://127.0.0.1:3901", "/readyz")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for c in (1, 8):
            results[f"bentoml_c{c}"] = run_load("http://127.0.0.1:3901", "/score", {"candidate": CANDIDATE},
                                                headers=auth, concurrency=c, requests_per_worker=400 // c * 1)
        for c, n in ((1, 30), (4, 10)):
            big = run_load("http://127.0.0.1:3901", "/score_batch", {"candidates": batch}, headers=auth,
                           concurrency=c, requests_per_worker=n, warmup=3)
            results[f"bentoml_batch_c{c}"] = big
    finally:
        _stop(bento)
    peer = _start([str(BIN / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local", "-h", "127.0.0.1",
                   "-p", "3902"], peer_env, home / "mlflow-serve.log")
    try:
        wait_ready("http://127.0.0.1:3902", "/ping")
        for c in (1, 8):
            results[f"mlflow_c{c}"] = run_load("http://127.0.0.1:3902", "/invocations",
                                               {"dataframe_records": [CANDIDATE]}, concurrency=c,
                                               requests_per_worker=400 // c)
        for c, n in ((1, 30), (4, 10)):
            big = run_load("http://127.0.0.1:3902", "/invocations", {"dataframe_records": peer_batch},
                           concurrency=c, requests_per_worker=n, warmup=3)
            results[f"mlflow_batch_c{c}"] = big
    finally:
        _stop(peer)

    def row(name: str, r: Any) -> str:
        return (f"| {name} | {r.concurrency} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.requests_per_s:.0f} | "
                f"{r.errors} |")

    def batch_row(name: str, r: Any) -> str:
        return f"| {name} | {r.concurrency} | {r.p50_ms:.1f} | {1000 * r.requests_per_s:,.0f} |"

    ratio_c8 = results["bentoml_c8"].requests_per_s / results["mlflow_c8"].requests_per_s
    ratio_batch = results["bentoml_batch_c1"].requests_per_s / results["mlflow_batch_c1"].requests_per_s
    lines = [
        "| server | concurrency | p50 ms | p99 ms | requests/s | errors |", "|---|---|---|---|---|---|",
        row("alsstrat BentoML `/score`", results["bentoml_c1"]),
        row("alsstrat BentoML `/score`", results["bentoml_c8"]),
        row("`mlflow models serve` `/invocations` (same model)", results["mlflow_c1"]),
        row("`mlflow models serve` `/invocations` (same model)", results["mlflow_c8"]),
        "",
        "| batch of 1,000 rows | concurrency | p50 ms per request | rows/s |", "|---|---|---|---|",
        *(batch_row(label, results[f"{key}_c{c}"])
          for key, label in (("bentoml_batch", "alsstrat BentoML `/score_batch`"),
                             ("mlflow_batch", "`mlflow models serve` `/invocations`")) for c in (1, 4)),
        f"| in process: parse, validate, score, encode (floor, {PREDICT_THREADS} XGBoost threads) | 1 | "
        f"{floor_batch:.1f} | "
        f"{1000 / (floor_batch / 1000):,.0f} |",
        "",
        "| in-process floor, one candidate | p50 ms | p99 ms |", "|---|---|---|",
        f"| `predict_records` (features, models, result dicts; no HTTP) | {_pct(floor, 50):.3f} | "
        f"{_pct(floor, 99):.3f} |",
        f"| `predict_frame` (pyfunc/DataFrame path) | {_pct(floor_frame, 50):.3f} | {_pct(floor_frame, 99):.3f} |",
        "",
        f"Ratios in this run: requests/s at concurrency 8, BentoML / peer = **{ratio_c8:.1f}x** (target >= 3x); "
        f"batch rows/s at concurrency 1, BentoML / peer = **{ratio_batch:.1f}x**. Targets: `/score` p50 <= 5 ms "
        "at concurrency 1; >= 20,000 rows/s for `/score_batch`.",
    ]
    json_results = {k: asdict(v) if hasattr(v, "concurrency") else v for k, v in results.items()}
    (RESULTS / "serving.json").write_text(json.dumps(json_results, indent=2))
    return "\n".join(lines) + "\n"


WORKER_COUNTS = (1, 2, 4)
"""``alsstrat serve --workers N`` values the ``workers`` section compares on the same model and the same load."""


def section_workers(work: Path, counts: Sequence[int] = WORKER_COUNTS) -> str:
    """``/score`` and ``/score_batch`` through ``alsstrat serve --workers N`` for each N, on one model and one load.

    Each server is the real command (``alsstrat serve --workers N --model-uri models:/als-stratifier/1``), started,
    warmed up at concurrency 8 (so every worker has loaded the model and answered), measured, and stopped before
    the next starts. The load is fixed: ``/score`` with one candidate at concurrency 1 and 8 (400 requests each),
    ``/score_batch`` with 1,000 candidates at concurrency 4 (10 requests per client).
    """
    from bench.http_load import run_load, wait_ready

    home, env = _serving_home(work)
    uri = f"models:/{MODEL_NAME}/1"
    batch = varied_candidates(1000, seed=11)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    server_env = {**env, "ALSSTRAT_API_TOKENS": TOKEN, "ALSSTRAT_AUDIT_LOG": str(home / "workers-audit.jsonl"),
                  "ALSSTRAT_PREDICT_THREADS": str(PREDICT_THREADS)}
    url = "http://127.0.0.1:3903"
    results: dict[str, Any] = {}
    for n in counts:
        server = _start([str(BIN / "alsstrat"), "serve", "--workers", str(n), "--model-uri", uri, "--port", "3903"],
                        server_env, home / f"serve-workers-{n}.log")
        try:
            ready_s = wait_ready(url, "/readyz", timeout_s=300.0)
            run_load(url, "/score", {"candidate": CANDIDATE}, headers=auth, concurrency=8, requests_per_worker=25,
                     warmup=5)
            results[n] = {
                "ready_s": ready_s,
                "score_c1": run_load(url, "/score", {"candidate": CANDIDATE}, headers=auth, concurrency=1,
                                     requests_per_worker=400),
                "score_c8": run_load(url, "/score", {"candidate": CANDIDATE}, headers=auth, concurrency=8,
                                     requests_per_worker=50),
                "batch_c4": run_load(url, "/score_batch", {"candidates": batch}, headers=auth, concurrency=4,
                                     requests_per_worker=10, warmup=2),
            }
        finally:
            _stop(server)
    lines = ["| workers | ready s | `/score` c=1 p50 / p99 ms | `/score` c=1 req/s | `/score` c=8 p50 / p99 ms | "
             "`/score` c=8 req/s | `/score_batch` (1,000 rows) c=4 p50 / p99 ms | `/score_batch` rows/s | errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n, r in results.items():
        c1, c8, b4 = r["score_c1"], r["score_c8"], r["batch_c4"]
        lines.append(f"| {n} | {r['ready_s']:.0f} | {c1.p50_ms:.2f} / {c1.p99_ms:.2f} | {c1.requests_per_s:,.0f} | "
                     f"{c8.p50_ms:.2f} / {c8.p99_ms:.2f} | {c8.requests_per_s:,.0f} | "
                     f"{b4.p50_ms:.0f} / {b4.p99_ms:.0f} | {1000 * b4.requests_per_s:,.0f} | "
                     f"{c1.errors + c8.errors + b4.errors} |")
    lines.append(f"\n{os.cpu_count()} cores; load average before/after: see the header and `uptime` "
                 f"({os.getloadavg()[0]:.1f} at the end of this section). Same model (1,000 simulated patients), "
                 f"same load for every worker count; {PREDICT_THREADS} XGBoost thread(s) per worker for batches.")
    (RESULTS / "workers.json").write_text(json.dumps(
        {str(n): {k: (asdict(v) if hasattr(v, "concurrency") else v) for k, v in r.items()}
         for n, r in results.items()}, indent=2))
    return "\n".join(lines) + "\n"


_PYFUNC_CODE = """
import json, sys, time
started = time.perf_counter()
import mlflow, pandas as pd
from bench.run import varied_candidates
model = mlflow.pyfunc.load_model(sys.argv[1])
loaded = time.perf_counter() - started
names = model.metadata.get_input_schema().input_names()
rows = varied_candidates(10_000, seed=13)
for i, row in enumerate(rows):
    if i % 10 == 0:  # missing values in the columns a real table lacks: boolean, category, delay
        for name in ("riluzole", "c9orf72", "diagnostic_delay_months"):
            row.pop(name)
frame = pd.DataFrame.from_records(rows).reindex(columns=names)
t = time.perf_counter(); model.predict(frame.head(1)); first = time.perf_counter() - t
times = []
for _ in range(5):
    t = time.perf_counter(); out = model.predict(frame); times.append(time.perf_counter() - t)
    assert len(out) == len(frame)
print(json.dumps({"load_s": loaded, "first_ms": 1000 * first, "batch_s": sorted(times)[2], "rows": len(frame)}))
"""


def section_pyfunc(work: Path) -> str:
    """Plain MLflow pyfunc on a 10,000-row table with missing values (issue 17): a fresh process loads the model
    (import and load timed together), predicts one row, then the whole table five times (median)."""
    home, env = _serving_home(work)
    env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlruns' / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _PYFUNC_CODE, f"models:/{MODEL_NAME}/1"], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=900, check=True)
    r = json.loads(done.stdout.strip().splitlines()[-1])
    (RESULTS / "pyfunc.json").write_text(json.dumps(r, indent=2))
    return "\n".join([
        "| `mlflow.pyfunc` batch (10,000 rows, 10 % missing riluzole, c9orf72, delay) | figure |", "|---|---|",
        f"| import mlflow + `load_model` (fresh process) | {r['load_s']:.2f} s |",
        f"| first `predict` (1 row) | {r['first_ms']:.0f} ms |",
        f"| `predict` on 10,000 rows (median of 5) | {r['batch_s']:.3f} s = {r['rows'] / r['batch_s']:,.0f} rows/s |",
        "",
        "Target: >= 20,000 rows/s at 10,000 rows (one XGBoost thread).",
    ]) + "\n"


def section_hostile(work: Path) -> str:
    """Issue 16's hostile checks against a real server (see :mod:`bench.hostile`)."""
    from bench import hostile
    from bench.http_load import wait_ready
    from serving.config import worker_environment

    home, env = _serving_home(work)
    audit = home / "hostile-audit.jsonl"
    max_body = 32 * 1024 * 1024
    server_env = {**worker_environment(env), "ALSSTRAT_MODEL_URI": f"models:/{MODEL_NAME}/1",
                  "ALSSTRAT_API_TOKENS": TOKEN, "ALSSTRAT_AUDIT_LOG": str(audit),
                  "ALSSTRAT_MAX_BODY_BYTES": str(max_body), "ALSSTRAT_PREDICT_THREADS": str(PREDICT_THREADS)}
    server = _start([str(BIN / "bentoml"), "serve", "serving.service:ALSStratifier", "--host", "127.0.0.1",
                     "--port", hostile.URL.rsplit(":", 1)[1]], server_env, home / "hostile-server.log")
    try:
        wait_ready(hostile.URL, "/readyz")
        soaked = hostile.soak(TOKEN, CANDIDATE)
        paths = hostile.unknown_paths()
        bodies = hostile.bad_bodies(TOKEN, CANDIDATE, max_body)
        killed = hostile.kill_mid_batch(server, TOKEN, varied_candidates(10_000, seed=5), audit)
    finally:
        if server.poll() is None:
            _stop(server)
    return hostile.report(soaked, paths, bodies, killed)


TRIAL_RUNS = 5


def section_trial(work: Path) -> str:
    """``alsstrat trial plan`` on 10,000 candidates as a whole command (process start, model load, scoring, plan,
    report), :data:`TRIAL_RUNS` runs per endpoint after one untimed warm-up: min / median / max wall seconds.
    Target: < 5 s."""
    import csv

    home, env = _serving_home(work)
    env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlruns' / 'mlflow.db'}"}
    # An installed package has its bytecode compiled (pip and uv do it at install). Where the environment forbids
    # writing it (PYTHONDONTWRITEBYTECODE), every run would recompile ~2,700 modules, 10+ s of CPU that measures
    # the interpreter, not the command: the runs may write their caches, and one untimed warm-up run fills them.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    rows = varied_candidates(10_000, seed=7)
    pool = work / "trial-pool.csv"
    with pool.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    timed_process([str(BIN / "alsstrat"), "trial", "plan", "--input", str(pool), "--out", str(work / "trial-warm"),
                   "--model-uri", f"models:/{MODEL_NAME}/1"], env=env, log=work / "trial-warm.log")
    figures = {}
    for endpoint in ("slope", "survival"):
        runs = [timed_process([str(BIN / "alsstrat"), "trial", "plan", "--input", str(pool), "--out",
                               str(work / f"trial-{endpoint}-{k}"), "--endpoint", endpoint, "--model-uri",
                               f"models:/{MODEL_NAME}/1"], env=env, log=work / f"trial-{endpoint}-{k}.log")
                for k in range(TRIAL_RUNS)]
        figures[endpoint] = runs
    (RESULTS / "trial.json").write_text(json.dumps(figures, indent=2))
    lines = ["| `alsstrat trial plan`, 10,000 candidates, whole command | min s | median s | max s | CPU s "
             "(median) | peak RSS MB | target |", "|---|---|---|---|---|---|---|"]
    for endpoint, runs in figures.items():
        wall = sorted(r["wall_s"] for r in runs)
        lines.append(f"| `--endpoint {endpoint}` ({TRIAL_RUNS} runs) | {wall[0]:.2f} | {statistics.median(wall):.2f} "
                     f"| {wall[-1]:.2f} | {statistics.median(r['cpu_s'] for r in runs):.2f} | "
                     f"{max(r['peak_rss_mb'] for r in runs):.0f} | < 5 s |")
    return "\n".join(lines) + "\n"


def timed_call(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _pct(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append",
                        choices=["simulate", "cohort", "transform", "train", "serving", "workers", "pyfunc",
                                 "hostile", "trial"])
    parser.add_argument("--train-sizes", default="1000,10000,50000")
    ns = parser.parse_args(argv)
    chosen = ns.only or ["simulate", "cohort", "transform", "train", "serving", "workers", "pyfunc", "hostile",
                         "trial"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="alsstrat-bench-"))
    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}"
    report = [f"# Benchmark results\n\nRun {datetime.now(UTC).isoformat(timespec='seconds')} on {machine}; "
              f"`make bench` (`python -m bench.run`).\n"]
    try:
        for name in chosen:
            print(f"== {name}", flush=True)
            if name == "simulate":
                body = section_simulate(work)
            elif name == "cohort":
                body = section_cohort(work)
            elif name == "transform":
                body = section_transform()
            elif name == "train":
                body = section_train(work, [int(s) for s in ns.train_sizes.split(",")])
            elif name == "hostile":
                body = section_hostile(work)
            elif name == "pyfunc":
                body = section_pyfunc(work)
            elif name == "workers":
                body = section_workers(work)
            elif name == "trial":
                body = section_trial(work)
            else:
                body = section_serving(work)
            print(body, flush=True)
            report.append(f"## {name}\n\n{body}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    target = RESULTS / ("latest.md" if ns.only is None else f"latest-{'-'.join(chosen)}.md")
    target.write_text("\n".join(report))
    print(f"results written to {target}")


if __name__ == "__main__":
    main()
