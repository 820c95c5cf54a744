"""``alsstrat trial plan`` on real files with the session's registered model: a cohort table is a pool, the outputs
hold the named fields, and bad input exits 2 naming the row and field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.servers import ServedModel
from training.cli.app import app

pytestmark = [pytest.mark.slow, pytest.mark.mlflow]


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from features.cohort.assemble import build_cohort
    from features.cohort.table import write_cohort
    from features.contracts import validate_tables
    from features.simulate.generate import load_scenario, simulate_cohort

    tables = validate_tables(simulate_cohort(n_patients=300, seed=5151, scenario=load_scenario("default")),
                             context="test pool")
    path = tmp_path_factory.mktemp("pool") / "cohort.parquet"
    write_cohort(build_cohort(tables, source="synthetic"), path)
    return path


def test_a_cohort_table_is_planned_with_every_named_field(store: ServedModel, cohort_file: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "plan"
    done = CliRunner().invoke(app, ["trial", "plan", "--input", str(cohort_file), "--out", str(out),
                                    "--keep", "1.0,0.6", "--json"])
    assert done.exit_code == 0, done.output
    plan = json.loads((out / "plan.json").read_text())
    assert json.loads(done.stdout) == plan
    assert [(d["keep_fraction"], d["adjustment"]) for d in plan["designs"]] == [
        (1.0, "none"), (1.0, "prognostic"), (0.6, "none"), (0.6, "prognostic")]
    for d in plan["designs"]:
        assert {"keep_fraction", "adjustment", "n_per_arm", "screened_per_enrolled", "outcome_mean",
                "outcome_sd"} <= set(d)
        assert d["n_per_arm"] >= d["n_analysed_per_arm"]
    assert [d.get("rho") is not None for d in plan["designs"]] == [False, True, False, True]
    # the test split and the training patients predicted out of fold, both counted
    assert re.match(rf"held-out patients of run {store.run_id} with a slope outcome \(n = (\d+): (\d+) of the test "
                    r"split, predicted by the model, and (\d+) training patients", plan["sources"]["rho_source"])
    cohort = pd.read_parquet(cohort_file)
    candidates = pd.read_csv(out / "candidates.csv")
    assert list(candidates.columns) == ["patient_id", "prognostic_score", "stratum", "enrolled_keep_1.0",
                                        "enrolled_keep_0.6"]
    assert candidates["patient_id"].tolist() == cohort["patient_id"].tolist()
    assert int(candidates["enrolled_keep_0.6"].sum()) == 180
    # the enrolled are the fastest predicted decliners; stratum 3 the fastest tertile
    enrolled = candidates[candidates["enrolled_keep_0.6"]]["prognostic_score"]
    assert enrolled.max() <= candidates[~candidates["enrolled_keep_0.6"]]["prognostic_score"].min()
    assert candidates.groupby("stratum")["prognostic_score"].mean().is_monotonic_decreasing
    assert (out / "plan.html").read_text().startswith("<!doctype html>")


def test_survival_plan_names_events_and_event_probability(store: ServedModel, cohort_file: Path,
                                                         tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["trial", "plan", "--input", str(cohort_file), "--out", str(tmp_path),
                                    "--endpoint", "survival", "--hazard-ratio", "0.6", "--keep", "1.0"])
    assert done.exit_code == 0, done.output
    plan = json.loads((tmp_path / "plan.json").read_text())
    for d in plan["designs"]:
        assert {"events_required", "event_probability", "effective_hazard_ratio"} <= set(d)
        assert 0 < d["event_probability"] < 1
    assert "hazard_ratio_meaning" in plan["sources"]


def test_an_invalid_row_exits_2_naming_row_and_field(store: ServedModel, cohort_file: Path, tmp_path: Path) -> None:
    table = pd.read_parquet(cohort_file)
    table.loc[4, "alsfrs_r_total"] = 60.0
    bad = tmp_path / "bad.parquet"
    table.to_parquet(bad)
    done = CliRunner().invoke(app, ["trial", "plan", "--input", str(bad), "--out", str(tmp_path / "out")])
    assert done.exit_code == 2
    assert "candidates[4].alsfrs_r_total: must be within [0, 48]" in done.stderr
    assert not (tmp_path / "out" / "plan.json").exists()
    wrong = CliRunner().invoke(app, ["trial", "plan", "--input", str(cohort_file), "--out", str(tmp_path),
                                     "--effect", "1.2"])
    assert wrong.exit_code == 2
    assert "design.effect: must be > 0 and < 1, got 1.2" in wrong.stderr
