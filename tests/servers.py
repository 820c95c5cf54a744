"""The session-wide trained model (one tiny real model, trained once per session into a private MLflow store) and
the HTTP helpers for tests that start real servers.

The model is a real bundle (the same training code, a small synthetic cohort and few trees), registered as
``als-stratifier`` version 1 and promoted to ``champion``; nothing touches the developer's store or BentoML home.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

TOKEN = "test-token-0123456789abcdef"
TINY_CONFIG: dict[str, Any] = {
    "data": {"source": "synthetic", "simulate": {"n_patients": 300, "seed": 7}},
    "split": {"cv_folds": 2},
    "subtype": {"k_min": 2, "k_max": 3, "n_bootstrap": 2, "n_init": 1},
    "slope": {"params": {"n_estimators": 40}},
    "survival": {"params": {"n_estimators": 40}},
    "tuning": {"n_trials": 0},
    "evaluation": {"n_bootstrap": 50},
    "lcn2_ablation": False,
}
GOOD = {"age_at_onset_years": 58.0, "sex": "female", "onset_site": "bulbar", "months_since_onset": 14.0,
        "diagnostic_delay_months": 11.0, "alsfrs_r_total": 39.0, "fvc_pct_pred": 82.0, "nfl_serum_pg_ml": 65.0,
        "lcn2_plasma_ng_ml": 95.0, "c9orf72": "negative", "riluzole": True}
"""A plausible complete-enough candidate (every required field plus some biomarkers)."""


@dataclass(frozen=True)
class ServedModel:
    """Where the session's model lives and what the registry says about it."""

    home: Path
    tracking_uri: str
    name: str
    version: str
    run_id: str


def store_env(model: ServedModel) -> dict[str, str]:
    """Environment that points any process at the test store (never the developer's)."""
    return {"ALSSTRAT_HOME": str(model.home), "MLFLOW_TRACKING_URI": model.tracking_uri}


@pytest.fixture(scope="session")
def served_model(tmp_path_factory: pytest.TempPathFactory) -> ServedModel:
    """Train the tiny model once, register it and make it champion (about 30-60 s on two busy cores)."""
    from typer.testing import CliRunner

    from training.cli.app import app
    from training.config import TrainConfig
    from training.fit.train import run_training

    home = tmp_path_factory.mktemp("serving-home")
    tracking = f"sqlite:///{home / 'mlruns' / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALSSTRAT_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", tracking)
        result = run_training(TrainConfig.model_validate(TINY_CONFIG))
        promoted = CliRunner().invoke(app, ["promote", str(result.model_version), "--approver", "serving tests",
                                            "--reason", "session fixture"])
        assert promoted.exit_code == 0, promoted.output
    return ServedModel(home=home, tracking_uri=tracking, name="als-stratifier", version=str(result.model_version),
                       run_id=result.run_id)


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 300.0) -> None:
    """Poll ``/readyz`` (bounded) until 200; fail with the server's output if it exits or never gets ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready after {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own session: SIGTERM to its process group, then SIGKILL if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    else:  # the leader exited; make sure no worker of its group survives it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> Iterator[
        subprocess.Popen[bytes]]:
    """Start ``cmd`` in its own process group with output to ``log``; always stop it on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
        try:
            yield proc
        finally:
            stop(proc)


@dataclass(frozen=True)
class Live:
    """A running ``alsstrat serve``: its base URL, its log and its audit log."""

    url: str
    log: Path
    audit: Path


@pytest.fixture(scope="session")
def live(served_model: ServedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """``alsstrat serve`` on a free port, serving the champion of the test store; shared by the modules that only
    need *a* running server (starting one costs seconds of the two cores)."""
    folder = tmp_path_factory.mktemp("live")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALSSTRAT_", "MLFLOW_", "BENTOML_"))}
    # Its own BENTOML_HOME: BentoML keeps the Prometheus multiprocess files there, and every `bentoml serve` clears
    # them when it starts, so a shared home would empty this server's /metrics whenever another server starts.
    env.update(store_env(served_model), ALSSTRAT_API_TOKENS=TOKEN, ALSSTRAT_AUDIT_LOG=str(folder / "audit.jsonl"),
               BENTOML_HOME=str(folder / "bentoml"))
    # What the `alsstrat` console script runs (``python -m training.cli.app`` would import the CLI module twice).
    cmd = [sys.executable, "-c", "from training.cli.app import app; app()", "serve", "--port", str(port),
           "--host", "127.0.0.1"]
    url = f"http://127.0.0.1:{port}"
    with running(cmd, env, folder / "server.log", cwd=Path(__file__).resolve().parents[1]) as proc:
        try:
            wait_ready(proc, url)
        except AssertionError:
            print((folder / "server.log").read_text()[-5000:])
            raise
        yield Live(url=url, log=folder / "server.log", audit=folder / "audit.jsonl")
