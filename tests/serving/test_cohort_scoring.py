"""One table flows everywhere (issue 17): the project's own cohort table scores through ``alsstrat score`` and through
plain MLflow pyfunc, with the same predictions, including patients with a missing diagnostic delay, boolean or
category.

The table is the cohort the session's model was trained on (simulated, 300 patients, seed 7, screening landmark),
written as ``alsstrat cohort`` writes it, plus a ``split`` column and a few categories blanked out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features import spec as S
from tests.servers import TINY_CONFIG, ServedModel, store_env
from training.cli.app import app

pytestmark = [pytest.mark.slow, pytest.mark.mlflow]

ROOT = Path(__file__).resolve().parents[2]
BLANKED = {"c9orf72": range(0, 12), "el_escorial": range(5, 9), "ftd": range(20, 23)}
"""Categories set missing on these rows (the simulator always fills them; real tables do not)."""


@pytest.fixture(scope="module")
def cohort_file(store: ServedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training cohort of the session's model as a Parquet cohort table, with a split column."""
    from features.cohort.table import write_cohort
    from training.config import DataConfig
    from training.data.load import load_training_data

    data = load_training_data(DataConfig.model_validate(TINY_CONFIG["data"]))
    folder = tmp_path_factory.mktemp("cohort-table")
    path, _ = write_cohort(data.cohort, folder / "cohort.parquet")
    table = pd.read_parquet(path)
    for name, rows in BLANKED.items():
        table.loc[list(rows), name] = pd.NA
    table["split"] = np.where(np.arange(len(table)) % 4 == 0, "test", "train")
    table.to_parquet(path)
    return path


def _score(*args: str) -> Any:
    return CliRunner().invoke(app, ["score", *args])


def test_cohort_table_has_the_missing_values_this_module_is_about(cohort_file: Path) -> None:
    table = pd.read_parquet(cohort_file)
    assert len(table) == 300
    assert table["diagnostic_delay_months"].isna().sum() > 0, "patients not diagnosed by the landmark"
    assert table["riluzole"].isna().sum() > 0
    assert table["riluzole"].dtype == "boolean", "a nullable boolean column, as the cohort builder writes it"
    assert table["c9orf72"].isna().sum() == len(BLANKED["c9orf72"])
    assert table["alsfrs_r_slope_baseline"].isna().all(), "a lead-in field, all missing at screening"


