"""The training job end to end on a small synthetic cohort, with a real SQLite MLflow store in a temp folder."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features import spec as S
from tests.stores import last_json, private_home
from training.cli.app import app

pytestmark = [pytest.mark.slow, pytest.mark.mlflow]

SMALL_CONFIG = """
data: {source: synthetic, simulate: {n_patients: 500, seed: 11}}
subtype: {k_min: 2, k_max: 4, n_bootstrap: 4}
tuning: {n_trials: 2}
evaluation: {n_bootstrap: 60}
"""

REQUIRED_METRICS = {
    "test_slope_rmse", "test_slope_mae", "test_slope_pearson_r", "test_slope_interval_coverage_80",
    "test_survival_cindex", "test_survival_cindex_uno", "test_survival_ibs", "test_survival_auc_12m",
    "test_survival_auc_24m", "baseline_slope_rmse", "baseline_survival_cindex", "test_subtype_ari_truth",
    "oracle_slope_rmse", "oracle_survival_cindex", "test_slope_interval_coverage_80_bulbar",
    "test_slope_interval_coverage_80_true_fast", "test_slope_interval_coverage_80_pred_tertile_1",
    "lcn2_added_cindex", "lcn2_added_cindex_ci_low", "lcn2_added_cindex_ci_high",
    "lcn2_added_slope_rmse", "lcn2_added_slope_rmse_ci_low", "lcn2_added_slope_rmse_ci_high",
    "lcn2_added_cindex_p", "lcn2_added_slope_rmse_p", "lcn2_test_folds", "lcn2_adds_value",
    "test_subtype_ari_ceiling", "test_subtype_ari_ceiling_ratio", "test_subtype_changed_without_lcn2",
    "test_subtype_changed_without_nfl",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private project home: its own mlruns/mlflow.db, so tests never touch the developer's store."""
    with private_home(tmp_path_factory.mktemp("alsstrat-home")) as path:
        (path / "small.yaml").write_text(SMALL_CONFIG)
        yield path


