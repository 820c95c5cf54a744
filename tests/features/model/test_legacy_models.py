"""Models registered before the stage-subpackage layout still load and score identically.

The fixture (``tests/fixtures/legacy_model_v0_1``) was logged by the code before ``features/`` was split into
subpackages: its pickle names ``features.bundle`` / ``features.derive`` and its entry point imports
``features.pyfunc``. Its predictions for 40 candidates were recorded by that same code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "legacy_model_v0_1"


def test_pickle_names_the_old_module_paths() -> None:
    raw = (FIXTURE / "model" / "artifacts" / "stratifier.joblib").read_bytes()
    assert b"features.bundle" in raw
    assert b"features.derive" in raw
    assert "from features.pyfunc import" in (FIXTURE / "model" / "pyfunc_entry.py").read_text()


def test_legacy_model_scores_identically() -> None:
    from features.model.pyfunc import load_stratifier

    loaded = load_stratifier(str(FIXTURE / "model"))
    got = loaded.model.predict_frame(pd.read_parquet(FIXTURE / "candidates.parquet"))
    expected = pd.read_parquet(FIXTURE / "expected_predictions.parquet")
    pd.testing.assert_frame_equal(got.drop(columns="model_version"), expected.drop(columns="model_version"),
                                  check_exact=True)


@pytest.mark.slow
def test_legacy_model_loads_through_plain_mlflow_in_a_fresh_interpreter() -> None:
    """What a data scientist does with MLflow alone: no alsstrat loader involved."""
    code = (
        "import mlflow, pandas as pd, sys\n"
        f"m = mlflow.pyfunc.load_model({str(FIXTURE / 'model')!r})\n"
        f"got = m.predict(pd.read_parquet({str(FIXTURE / 'candidates.parquet')!r}))\n"
        f"exp = pd.read_parquet({str(FIXTURE / 'expected_predictions.parquet')!r})\n"
        "pd.testing.assert_frame_equal(got.drop(columns='model_version'), exp.drop(columns='model_version'),"
        " check_exact=True)\n"
        "print(len(got))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "40"
