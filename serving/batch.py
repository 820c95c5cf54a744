"""Offline batch scoring of a candidates file: the HTTP service's per-row rules applied to CSV or Parquet.

Every input row gives exactly one output row, in order; a row that fails validation gets ``error_field`` /
``error_message`` and empty predictions, and never stops the others. ``alsstrat score`` is the command line
over this module.

A cohort table (what ``alsstrat cohort`` writes) is a valid input too: its ``patient_id`` is the row's
``candidate_id`` (when the file has no ``candidate_id`` column), and its outcome columns and a ``split`` column are
ignored (named once in a note). Any other column that is not a candidate field still rejects every row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.candidate_rows import as_candidates, cohort_columns, field_kinds, typed_row
from features.errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd

    from features.model.bundle import StratifierModel
    from features.model.pyfunc import LoadedModel

CHUNK_ROWS = 5_000  # rows validated and scored per step: bounds memory and paces the progress bar
ERROR_COLUMNS = ("error_field", "error_message")
# A CSV number as people and spreadsheets write it; "nan", "inf", "1,5" or "12 mg" are not numbers.
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_BOOLEANS = {"true": True, "false": False}


# ---------------------------------------------------------------------------------------------------------- reading
def read_candidates(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Read a candidates file into one dict per row, keyed by column name, ready for per-row validation.

    CSV cells are text: an empty cell is "not measured" (None); a numeric field must hold a plain decimal number
    and a boolean field ``true``/``false`` (any case). A cell that does not parse is passed on unchanged, so that
    validation rejects that row naming the field and the value, exactly as the HTTP service would. Parquet keeps
    its column types; a null or NaN cell is "not measured".

    Parameters
    ----------
    path : Path
        ``.csv`` (UTF-8, header row) or ``.parquet``.

    Returns
    -------
    (columns, rows)
        The file's column names (as in the file), and one dict per input row in file order. A known field whose
        cell is empty is left out of its row; an unknown column is always present, so that each row reports it.
        Cohort-table columns are mapped first (see :func:`cohort_columns`): ``patient_id`` becomes
        ``candidate_id`` and outcome / ``split`` columns are left out of the rows.

    Raises
    ------
    UserInputError
        Unknown format, or a file that cannot be read as that format.
    FileNotFoundError
        The file does not exist.
    """
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    try:
        if suffix in (".csv", ".csv.gz"):
            # Everything as text and no NA guessing: "NA" or "nan" must not silently become "not measured".
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
            frame.columns = pd.Index([str(c).strip() for c in frame.columns])
            columns = list(frame.columns)
            return columns, [_csv_row(r) for r in as_candidates(frame).to_dict(orient="records")]
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
            frame.columns = pd.Index([str(c) for c in frame.columns])
            columns = list(frame.columns)
            return columns, [typed_row(r) for r in as_candidates(frame).to_dict(orient="records")]
    except pd.errors.EmptyDataError:
        raise UserInputError(f"{path} is empty (expected a header row naming the candidate fields)") from None
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise UserInputError(f"cannot read {path} as {suffix.lstrip('.')}: {exc}") from None
    raise UserInputError(f"unknown input format {path.suffix or '(no suffix)'!r} for {path}: use .csv or .parquet")


def _csv_row(raw: Mapping[Any, Any]) -> dict[str, Any]:
    kinds = field_kinds()
    row: dict[str, Any] = {}
    for key, cell in raw.items():
        text = str(cell).strip()
        name = str(key).strip()
        if text == "":
            # Not measured: a known field is left out (a required one is then reported as missing); an unknown
            # column stays, so that every row reports it whatever its cells hold.
            if name not in kinds:
                row[name] = None
        elif kinds.get(name) == "numeric" and _NUMBER.match(text):
            row[name] = float(text)
        elif kinds.get(name) == "boolean" and text.lower() in _BOOLEANS:
            row[name] = _BOOLEANS[text.lower()]
        else:
            row[name] = text
    return row


# ---------------------------------------------------------------------------------------------------------- scoring
def prediction_columns(model: StratifierModel) -> list[str]:
    """The prediction columns :meth:`StratifierModel.predict_frame` writes, in its order."""
    from features.model.bundle import SURVIVAL_HORIZONS_MONTHS

    return ["subtype_label", "subtype_name",
            *[f"subtype_probability_{s.label}" for s in model.subtype.subtypes],
            "slope_point", "slope_p10", "slope_p90",
            *[f"survival_probability_{t}m" for t in SURVIVAL_HORIZONS_MONTHS],
            "median_survival_months", "survival_time_origin", "risk_group", "explanation", "model_version"]