def test_alsstrat_score_predicts_every_row_of_a_cohort_table(cohort_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    result = _score("--input", str(cohort_file), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "300 predicted, 0 rejected" in result.output
    # named once, not once per row
    ignored = "alsfrs_r_slope_3_12, time_to_event_months, event_observed, split"
    assert result.output.count(f"note: cohort outcome column(s) ignored (never model inputs): {ignored}") == 1
    assert result.output.count("note: patient_id is used as candidate_id") == 1
    assert "not candidate fields" not in result.output
    scores = pd.read_csv(out, dtype={"candidate_id": str})
    table = pd.read_parquet(cohort_file)
    assert scores["candidate_id"].tolist() == table["patient_id"].astype(str).tolist()
    assert scores["error_field"].isna().all()
    assert scores["slope_point"].notna().all()


def test_any_other_unknown_column_still_rejects_every_row(cohort_file: Path, tmp_path: Path) -> None:
    src = tmp_path / "with_site.parquet"
    pd.read_parquet(cohort_file).assign(site_code="A").to_parquet(src)
    out = tmp_path / "scores.csv"
    result = _score("--input", str(src), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert ("column(s) that are not candidate fields, so every row is rejected: site_code (rename an identifier "
            "column to candidate_id; drop the others)") in result.output
    assert "every one of the 300 rows was rejected; nothing was scored" in result.output
    scores = pd.read_csv(out)
    assert len(scores) == 300
    assert (scores["error_field"] == "site_code").all()
    assert (scores["error_message"] == "unknown field").all()


def test_with_both_ids_patient_id_is_an_unknown_column(cohort_file: Path, tmp_path: Path) -> None:
    src = tmp_path / "both_ids.parquet"
    table = pd.read_parquet(cohort_file)
    table.insert(0, "candidate_id", [f"c{i}" for i in range(len(table))])
    table.head(3).to_parquet(src)
    result = _score("--input", str(src), "--out", str(tmp_path / "scores.csv"))
    assert result.exit_code == 2, result.output
    assert "not candidate fields, so every row is rejected: patient_id" in result.output
    assert "is used as candidate_id" not in result.output


def test_mlflow_pyfunc_in_a_fresh_process_equals_alsstrat_score(store: ServedModel, cohort_file: Path,
                                                                 tmp_path: Path) -> None:
    """What a data scientist does with MLflow alone, on the cohort's baseline columns (missing booleans,
    categories and delays included): one row per input row, the same predictions as ``alsstrat score``."""
    scores_csv = tmp_path / "scores.csv"
    assert _score("--input", str(cohort_file), "--out", str(scores_csv)).exit_code == 0
    pyfunc_out = tmp_path / "pyfunc.parquet"
    code = (
        "import sys, mlflow, pandas as pd\n"
        "from features import spec as S\n"
        "table = pd.read_parquet(sys.argv[1])\n"
        "model = mlflow.pyfunc.load_model('models:/als-stratifier@champion')\n"
        "model.predict(table[list(S.BASELINE_NAMES)]).to_parquet(sys.argv[2])\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("MLFLOW_TRACKING_URI", "ALSSTRAT_HOME")}
    env |= store_env(store) | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(cohort_file), str(pyfunc_out)], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    got = pd.read_parquet(pyfunc_out)
    scored = pd.read_csv(scores_csv)
    assert len(got) == len(scored) == 300
    numeric = ["slope_point", "slope_p10", "slope_p90", "survival_probability_12m", "survival_probability_24m",
               "survival_probability_36m", "median_survival_months",
               *[c for c in scored.columns if c.startswith("subtype_probability_")]]
    # the CSV holds the shortest repr that round-trips a float64, so the numbers compare exactly
    np.testing.assert_array_equal(got[numeric].to_numpy(dtype=float), scored[numeric].to_numpy(dtype=float))
    assert got["subtype_label"].tolist() == scored["subtype_label"].tolist()
    assert got["risk_group"].tolist() == scored["risk_group"].tolist()
    assert got["explanation"].tolist() == scored["explanation"].tolist()
    table = pd.read_parquet(cohort_file)
    assert table.loc[table["riluzole"].isna(), "patient_id"].size > 0  # the rows that used to fail MLflow


def test_signature_declares_optional_booleans_and_categories_as_any() -> None:
    from training.tracking import input_signature_schema

    schema = {c.name: (c.to_dict()["type"], c.required)
              for c in input_signature_schema(S.landmark("screening")).inputs}
    assert schema["riluzole"] == ("any", False)
    assert schema["c9orf72"] == ("any", False)
    assert schema["sex"] == ("string", True)
    assert schema["diagnostic_delay_months"] == ("double", False)
    assert schema["alsfrs_r_total"] == ("double", True)
    assert "alsfrs_r_slope_baseline" not in schema


@pytest.mark.parametrize(("column", "values", "message"), [
    ("riluzole", [True, 0.5], "riluzole must be true, false or missing, got 0.5 in row 2"),
    ("riluzole", ["yes", None], "riluzole must be true, false or missing, got 'yes' in row 1"),
    ("c9orf72", ["negative", "neg"], "c9orf72"),
])
def test_pyfunc_refuses_what_the_any_columns_let_through(store: ServedModel, column: str, values: list[Any],
                                                         message: str) -> None:
    """``any`` in the signature moves the type check into the model: a wrong value is refused, named, not read."""
    import mlflow

    from tests.servers import GOOD

    model = mlflow.pyfunc.load_model("models:/als-stratifier@champion")
    frame = pd.DataFrame([GOOD, GOOD])
    frame[column] = pd.Series(values, dtype=object)
    with pytest.raises(ValueError, match=message):
        model.predict(frame)


SPARK_CODE = """
import sys
import mlflow
from pyspark.sql import SparkSession

uri = "models:/als-stratifier@champion"
inputs = mlflow.pyfunc.load_model(uri).metadata.get_input_schema().input_names()
spark = (SparkSession.builder.master("local[1]").appName("alsstrat-spark-test")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1").getOrCreate())
try:
    udf = mlflow.pyfunc.spark_udf(spark, uri, env_manager="local")
    table = spark.read.parquet(sys.argv[1])
    scored = table.select("patient_id", udf(*inputs).alias("p")).select("patient_id", "p.*")
    scored.toPandas().to_parquet(sys.argv[2])
finally:
    spark.stop()
"""


def _spark_missing() -> str | None:
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (make install installs it with the dev group)"
    if shutil.which("java") is None:
        return "no Java runtime (make test installs Debian's headless JRE when run as root)"
    return None


def test_spark_udf_in_local_mode_equals_alsstrat_score(store: ServedModel, cohort_file: Path,
                                                       tmp_path: Path) -> None:
    """``mlflow.pyfunc.spark_udf`` on the champion over the cohort Parquet (Spark local mode, a fresh process):
    one row per patient, the same predictions as ``alsstrat score``."""
    missing = _spark_missing()
    if missing:
        pytest.skip(missing)
    import os

    scores_csv = tmp_path / "scores.csv"
    assert _score("--input", str(cohort_file), "--out", str(scores_csv)).exit_code == 0
    spark_out = tmp_path / "spark.parquet"
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "ALSSTRAT_HOME")}
    env |= store_env(store) | {"OMP_NUM_THREADS": "1", "PYSPARK_PYTHON": sys.executable,
                               "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run([sys.executable, "-c", SPARK_CODE, str(cohort_file), str(spark_out)], capture_output=True,
                          text=True, timeout=600, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    got = pd.read_parquet(spark_out).set_index("patient_id")
    scored = pd.read_csv(scores_csv, dtype={"candidate_id": str}).set_index("candidate_id")
    assert len(got) == len(scored) == 300
    assert sorted(got.index) == sorted(scored.index)
    got = got.loc[scored.index]
    numeric = ["slope_point", "slope_p10", "slope_p90", "median_survival_months",
               *[c for c in scored.columns if c.startswith(("subtype_probability_", "survival_probability_"))]]
    np.testing.assert_array_equal(got[numeric].to_numpy(dtype=float), scored[numeric].to_numpy(dtype=float))
    assert got["subtype_label"].tolist() == scored["subtype_label"].tolist()
    assert got["risk_group"].tolist() == scored["risk_group"].tolist()
    assert got["explanation"].tolist() == scored["explanation"].tolist()