@pytest.fixture(scope="module")
def trained(home: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["train", "--config", str(home / "small.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    return last_json(result.stdout)


def test_train_prints_run_version_hash_and_every_metric(trained: dict[str, Any]) -> None:
    assert set(trained) == {"run_id", "model_name", "model_version", "data_hash", "landmark", "biomarkers_measured",
                            "lcn2_ablation", "metrics"}
    assert trained["landmark"] == "screening"
    assert "nfl_serum_pg_ml" in trained["biomarkers_measured"]
    assert trained["lcn2_ablation"] == "evaluated"
    assert trained["model_name"] == "als-stratifier"
    assert trained["model_version"] == "1"
    assert len(trained["data_hash"]) == 64
    missing = REQUIRED_METRICS - set(trained["metrics"])
    assert not missing, f"metrics missing from --json: {sorted(missing)}"
    m = trained["metrics"]
    assert m["lcn2_added_cindex_ci_low"] <= m["lcn2_added_cindex"] <= m["lcn2_added_cindex_ci_high"]
    assert 0.0 <= m["lcn2_added_cindex_p"] <= 1.0
    assert m["lcn2_test_folds"] == 15  # the shipped 3 x 5 design
    # the combined decision is exactly "either endpoint's 95 % interval lies above 0"
    either = m["lcn2_added_cindex_ci_low"] > 0 or m["lcn2_added_slope_rmse_ci_low"] > 0
    assert m["lcn2_adds_value"] == float(either)
    assert 0.0 <= m["test_slope_interval_coverage_80"] <= 1.0
    assert any(k.startswith("test_slope_rmse.sex.") for k in m), "subgroup metrics by sex are missing"


def test_run_records_provenance_and_artifacts(home: Path, trained: dict[str, Any]) -> None:
    from training.tracking import configure_tracking

    configure_tracking()
    run = mlflow.get_run(trained["run_id"])
    assert run.data.tags["data_hash"] == trained["data_hash"]
    assert run.data.tags["source"] == "synthetic"
    assert run.data.tags["git_commit"]
    assert run.data.params["data.simulate.n_patients"] == "500"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(trained["run_id"])}
    assert {"config.yaml", "model_card.md", "model_card.html", "figures", "subtypes.json"} <= artifacts
    assert run.data.tags["lcn2_test_method"].startswith("cross-fitted 3x5-fold CV on the training patients")
    folds_csv = mlflow.artifacts.load_text(f"runs:/{trained['run_id']}/tables/lcn2_test_folds.csv")
    folds = pd.read_csv(io.StringIO(folds_csv))
    assert len(folds) == 15
    assert (folds["n_train"] + folds["n_test"]).nunique() == 1  # every fold splits the same training patients
    card = mlflow.artifacts.load_text(f"runs:/{trained['run_id']}/model_card.md")
    assert "unvalidated" in card.lower()
    nested = mlflow.search_runs(experiment_ids=[run.info.experiment_id],
                                filter_string=f"tags.`mlflow.parentRunId` = '{trained['run_id']}'")
    assert len(nested) == 4, "two Optuna trials for each of the two progression models"
    mv = mlflow.MlflowClient().get_model_version("als-stratifier", "1")
    assert mv.tags["data_hash"] == trained["data_hash"]


def test_model_loads_in_a_fresh_process_with_only_project_packages(home: Path, trained: dict[str, Any]) -> None:
    code = (
        "import json, pandas as pd\n"
        "from features.model.pyfunc import load_stratifier\n"
        "from training.tracking import configure_tracking, input_example\n"
        "configure_tracking()\n"
        "loaded = load_stratifier('models:/als-stratifier/1')\n"
        "out = loaded.model.predict_frame(pd.DataFrame(input_example()))\n"
        "print(json.dumps({'rows': len(out), 'version': str(out['model_version'].iloc[0])}))\n"
    )
    env = {**os.environ, "ALSSTRAT_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"rows": 1, "version": "1"}


@pytest.fixture(scope="module")
def loaded(home: Path, trained: dict[str, Any]) -> Any:
    from features.model.pyfunc import load_stratifier
    from training.tracking import configure_tracking

    configure_tracking()
    return load_stratifier("models:/als-stratifier/1").model


@pytest.fixture(scope="module")
def candidates() -> pd.DataFrame:
    from features.cohort.assemble import build_cohort
    from features.contracts import validate_tables
    from features.simulate.generate import load_scenario, simulate_cohort

    tables = validate_tables(simulate_cohort(n_patients=150, seed=99, scenario=load_scenario("default")))
    return build_cohort(tables, source="synthetic").table[list(S.BASELINE_NAMES)]


def test_predictions_obey_their_invariants(loaded: Any, candidates: pd.DataFrame) -> None:
    out = loaded.predict_frame(candidates)
    assert len(out) == len(candidates)
    assert out.index.equals(candidates.index)
    proba = out.filter(like="subtype_probability_").to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (out["slope_p10"] <= out["slope_point"]).all()
    assert (out["slope_point"] <= out["slope_p90"]).all()
    surv = out[["survival_probability_12m", "survival_probability_24m", "survival_probability_36m"]].to_numpy()
    assert ((surv >= 0) & (surv <= 1)).all()
    assert (np.diff(surv, axis=1) <= 0).all(), "survival curves must be non-increasing"
    assert set(out["risk_group"]) <= {1, 2, 3, 4, 5}
    assert (out["model_version"] == "1").all()


def test_predictions_do_not_depend_on_row_order(loaded: Any, candidates: pd.DataFrame) -> None:
    shuffled = candidates.sample(frac=1.0, random_state=3)
    a = loaded.predict_frame(candidates).drop(columns=["explanation"])
    b = loaded.predict_frame(shuffled).drop(columns=["explanation"]).loc[candidates.index]
    pd.testing.assert_frame_equal(a, b)


def test_fast_record_path_equals_the_frame_path(loaded: Any, candidates: pd.DataFrame) -> None:
    records = [{k: v for k, v in row.items() if not pd.isna(v)} for row in candidates.to_dict(orient="records")]
    fast = loaded.predict_records(records)
    frame = loaded.predict_frame(candidates)
    assert len(fast) == len(frame)
    for got, (_, want) in zip(fast, frame.iterrows(), strict=True):
        assert got["subtype"]["label"] == want["subtype_label"]
        # Answers are rounded to their stated precision (features.model.bundle.ANSWER_DECIMALS); the frame is not.
        assert got["slope"]["point"] == pytest.approx(round(want["slope_point"], 3), abs=1e-12)
        assert got["slope"]["p10"] == pytest.approx(round(want["slope_p10"], 3), abs=1e-12)
        assert got["survival"]["probability_at_months"]["24"] == pytest.approx(
            round(want["survival_probability_24m"], 3), abs=1e-12)
        assert got["survival"]["risk_group"] == want["risk_group"]
        assert [e["feature"] for e in got["explanation"]] == [e["feature"] for e in json.loads(want["explanation"])]


def test_served_arrays_equal_the_boosters_own_predictions(loaded: Any, candidates: pd.DataFrame) -> None:
    """The serving path takes the median from the sum of its contributions (one pass through the median trees);
    it must equal what the logged median booster predicts, up to XGBoost's float32 accumulation."""
    import xgboost as xgb

    z = loaded.features.transform(candidates)
    arrays = loaded.predict_arrays(z)
    dm = xgb.DMatrix(z, missing=np.nan)
    median = loaded.slope.median.predict(dm)
    np.testing.assert_allclose(arrays["p50"], median, rtol=0, atol=2e-5)
    exact = loaded.slope.median.predict(dm, pred_contribs=True, approx_contribs=True)
    np.testing.assert_allclose(arrays["contrib"], exact[:, :-1], rtol=0, atol=1e-6)
    # mu is the booster's margin through the out-of-fold recalibration (location and slope) learned in training
    mu = loaded.survival.calibrate(loaded.survival.booster.predict(dm, output_margin=True))
    np.testing.assert_allclose(arrays["mu"], mu, rtol=0, atol=1e-6)
    tails = loaded.slope.tails.predict(dm).reshape(-1, 2)
    # Each row's lower bound is widened by its predicted-rate group's own lower conformal margin.
    group = np.searchsorted(loaded.slope.group_cuts, median, side="right")
    below = loaded.slope.group_margins[group, 0]
    lo = np.minimum(np.minimum(tails.min(axis=1), median) - below, arrays["p50"])
    np.testing.assert_allclose(arrays["p10"], lo, rtol=0, atol=2e-5)
    # Small batches take the compiled-forest path: the same numbers, row by row and in chunks of SMALL_BATCH_ROWS.
    from features.model.bundle import SMALL_BATCH_ROWS

    assert len(z) > SMALL_BATCH_ROWS  # so the whole-matrix call above went through XGBoost
    for rows in ([0], [5], list(range(SMALL_BATCH_ROWS))):
        small = loaded.predict_arrays(z[rows])
        for key in ("p10", "p50", "p90", "mu", "surv", "proba", "contrib"):
            np.testing.assert_allclose(small[key], arrays[key][rows], rtol=0, atol=2e-5, err_msg=key)
        assert (small["risk_group"] == arrays["risk_group"][rows]).all()
        assert (small["chosen"] == arrays["chosen"][rows]).all()


def test_promotion_moves_the_alias_and_history_is_append_only(home: Path, trained: dict[str, Any]) -> None:
    from training.registry.promotion import HISTORY_EXPERIMENT, promotion_history
    from training.tracking import configure_tracking

    runner = CliRunner()
    first = runner.invoke(app, ["promote", "1", "--approver", "Dr A", "--reason", "first model"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["promote", "1", "--approver", "Dr B", "--reason", "re-confirmed"])
    assert second.exit_code == 0, second.output
    configure_tracking()
    assert str(mlflow.MlflowClient().get_model_version_by_alias("als-stratifier", "champion").version) == "1"
    history = promotion_history("als-stratifier")
    assert [(h.version, h.previous_champion, h.approver, h.reason) for h in history] == [
        ("1", None, "Dr A", "first model"), ("1", "1", "Dr B", "re-confirmed")]
    # A record cannot be rewritten: MLflow refuses to change a logged param.
    with pytest.raises(mlflow.exceptions.MlflowException):
        mlflow.MlflowClient().log_param(history[0].record_run_id, "approver", "someone else")
    assert mlflow.get_experiment_by_name(HISTORY_EXPERIMENT) is not None
    assert promotion_history("als-stratifier")[0].approver == "Dr A"


@pytest.mark.parametrize(("args", "message"), [
    (["promote", "7", "--approver", "Dr A", "--reason", "x"], "als-stratifier has no version 7"),
    (["promote", "1", "--approver", " ", "--reason", "x"], "--approver must name a person"),
    (["promote", "1", "--approver", "Dr A", "--reason", ""], "--reason must say why"),
])
def test_promotion_refusals_exit_2(home: Path, trained: dict[str, Any], args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_bad_config_key_is_refused_with_exit_2(home: Path) -> None:
    bad = home / "bad.yaml"
    bad.write_text("split: {test_fraction: 0.2, folds: 5}\n")
    result = CliRunner().invoke(app, ["train", "--config", str(bad)])
    assert result.exit_code == 2
    assert "split.folds: unknown setting (check its spelling)" in result.output


def test_same_seed_and_data_give_identical_metrics() -> None:
    from training.config import TrainConfig
    from training.data.load import load_training_data
    from training.fit.train import fit_and_evaluate

    cfg = TrainConfig.model_validate({
        "data": {"simulate": {"n_patients": 300, "seed": 5}}, "subtype": {"k_max": 3, "n_bootstrap": 2},
        "tuning": {"n_trials": 1}, "evaluation": {"n_bootstrap": 50}, "lcn2_ablation": False,
    })
    data = load_training_data(cfg.data)
    first = fit_and_evaluate(cfg, data).metrics
    second = fit_and_evaluate(cfg, load_training_data(cfg.data)).metrics
    assert first.keys() == second.keys()
    for key in first:
        assert first[key] == second[key] or (np.isnan(first[key]) and np.isnan(second[key])), key