def score_rows(model: StratifierModel, rows: Sequence[Any], *, advance: Any = None) -> pd.DataFrame:
    """Validate and score every row: one output row per input row, in order, errors per row.

    Parameters
    ----------
    model : StratifierModel
        The loaded stratifier.
    rows : sequence
        Candidate rows (dicts of baseline fields, optionally ``candidate_id``), as the HTTP service takes them.
    advance : callable, optional
        Called with the number of rows finished after each chunk (progress bars).

    Returns
    -------
    DataFrame
        ``input_row`` (1-based), ``candidate_id``, ``error_field``, ``error_message`` and the prediction columns
        (see :func:`prediction_columns`); prediction cells are empty on error rows.
    """
    import pandas as pd

    from features import spec as S
    from features.candidates import CANDIDATE_ID, validate_candidates

    columns = prediction_columns(model)
    parts: list[pd.DataFrame] = []
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        head = pd.DataFrame({"input_row": range(start + 1, start + len(chunk) + 1)})
        head[CANDIDATE_ID] = [r.get(CANDIDATE_ID) if isinstance(r, Mapping) else None for r in chunk]
        batch = validate_candidates(chunk, model.landmark.name)
        errors = [(batch.errors[i].field, batch.errors[i].message) if i in batch.errors else (None, None)
                  for i in range(len(chunk))]
        valid, positions = batch.values, batch.positions
        head["error_field"] = pd.Series([e[0] for e in errors], dtype="string")
        head["error_message"] = pd.Series([e[1] for e in errors], dtype="string")
        predictions = pd.DataFrame(index=range(len(chunk)), columns=columns)
        if valid:
            scored = model.predict_frame(pd.DataFrame.from_records(valid, columns=list(S.BASELINE_NAMES)))
            scored.index = pd.Index(positions)
            predictions = scored[columns].reindex(range(len(chunk)))
        parts.append(pd.concat([head, predictions], axis=1))
        if advance is not None:
            advance(len(chunk))
    if not parts:
        return pd.DataFrame(columns=["input_row", CANDIDATE_ID, *ERROR_COLUMNS, *columns])
    out = pd.concat(parts, ignore_index=True)
    for name in ("subtype_label", "risk_group"):
        out[name] = out[name].astype("Int64")  # integers with empty cells, not 1.0 / NaN
    return out


def column_notes(columns: Sequence[str]) -> list[str]:
    """File-level notes on how a cohort table's columns are read (nothing to fix): the id column, ignored ones."""
    from features.candidates import CANDIDATE_ID

    id_column, ignored = cohort_columns(columns)
    notes = []
    if id_column is not None:
        notes.append(f"{id_column} is used as {CANDIDATE_ID}")
    if ignored:
        notes.append(f"cohort outcome column(s) ignored (never model inputs): {', '.join(ignored)}")
    return notes


def column_warnings(columns: Sequence[str]) -> list[str]:
    """File-level hints for problems that reject every row (so the user fixes the header, not 10,000 rows)."""
    from features import spec as S
    from features.candidates import CANDIDATE_ID

    present = set(columns)
    id_column, ignored = cohort_columns(columns)
    notes = []
    missing = [c for c in S.REQUIRED_FOR_SCORING if c not in present]
    if missing:
        notes.append(f"required column(s) missing from the file, so every row is rejected: {', '.join(missing)}")
    unknown = sorted(present - set(S.BASELINE_NAMES) - {CANDIDATE_ID, *ignored} - ({id_column} if id_column else set()))
    if unknown:
        notes.append(f"column(s) that are not candidate fields, so every row is rejected: {', '.join(unknown)} "
                     f"(rename an identifier column to {CANDIDATE_ID}; drop the others)")
    return notes


def load_model(uri: str) -> LoadedModel:
    """Load a stratifier for batch scoring; a URI that cannot be loaded is the user's input problem."""
    from mlflow.exceptions import MlflowException

    from features.model.pyfunc import IncompatibleModelError, load_stratifier

    try:
        return load_stratifier(uri)
    except (MlflowException, OSError, IncompatibleModelError) as exc:
        raise UserInputError(f"cannot load model {uri}: {exc}") from None


