"""Models registered before the stage-subpackage layout still load and score identically.

The fixture (``tests/fixtures/legacy_model_v0_1``) was logged by the code before ``features/`` was split into
subpackages: its pickle names ``features.bundle`` / ``features.derive`` and its entry point imports
``features.pyfunc``. Its predictions for 40 candidates were recorded by that same code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "legacy_model_v0_1"
RENAMED_COLUMNS = {"slope_median": "slope_point"}  # the point prediction may now be a mean: named for what it is


def test_pickle_names_the_old_module_paths() -> None:
    raw = (FIXTURE / "model" / "artifacts" / "stratifier.joblib").read_bytes()
    assert b"features.bundle" in raw
    assert b"features.derive" in raw
    assert "from features.pyfunc import" in (FIXTURE / "model" / "pyfunc_entry.py").read_text()


def test_legacy_model_scores_identically() -> None:
    """Through the shims the old pickle unpickles into today's classes and predicts exactly what it did."""
    import mlflow

    model = mlflow.pyfunc.load_model(str(FIXTURE / "model")).unwrap_python_model().model
    got = model.predict_frame(pd.read_parquet(FIXTURE / "candidates.parquet"))
    expected = pd.read_parquet(FIXTURE / "expected_predictions.parquet").rename(columns=RENAMED_COLUMNS)
    # Every prediction is identical; the explanation's ranking rule changed on purpose since (it now names only
    # features the candidate supplied), so it is checked against that rule instead.
    columns = [c for c in expected.columns if c not in ("model_version", "explanation")]
    pd.testing.assert_frame_equal(got[columns], expected[columns], check_exact=True)
    candidates = pd.read_parquet(FIXTURE / "candidates.parquet")
    z = model.features.transform(model._frame_input(candidates))
    names = model.feature_names
    for i, text in enumerate(got["explanation"]):
        for entry in json.loads(text):
            assert not np.isnan(z[i, names.index(entry["feature"])]), (i, entry)
    assert model.slope.point == "median", "an old model's point prediction is its median, and says so"


def test_serving_refuses_a_model_of_another_feature_spec() -> None:
    """The old model predates the landmark contract (features from days 0-91, survival from day 0): the loader that
    serving and scoring use refuses it by its spec hash, naming both hashes and the way out."""
    from features.model.pyfunc import IncompatibleModelError, load_stratifier
    from features.spec import spec_hash

    with pytest.raises(IncompatibleModelError, match=rf"was trained with feature spec [0-9a-f]{{16}}, but this code "
                                                      rf"has spec {spec_hash()}: retrain the model"):
        load_stratifier(str(FIXTURE / "model"))


@pytest.mark.slow
def test_legacy_model_loads_through_plain_mlflow_in_a_fresh_interpreter() -> None:
    """What a data scientist does with MLflow alone: no alsstrat loader involved."""
    code = (
        "import mlflow, pandas as pd, sys\n"
        f"m = mlflow.pyfunc.load_model({str(FIXTURE / 'model')!r})\n"
        f"got = m.predict(pd.read_parquet({str(FIXTURE / 'candidates.parquet')!r}))\n"
        f"exp = pd.read_parquet({str(FIXTURE / 'expected_predictions.parquet')!r})\n"
        "exp = exp.rename(columns={'slope_median': 'slope_point'})\n"
        "cols = [c for c in exp.columns if c not in ('model_version', 'explanation')]\n"
        "pd.testing.assert_frame_equal(got[cols], exp[cols], check_exact=True)\n"
        "print(len(got))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "40"
