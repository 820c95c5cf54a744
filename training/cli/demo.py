"""``make demo``: the main job end to end on the embedded synthetic cohort, through the real CLI commands.

simulate -> validate -> cohort -> train -> promote. Each step is the same command a user would type.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from features.project import MODEL_NAME, repository_root

console = Console(soft_wrap=True)


def _run(args: list[str]) -> None:
    from training.cli.app import app

    console.print(Rule(f"alsstrat {' '.join(args)}", style="cyan"))
    try:
        app(args, standalone_mode=False)
    except SystemExit as exc:  # typer.Exit inside standalone_mode=False surfaces as an exit code
        if exc.code not in (0, None):
            raise
    except Exception as exc:
        code = getattr(exc, "exit_code", 1)
        if code:
            console.print(f"[red]step failed: alsstrat {' '.join(args)} (exit {code})[/red]")
            sys.exit(code)


EXAMPLES = [
    {"candidate_id": "demo-1", "age_at_onset_years": 52.0, "sex": "female", "onset_site": "limb",
     "months_since_onset": 26.0, "diagnostic_delay_months": 14.0, "alsfrs_r_total": 42.0, "fvc_pct_pred": 95.0,
     "nfl_serum_pg_ml": 35.0, "lcn2_plasma_ng_ml": 70.0},
    {"candidate_id": "demo-2", "age_at_onset_years": 66.0, "sex": "male", "onset_site": "bulbar",
     "months_since_onset": 9.0, "diagnostic_delay_months": 6.0, "alsfrs_r_total": 36.0, "fvc_pct_pred": 74.0,
     "nfl_serum_pg_ml": 160.0, "lcn2_plasma_ng_ml": 110.0},
    {"candidate_id": "demo-3", "age_at_onset_years": 58.0, "sex": "male", "onset_site": "limb",
     "months_since_onset": 15.0, "diagnostic_delay_months": 10.0, "alsfrs_r_total": 39.0,
     "nfl_serum_pg_ml": 80.0, "lcn2_plasma_ng_ml": 260.0},
]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_and_score(out: Path, model_uri: str) -> None:
    """Start the HTTP service on ``model_uri`` with a fresh token, score the examples over HTTP, stop it."""
    import os
    import secrets
    import signal
    import subprocess
    import time

    import httpx

    from serving.config import worker_environment

    port = _free_port()
    console.print(Rule("alsstrat serve (BentoML) + three candidates over HTTP", style="cyan"))
    token = secrets.token_urlsafe(24)
    out.mkdir(parents=True, exist_ok=True)
    env = {**worker_environment(dict(os.environ)), "ALSSTRAT_API_TOKENS": token,
           "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "ALSSTRAT_MODEL_URI": model_uri,
           "ALSSTRAT_AUDIT_LOG": str(out / "audit.jsonl")}
    bentoml = Path(sys.executable).parent / "bentoml"
    log = open(out / "service.log", "w")  # noqa: SIM115 - owned by the child process
    proc = subprocess.Popen([str(bentoml), "serve", "serving.service:ALSStratifier", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=repository_root())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the service exited early; see {out / 'service.log'}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the service was not ready after 120 s; see {out / 'service.log'}")
        headers = {"Authorization": f"Bearer {token}"}
        meta = httpx.get(f"{url}/model", headers=headers, timeout=10).json()
        console.print(f"serving {meta['name']} version {meta['version']} (run {meta['run_id']}) at {url}")
        response = httpx.post(f"{url}/score_batch", json={"candidates": EXAMPLES}, headers=headers, timeout=30)
        for result in response.json()["results"]:
            s, p, v = result["subtype"], result["slope"], result["survival"]
            console.print(
                f"{result['candidate_id']}: subtype {s['label']} '{s['name']}' | ALSFRS-R slope "
                f"({p['point_kind']}) {p['point']:+.2f} "
                f"points/month (80 % interval {p['p10']:+.2f} to {p['p90']:+.2f}) | survival at 24 "
                f"{v['time_origin']}: {v['probability_at_months']['24']:.0%}, median survival {v['median_months']:.0f} "
                f"{v['time_origin']}, risk group {v['risk_group']} of 5 (1 = lowest risk)")
        body = json.dumps({"candidate": {k: v for k, v in EXAMPLES[0].items() if k != "candidate_id"}})
        console.print("\nTry it yourself while a server runs (alsstrat serve):")
        console.print(f"curl -s -X POST {url}/score -H 'Content-Type: application/json' "
                      f"-H 'Authorization: Bearer <your token>' -d '{body}'", markup=False, highlight=False)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        console.print("service stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--n-patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    ns = parser.parse_args(argv)
    raw, cohort = ns.out / "raw", ns.out / "cohort.parquet"
    _run(["simulate", "--n-patients", str(ns.n_patients), "--seed", str(ns.seed), "--out", str(raw)])
    _run(["validate", "--input", str(raw)])
    _run(["cohort", "--source", "synthetic", "--input", str(raw), "--out", str(cohort)])
    _run(["train", "--source", "synthetic", "--input", str(raw)])

    from training.registry.promotion import current_champion
    from training.tracking import configure_tracking

    uri = configure_tracking()
    import mlflow

    latest = max(int(v.version) for v in mlflow.MlflowClient().search_model_versions(f"name='{MODEL_NAME}'"))
    if current_champion(MODEL_NAME) is None:
        _run(["promote", str(latest), "--approver", "demo", "--reason", "first model trained by make demo"])
    else:
        console.print(f"champion already set; version {latest} stays a challenger "
                      f"(promote it with: alsstrat promote {latest} --approver NAME --reason TEXT)")
    serve_and_score(ns.out, f"models:/{MODEL_NAME}/{latest}")
    console.print(Rule("where things are", style="cyan"))
    console.print(json.dumps({
        "raw tables": str(raw), "cohort table": str(cohort), "tracking store": uri,
        "MLflow UI": f".venv/bin/mlflow ui --backend-store-uri {uri}",
        "model card": "MLflow run artifacts: model_card.md / model_card.html",
    }, indent=2))


if __name__ == "__main__":
    main()
