"""The service's byte-template encoding equals orjson of the record path's dicts, for every row."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from features import spec as S
from features.model.bundle import StratifierModel
from serving.encode import ResultEncoder


@pytest.fixture(scope="module")
def model(served_model: Any) -> StratifierModel:
    from features.model.pyfunc import load_stratifier

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALSSTRAT_HOME", str(served_model.home))
        mp.setenv("MLFLOW_TRACKING_URI", served_model.tracking_uri)
        loaded: StratifierModel = load_stratifier(f"models:/{served_model.name}/{served_model.version}").model
    return loaded


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    from features.cohort.assemble import build_cohort
    from features.contracts import validate_tables
    from features.simulate.generate import load_scenario, simulate_cohort

    tables = validate_tables(simulate_cohort(n_patients=120, seed=31, scenario=load_scenario("default")))
    frame = build_cohort(tables, source="synthetic").table[list(S.BASELINE_NAMES)]
    return [{k: v for k, v in row.items() if not pd.isna(v)} for row in frame.to_dict(orient="records")]


@pytest.mark.parametrize("n_rows", [1, 16, 120])  # the compiled-forest path (<= 16 rows) and XGBoost's
def test_encoded_rows_equal_the_record_path(model: StratifierModel, records: list[dict[str, Any]],
                                            n_rows: int) -> None:
    rows = records[:n_rows]
    ids: list[str | None] = [f'id "{i}" %s' if i % 3 == 0 else None for i in range(n_rows)]  # quotes, % escaped
    arrays = model.predict_arrays(model.features.transform_records(rows))
    encoded = ResultEncoder(model).rows(arrays, ids)
    expected = model.predict_records(rows)
    assert len(encoded) == n_rows
    for piece, want, client_id in zip(encoded, expected, ids, strict=True):
        if client_id is not None:
            want = {"candidate_id": client_id, **want}
        assert piece == orjson.dumps(want)  # byte for byte: same keys, order and number formatting


def test_non_finite_numbers_encode_as_null_like_orjson(model: StratifierModel,
                                                       records: list[dict[str, Any]]) -> None:
    arrays = model.predict_arrays(model.features.transform_records(records[:2]))
    arrays["median"] = np.array([np.inf, 12.5])
    piece = ResultEncoder(model).rows(arrays, [None, None])[0]
    assert orjson.loads(piece)["survival"]["median_months"] is None


def test_prevalidated_transform_equals_the_checked_one(model: StratifierModel, records: list[dict[str, Any]]) -> None:
    from features.candidates import validate_candidates

    rows = [dict(r) for r in records[:40]]
    for i, row in enumerate(rows[:10]):  # explicit nulls for optional fields, as JSON clients send them
        row["fvc_pct_pred"] = None
        row["riluzole"] = None if i % 2 else True
    batch = validate_candidates(rows)
    assert len(batch.values) >= 30  # a few simulated rows lack a required field; they are not the point here
    checked = model.features.transform_records(batch.values)
    fast = model.features.transform_records(batch.values, prevalidated=True)
    np.testing.assert_array_equal(fast, checked)
