"""The promotion history is the only way the champion moves, promotions are serialised, and a fresh store survives
concurrent first use.

One private store holds one tiny trained run registered three times (versions 1-3 are the same model, so the gate
passes between any two of them and only the recorded history tells them apart). The alias is then moved behind the
history's back exactly as the MLflow UI does it (``MlflowClient().set_registered_model_alias``); concurrency is
tested with real ``alsstrat`` processes started together.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.servers import GOOD, TINY_CONFIG
from tests.stores import last_json
from training.cli.app import app

NAME = "als-stratifier"
ALSSTRAT = Path(sys.executable).with_name("alsstrat")


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "ALSSTRAT_HOME": str(home), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def store(private_store: Path) -> dict[str, Any]:
    """Train the tiny model once and register its model two more times: versions 1, 2 and 3."""
    from threadpoolctl import threadpool_limits

    from training.config import TrainConfig
    from training.fit.train import run_training
    from training.tracking import configure_tracking

    with threadpool_limits(1):
        result = run_training(TrainConfig.model_validate(TINY_CONFIG))
    configure_tracking()
    for _ in range(2):
        mlflow.register_model(result.model_uri, NAME)
    candidates = private_store / "candidates.csv"
    pd.DataFrame([GOOD]).to_csv(candidates, index=False)
    return {"home": private_store, "result": result, "candidates": candidates}


@pytest.mark.slow
@pytest.mark.mlflow
def test_training_records_are_mlflow_native(store: dict[str, Any]) -> None:
    result = store["result"]
    client = mlflow.MlflowClient()
    run = client.get_run(result.run_id)
    assert run.info.run_name == "train-synthetic-screening-sim7-seed42"
    assert run.inputs is not None
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.digest == result.data_hash[:36]
    assert {t.key: t.value for t in inputs[0].tags}["data_hash"] == result.data_hash
    assert inputs[0].dataset.name == "synthetic-screening-cohort"
    description = str(client.get_model_version(NAME, result.model_version).description)
    assert f"data hash {result.data_hash}" in description
    assert f"Trained by run {result.run_id} on synthetic data at the screening landmark" in description
    assert f"slope RMSE (points/month) {result.metrics['test_slope_rmse']:.3f}" in description


@pytest.mark.slow
@pytest.mark.mlflow
def test_an_alias_moved_outside_the_history_is_refused_until_adopted(store: dict[str, Any]) -> None:
    first = _invoke(["promote", "1", "--approver", "Dr Ada", "--reason", "first model"])
    assert first.exit_code == 0, first.output
    assert _invoke(["runs", "history"]).exit_code == 0
    # What the MLflow UI's "Promote model" does: the registry moves, the history does not.
    mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", "3")
    drift = "champion drift: the champion alias of als-stratifier points at version 3, but the promotion " \
            "history last recorded version 1 as champion"
    how = "`alsstrat promote 3 --adopt --approver NAME --reason TEXT` or `alsstrat promote 1 --adopt"

    history = _invoke(["runs", "history"])
    assert history.exit_code == 2, history.output
    assert drift in history.output
    assert how in history.output
    assert "champion als-stratifier: alias v3, history v1: DRIFTED" in history.output
    as_json = _invoke(["runs", "history", "--json"])
    assert as_json.exit_code == 2
    assert last_json(as_json.stdout)["champions"] == [
        {"model_name": NAME, "alias": "3", "recorded": "1", "drifted": True}]

    out = store["home"] / "scores.csv"
    score = _invoke(["score", "--input", str(store["candidates"]), "--out", str(out)])
    assert score.exit_code == 2, score.output
    assert f"error: refusing models:/{NAME}@champion: {drift}" in score.output
    assert not out.exists()
    serve = _invoke(["serve", "--insecure-demo", "--port", "1"])
    assert serve.exit_code == 2, serve.output
    assert drift in serve.output
    promote = _invoke(["promote", "2", "--approver", "Dr Bo", "--reason", "next"])
    assert promote.exit_code == 2, promote.output
    assert drift in promote.output
    # An explicit version is the caller's own choice, not the champion: no check.
    explicit = _invoke(["score", "--input", str(store["candidates"]), "--out", str(out),
                        "--model-uri", f"models:/{NAME}/3"])
    assert explicit.exit_code == 0, explicit.output

    wrong = _invoke(["promote", "2", "--adopt", "--approver", "Dr Bo", "--reason", "accept"])
    assert wrong.exit_code == 2
    assert "--adopt accepts version 3 (where the alias points) or version 1 (the last recorded champion), not 2" \
        in wrong.output
    adopted = _invoke(["promote", "3", "--adopt", "--approver", "Dr Cy", "--reason", "moved in the UI by Dr Cy"])
    assert adopted.exit_code == 0, adopted.output
    assert "version 3 is now champion (ADOPTED" in adopted.output
    assert "previous: 1" in adopted.output
    again = _invoke(["promote", "3", "--adopt", "--approver", "Dr Cy", "--reason", "twice"])
    assert again.exit_code == 2
    assert "nothing to adopt" in again.output

    history = _invoke(["runs", "history", "--json"])
    assert history.exit_code == 0, history.output
    last = last_json(history.stdout)["records"][-1]
    assert (last["version"], last["previous_champion"], last["gate"], last["moved"], last["approver"]) == (
        "3", "1", "adopted", True, "Dr Cy")
    description = str(mlflow.MlflowClient().get_model_version(NAME, "3").description)
    assert "approved by Dr Cy; reason: moved in the UI by Dr Cy; gate adopted; previous champion 1" in description
    score = _invoke(["score", "--input", str(store["candidates"]), "--out", str(out)])
    assert score.exit_code == 0, score.output
    assert "version 3" in score.output


@pytest.mark.slow
@pytest.mark.mlflow
def test_concurrent_promotions_are_serialised_and_chained(store: dict[str, Any]) -> None:
    from training.registry.promotion import LOCK_NAME, current_champion, promotion_history, verify_history

    before = promotion_history()
    champion = current_champion(NAME)
    assert champion == "3", "runs after the adoption test"
    procs = [subprocess.Popen([str(ALSSTRAT), "promote", version, "--approver", f"Dr {version}", "--reason",
                               f"concurrent {version}", "--force"], env=_env(store["home"]),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for version in ("1", "2")]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    records = promotion_history()[len(before):]
    assert len(records) == 2
    first, second = records
    assert first.previous_champion == "3"
    assert second.previous_champion == first.version, "the second was gated against the first one's champion"
    assert {first.version, second.version} == {"1", "2"}
    assert [r.gate for r in records] == ["passed", "passed"]
    assert verify_history().intact
    assert current_champion(NAME) == second.version
    history = subprocess.run([str(ALSSTRAT), "runs", "history"], env=_env(store["home"]), capture_output=True,
                             text=True, timeout=120)
    assert history.returncode == 0, history.stderr
    assert "history chain: intact" in history.stdout
    with pytest.raises(mlflow.exceptions.MlflowException):
        mlflow.MlflowClient().get_registered_model(LOCK_NAME)  # released


@pytest.mark.mlflow
def test_a_fresh_store_survives_concurrent_first_use(tmp_path: Path) -> None:
    # Four processes creating the same fresh SQLite store: without the first-use lock MLflow's migrations collide
    # ("table _alembic_tmp_tags already exists") in some of these races.
    procs = [subprocess.Popen([str(ALSSTRAT), "runs", "list"], env=_env(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    assert all("no training runs in this store" in out for out in outputs), outputs


@pytest.mark.slow
@pytest.mark.mlflow
def test_history_exits_2_when_the_chain_is_broken(store: dict[str, Any]) -> None:
    import shutil
    import sqlite3

    from training.registry.promotion import promotion_history
    from training.tracking import configure_tracking

    uri = configure_tracking()
    record = promotion_history()[0]
    copy = store["home"] / "tampered.db"
    shutil.copy(uri.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as db:  # an edit below the API, on a copy of the store
        db.execute("UPDATE params SET value = 'Dr Mallory' WHERE key = 'approver' AND run_uuid = ?",
                   (record.record_run_id,))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{copy}")
            result = _invoke(["runs", "history"])
    finally:
        configure_tracking()  # back to the module's store (MLflow exported the copy's URI meanwhile)
    assert result.exit_code == 2, result.output
    assert "history chain: BROKEN" in result.output
    assert "does not match its digest: its fields were altered" in result.output
