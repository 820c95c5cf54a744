"""The DREAM-2012 benchmark: the target on the 625 real test patients, one model with the training job, MLflow
logging, and the value join.

The end-to-end tests run ``alsstrat benchmark dream2012`` and ``alsstrat train --source dream2012`` once each (about
15-40 s each on two busy cores) against a private MLflow store; they are skipped when the shared data folder is
absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.stores import last_json, private_home
from training.benchmarks.dream2012 import (
    EXPERIMENT,
    GOLD_FILE,
    ORGANISERS_FILE,
    TARGET_PEARSON_R,
    TARGET_RMSD,
    BenchmarkInputError,
    default_input,
    match_by_value,
    training_config,
)
from training.cli.app import app
from training.config import load_config
from training.evaluation.bootstrap import interval
from training.evaluation.metrics import pearson as pearson_r
from training.evaluation.metrics import rmse as rmsd

REPO = Path(__file__).resolve().parents[3]
DREAMTOOLS_ORGANISERS_RMSD = 0.53686613
"""The organisers' baseline RMSD asserted by the dreamtools unit test (DREAM7 D7C3), to 8 decimals."""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private project home: its own mlruns/mlflow.db, so the test never touches the developer's store."""
    with private_home(tmp_path_factory.mktemp("alsstrat-home")) as path:
        yield path


@pytest.fixture(scope="module")
def benchmark(home: Path, dream_dir: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["benchmark", "dream2012", "--input", str(dream_dir), "--json"])
    assert result.exit_code == 0, result.output
    return last_json(result.stdout)


@pytest.fixture(scope="module")
def training_job(home: Path, dream_dir: Path) -> dict[str, Any]:
    """``alsstrat train --source dream2012`` on the same feature table, in the same private store."""
    table = dream_dir / "als_dream2012.csv.gz"
    result = CliRunner().invoke(app, ["train", "--source", "dream2012", "--input", str(table), "--json"])
    assert result.exit_code == 0, result.output
    return last_json(result.stdout)


# --------------------------------------------------------------------------------------------------------------------
# End to end on the real data
# --------------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.mlflow
@pytest.mark.data
def test_benchmark_meets_the_target_on_the_625_test_patients(benchmark: dict[str, Any]) -> None:
    assert benchmark["counts"]["train"] == 1197
    assert benchmark["counts"]["test"] == 625
    assert benchmark["rmsd"] <= TARGET_RMSD == 0.515
    assert benchmark["pearson_r"] >= TARGET_PEARSON_R == 0.43
    assert benchmark["target"]["met"] is True
    base = benchmark["baselines"]
    assert set(base) == {"constant_training_mean", "pre_slope_linear_regression", "organisers_baseline"}
    assert base["organisers_baseline"]["rmsd"] == pytest.approx(DREAMTOOLS_ORGANISERS_RMSD, abs=5e-9)
    assert base["organisers_baseline"]["pearson_r"] == pytest.approx(0.382, abs=5e-4)
    assert base["constant_training_mean"]["rmsd"] == pytest.approx(0.566, abs=5e-4)
    assert base["constant_training_mean"]["pearson_r"] is None  # a constant has no correlation
    assert benchmark["rmsd"] < base["organisers_baseline"]["rmsd"] < base["pre_slope_linear_regression"]["rmsd"]
    lo, hi = benchmark["ci95"]["rmsd"]
    assert lo < benchmark["rmsd"] < hi
    shipped = load_config(None)
    assert benchmark["interval"]["nominal"] == shipped.slope.interval
    assert 0.0 <= benchmark["interval"]["coverage"] <= 1.0
    assert {"random_forest_369", "bart_tang_2019"} <= set(benchmark["references"])
    # tuned and split as the shipped training configuration says, not by settings of the benchmark's own
    assert (benchmark["cv"]["n_trials"], benchmark["cv"]["folds"]) == (shipped.tuning.n_trials, shipped.split.cv_folds)
    assert benchmark["point"] == shipped.slope.point == "mean"
    assert benchmark["top_features"][0]["feature"]


@pytest.mark.slow
@pytest.mark.mlflow
@pytest.mark.data
def test_benchmark_reports_the_training_jobs_numbers(benchmark: dict[str, Any], training_job: dict[str, Any]) -> None:
    # one model, one number: the benchmark is the training job's model scored on the same 625 patients
    metrics = training_job["metrics"]
    assert training_job["data_hash"] == benchmark["data_hash"]
    assert training_job["landmark"] == "lead-in"
    assert abs(benchmark["rmsd"] - metrics["test_slope_rmse"]) <= 1e-9
    assert abs(benchmark["pearson_r"] - metrics["test_slope_pearson_r"]) <= 1e-9
    assert abs(benchmark["interval"]["coverage"] - metrics["test_slope_interval_coverage_80"]) <= 1e-9
    assert abs(benchmark["baselines"]["pre_slope_linear_regression"]["rmsd"] - metrics["baseline_slope_rmse"]) <= 1e-9


@pytest.mark.slow
@pytest.mark.mlflow
@pytest.mark.data
def test_the_run_is_logged_with_params_metrics_table_and_data_hash(benchmark: dict[str, Any], home: Path) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    run = client.get_run(benchmark["run_id"])
    assert run.info.experiment_id == experiment.experiment_id
    assert run.data.tags["data_hash"] == benchmark["data_hash"]
    assert len(run.data.tags["data_hash"]) == 64
    assert run.data.tags["file_sha256.goldstandard_625.csv"] == benchmark["file_hashes"][GOLD_FILE]
    assert {"git_commit", "spec_hash", "slope_point"} <= set(run.data.tags)
    assert run.data.metrics["test_rmsd"] == pytest.approx(benchmark["rmsd"])
    assert run.data.metrics["test_pearson_r"] == pytest.approx(benchmark["pearson_r"])
    assert "baseline_organisers_baseline_rmsd" in run.data.metrics
    assert int(run.data.params["tuned.max_depth"]) == benchmark["params"]["max_depth"]
    # the logged configuration is the training job's
    assert run.data.params["config.tuning.n_trials"] == str(load_config(None).tuning.n_trials)
    assert run.data.params["config.data.source"] == "dream2012"
    assert run.data.params["benchmark.n_bootstrap"] == "1000"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "benchmark_table.md",
        "benchmark_table.csv",
        "tuning_trials.csv",
        "feature_importance.csv",
        "benchmark.json",
        "config.yaml",
    } <= artifacts


@pytest.mark.slow
@pytest.mark.mlflow
@pytest.mark.data
def test_organisers_value_join_scores_like_the_id_join(benchmark: dict[str, Any], dream_dir: Path) -> None:
    # scored directly by subject id (no join by value at all): the two must agree exactly
    gold = pd.read_csv(dream_dir / GOLD_FILE, header=None, names=["subject", "y"]).set_index("subject")["y"]
    org = pd.read_csv(dream_dir / ORGANISERS_FILE, header=None, names=["subject", "p"]).set_index("subject")["p"]
    y, p = gold.to_numpy(), org.reindex(gold.index).to_numpy()
    assert benchmark["baselines"]["organisers_baseline"]["rmsd"] == pytest.approx(rmsd(p, y), abs=1e-12)
    assert benchmark["baselines"]["organisers_baseline"]["pearson_r"] == pytest.approx(pearson_r(p, y), abs=1e-12)


# --------------------------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------------------------
def test_missing_input_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = CliRunner().invoke(app, ["benchmark", "dream2012", "--input", str(missing)])
    assert result.exit_code == 2
    assert f"DREAM-2012 data not found at {missing}" in result.stderr
    assert "--input" in result.stderr


@pytest.mark.data
def test_folder_without_the_gold_standard_exits_2(tmp_path: Path, dream_dir: Path) -> None:
    (tmp_path / "als_dream2012.csv.gz").symlink_to(dream_dir / "als_dream2012.csv.gz")
    result = CliRunner().invoke(app, ["benchmark", "dream2012", "--input", str(tmp_path)])
    assert result.exit_code == 2
    assert f"gold standard not found: {tmp_path / GOLD_FILE}" in result.stderr


def test_training_config_is_the_shipped_one_with_the_dream_source(tmp_path: Path) -> None:
    table = tmp_path / "als_dream2012.csv.gz"
    cfg = training_config(table)
    assert (cfg.data.source, cfg.data.input) == ("dream2012", str(table))
    assert cfg.data.resolved_landmark == "lead-in"
    shipped = load_config(None).model_dump()
    shipped.pop("data")
    assert {k: v for k, v in cfg.model_dump().items() if k != "data"} == shipped


def test_default_input_is_beside_the_repository_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_input() == REPO.parent / "shared" / "data" / "dream2012"


# --------------------------------------------------------------------------------------------------------------------
# The join by value and its ties
# --------------------------------------------------------------------------------------------------------------------
def _gold_and_organisers() -> tuple[np.ndarray, pd.Series, pd.Series]:
    ids = ["a", "b", "c", "d", "e", "f"]
    gold = pd.Series([-1.0, 0.0, -0.5, 0.0, 0.0, -2.0], index=ids)
    organisers = pd.Series([-0.9, -0.1, -0.6, 0.2, -0.3, -1.5], index=ids)
    # the table carries the same observed values in another order (with float round-off), and no ids
    observed = np.array([0.0, -2.0 + 1e-15, 0.0, -0.5, -1.0, 0.0])
    return observed, gold, organisers


def test_match_by_value_aligns_unique_values_and_groups_ties() -> None:
    observed, gold, organisers = _gold_and_organisers()
    match = match_by_value(observed, gold, organisers)
    assert match.prediction[[1, 3, 4]].tolist() == [-1.5, -0.6, -0.9]
    zeros = observed == 0.0
    assert sorted(match.prediction[zeros]) == [-0.3, -0.1, 0.2]  # the three zero-slope subjects, in some order
    assert len(set(match.group[zeros])) == 1
    assert (match.n_groups, match.n_tied_rows, match.largest_tie) == (4, 3, 3)
    assert match.max_abs_difference == pytest.approx(1e-15, abs=1e-15)


def test_metrics_and_intervals_do_not_depend_on_the_pairing_within_ties(rng: np.random.Generator) -> None:
    observed, gold, organisers = _gold_and_organisers()
    observed = np.tile(observed, 20)
    gold = pd.concat([gold.rename(lambda s, k=k: f"{s}{k}") for k in range(20)])
    organisers = pd.concat([organisers.rename(lambda s, k=k: f"{s}{k}") for k in range(20)])
    match = match_by_value(observed, gold, organisers)
    shuffled = match.prediction.copy()
    for g in np.unique(match.group):
        rows = np.flatnonzero(match.group == g)
        shuffled[rows] = rng.permutation(shuffled[rows])
    assert rmsd(shuffled, observed) == pytest.approx(rmsd(match.prediction, observed), abs=1e-14)
    assert pearson_r(shuffled, observed) == pytest.approx(pearson_r(match.prediction, observed), abs=1e-14)

    def ci(pred: np.ndarray) -> tuple[float, float]:
        res = interval(lambda i: rmsd(pred[i], observed[i]), len(observed), n_resamples=200, seed=3,
                       groups=match.group)
        return res.ci_low, res.ci_high

    np.testing.assert_allclose(ci(shuffled), ci(match.prediction), rtol=0, atol=1e-12)


def test_match_by_value_refuses_files_that_do_not_belong_together() -> None:
    observed, gold, organisers = _gold_and_organisers()
    with pytest.raises(BenchmarkInputError, match="do not match the gold standard"):
        match_by_value(observed + 0.01, gold, organisers)
    with pytest.raises(BenchmarkInputError, match="different subject ids"):
        match_by_value(observed, gold, organisers.rename({"a": "z"}))
    with pytest.raises(BenchmarkInputError, match="5 test rows but 6 gold-standard subjects"):
        match_by_value(observed[:5], gold, organisers)


def test_pearson_r_of_a_constant_is_undefined() -> None:
    assert np.isnan(pearson_r(np.full(5, -0.7), np.arange(5.0)))
