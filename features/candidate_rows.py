"""Reading an in-memory table (a candidates table or a cohort table) as candidate rows.

The service's file reader and the measuring commands that score a simulated cohort as a pool read tables the same
way: a cohort table's ``patient_id`` becomes the row's ``candidate_id`` (when there is no ``candidate_id`` column),
its outcome columns and an official ``split`` column are ignored, numpy scalars become Python values (so strict
validation sees float/int/bool/str) and a missing known field is left out, as an empty CSV cell is.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

COHORT_ID_COLUMN = "patient_id"
"""The cohort table's identifier: used as ``candidate_id`` when the file has no ``candidate_id`` column."""
SPLIT_COLUMN = "split"
"""A source's official train/test split column (DREAM-2012), kept next to the cohort's columns."""


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Candidate rows from an in-memory table (candidates or a cohort table), read as a Parquet file would be."""
    return [typed_row(r) for r in as_candidates(frame).to_dict(orient="records")]


def cohort_columns(columns: Sequence[str]) -> tuple[str | None, list[str]]:
    """How a file's cohort-table columns are read: (the column used as ``candidate_id``, the ignored columns).

    Parameters
    ----------
    columns : sequence of str
        The file's column names.

    Returns
    -------
    (id_column, ignored)
        ``"patient_id"`` when the file has it and no ``candidate_id`` column (else None: with both, ``patient_id``
        is an unknown column like any other); the outcome columns of the cohort table and ``split`` present in
        the file, in file order. Outcomes are what the model predicts, so they are never inputs.
    """
    from features import spec as S
    from features.candidates import CANDIDATE_ID

    present = set(columns)
    id_column = COHORT_ID_COLUMN if COHORT_ID_COLUMN in present and CANDIDATE_ID not in present else None
    ignorable = {*S.OUTCOME_NAMES, SPLIT_COLUMN}
    return id_column, [c for c in columns if c in ignorable]


def as_candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """A cohort table read as candidates: ``patient_id`` renamed to ``candidate_id``, outcome columns dropped."""
    from features.candidates import CANDIDATE_ID

    id_column, ignored = cohort_columns(list(frame.columns))
    if ignored:
        frame = frame.drop(columns=ignored)
    if id_column is not None:
        frame = frame.rename(columns={id_column: CANDIDATE_ID})
    return frame


@functools.cache
def field_kinds() -> dict[str, str]:
    """Kind (numeric, categorical, boolean) of every baseline field, by name."""
    from features import spec as S

    return {f.name: f.kind for f in S.BASELINE_FIELDS}


def typed_row(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """One table row as a candidate row: numpy scalars as Python values, a missing known field left out (an unknown
    column stays, as None, so that validation reports it)."""
    import numpy as np
    import pandas as pd

    from features.candidates import CANDIDATE_ID

    kinds = field_kinds()
    row: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key)
        if isinstance(value, np.generic):
            value = value.item()  # numpy scalars -> Python, so strict validation sees float/int/bool/str
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
            if name not in kinds:  # as for CSV: a missing known field is left out, an unknown column stays
                row[name] = None
            continue
        if name == CANDIDATE_ID and not isinstance(value, str):
            value = str(value)  # a numeric id column is still just a reference
        row[name] = value
    return row
