"""Derived features, computed inside the fitted model (stage 2) so training and serving run the same code.

The model takes the cohort baseline fields (:data:`features.spec.BASELINE_NAMES`, exactly what a screening visit
collects) and :class:`BaselineFeatures` turns them into the numeric matrix the estimators see: the numeric baseline
fields passed through, clinically defined derived features (ΔFRS pre-slope, ALSFRS-R domain subscores, age at
sampling), neurofilament features (blood NfL, logs, an age-adjusted z-score against a healthy reference), LCN2
features (logs and an LCN2-NfL index, a HYPOTHESIS), one-hot categories with an explicit "missing" column, and
explicit missing indicators. Missing stays NaN (XGBoost routes NaN natively; missing is never zero).

There are two entry points with one implementation:

* :meth:`BaselineFeatures.transform` takes a DataFrame (training, batch scoring);
* :meth:`BaselineFeatures.transform_records` takes plain dicts and uses numpy only (the HTTP fast path).

Both convert their input to the same column dict and call :func:`_columns_to_matrix`, so they cannot diverge.
Every output, its unit and its definition is listed in :data:`OUTPUT_FEATURES` and in ``docs/features.md``.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from features import spec as S
from features.model import nfl_reference

FloatArray = npt.NDArray[np.float64]
OutputGroup = Literal["clinical", "neurofilament", "lcn2"]

MIN_MONTHS_FOR_PRE_SLOPE = 1.0
"""Floor of the ΔFRS denominator, months. Patients date their onset to about a month, so a shorter symptom duration
carries no finer information, and without a floor a patient seen days after onset would get an unbounded slope.
With the floor ΔFRS stays within [0, alsfrs_scale_max] points/month."""

LCN2_NFL_INDEX_MIN_N = 10
"""Fewest non-missing training values needed to standardise a component of the LCN2-NfL index; below it the
index is all-missing (a median/IQR from a handful of values would be noise)."""

_IQR_TO_SD = 1.3489795003921634  # IQR of the standard normal: IQR / 1.349 estimates the SD robustly

# --------------------------------------------------------------------------------------------------------------------
# Inputs, straight from the spec
# --------------------------------------------------------------------------------------------------------------------
_NUMERIC_KINDS = ("numeric", "integer", "boolean")
NUMERIC_INPUTS: tuple[str, ...] = tuple(f.name for f in S.BASELINE_FIELDS if f.kind in _NUMERIC_KINDS)
"""Numeric baseline fields (booleans as 0/1) in spec order."""
CATEGORICAL_INPUTS: dict[str, tuple[str, ...]] = {
    f.name: tuple(f.categories or ()) for f in S.BASELINE_FIELDS if f.kind == "categorical"
}
"""Categorical baseline fields and their allowed levels."""
_UNSUPPORTED = [f.name for f in S.BASELINE_FIELDS if f.kind not in (*_NUMERIC_KINDS, "categorical")]
if _UNSUPPORTED:  # a spec change must come with a decision on how the model reads the new field
    raise NotImplementedError(f"baseline fields of unsupported kind: {_UNSUPPORTED}")

_NUM_INDEX = {name: j for j, name in enumerate(NUMERIC_INPUTS)}
_ALLOWED_KEYS = frozenset(S.BASELINE_NAMES)
_BIOMARKERS = {f.name: f for f in S.BIOMARKER_FIELDS}
_LCN2 = frozenset(S.LCN2_FIELDS)
_BOOLEANS = tuple(f.name for f in S.BASELINE_FIELDS if f.kind == "boolean")
# Missing-value indicators are part of the feature layout every pickled model carries, so scoring optionality
# alone must not add one: diagnostic_delay_months became optional for scoring without an indicator (its boosters
# route a missing value natively), which keeps models trained before that change reading the same matrix.
_NO_INDICATOR = frozenset({"diagnostic_delay_months"})
_OPTIONAL_CLINICAL = tuple(
    f.name for f in S.BASELINE_FIELDS
    if f.kind in _NUMERIC_KINDS and f.analyte is None and not f.required_for_scoring and f.name not in _NO_INDICATOR
)



def _biomarker_name(analyte: str, matrix: str) -> str:
    name = S.biomarker_field_name(analyte, matrix)
    if name is None:  # the derivations below are defined on these spec fields
        raise NotImplementedError(f"the spec has no {analyte} {matrix} field")
    return name


_NFL_SERUM = _biomarker_name("nfl", "serum")
_NFL_PLASMA = _biomarker_name("nfl", "plasma")
_NFL_CSF = _biomarker_name("nfl", "csf")
_PNFH_SERUM = _biomarker_name("pnfh", "serum")
_PNFH_CSF = _biomarker_name("pnfh", "csf")
_LCN2_PLASMA = _biomarker_name("lcn2", "plasma")
_LCN2_SERUM = _biomarker_name("lcn2", "serum")
_LCN2_CSF = _biomarker_name("lcn2", "csf")


# --------------------------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutputFeature:
    """One column of the derived matrix.

    Attributes
    ----------
    name : str
        Column name (unique).
    group : {"clinical", "neurofilament", "lcn2"}
        "clinical" outputs use no biomarker at all (the clinical-only survival baseline uses exactly these).
    unit : str
        Unit of the values ("0/1" for indicators).
    description : str
        Definition and source.
    """

    name: str
    group: OutputGroup
    unit: str
    description: str


def _input_group(name: str) -> OutputGroup:
    spec = _BIOMARKERS.get(name)
    if spec is None:
        return "clinical"
    return "lcn2" if spec.analyte == "lcn2" else "neurofilament"


def _build_outputs() -> tuple[OutputFeature, ...]:
    """Every output with ``include_lcn2=True``, in matrix order (pure: no I/O)."""
    out: list[OutputFeature] = []
    for name in NUMERIC_INPUTS:
        f = S.baseline_field(name)
        unit = "0/1" if f.kind == "boolean" else (f.unit or "1")
        out.append(OutputFeature(name, _input_group(name), unit, f"Baseline field passed through: {f.description}"))
    out += [
        OutputFeature("age_at_sampling_years", "clinical", "years",
                      "Age at the baseline visit (biomarker sampling): age_at_onset_years + months_since_onset / 12."),
        OutputFeature("dfrs_pre_slope_points_per_month", "clinical", "points/month",
                      "ΔFRS pre-slope (Kimura et al., PMID 16434671; ENCALS predictor, Westeneng 2018): "
                      f"(alsfrs_scale_max - alsfrs_r_total) / max(months_since_onset, {MIN_MONTHS_FOR_PRE_SLOPE:g})."),
    ]
    for domain, items in S.ALSFRS_DOMAINS.items():
        out.append(OutputFeature(f"alsfrs_{domain}_points", "clinical", "points (0-12)",
                                 f"ALSFRS-R {domain.replace('_', ' ')} subscore: {' + '.join(items)} "
                                 "(Franchignoni 2013); missing unless all three items are given."))
    out += [
        OutputFeature("nfl_blood_pg_ml", "neurofilament", "pg/mL",
                      f"Blood NfL: {_NFL_SERUM}, else {_NFL_PLASMA} (one blood measure, Rübsamen 2022)."),
        OutputFeature("ln_nfl_blood_pg_ml", "neurofilament", "ln(pg/mL)", "Natural log of nfl_blood_pg_ml."),
        OutputFeature("ln_nfl_csf_pg_ml", "neurofilament", "ln(pg/mL)", f"Natural log of {_NFL_CSF}."),
        OutputFeature("nfl_blood_age_z", "neurofilament", "SD",
                      "Age-adjusted blood NfL z-score at age_at_sampling_years against a healthy log-normal "
                      "reference (+3.1 %/year, level fitted to the 97.5th-percentile limits of Bornhorst 2022; "
                      "see features.model.nfl_reference). 1.96 = healthy 97.5th percentile."),
        OutputFeature("ln_pnfh_serum_pg_ml", "neurofilament", "ln(pg/mL)", f"Natural log of {_PNFH_SERUM}."),
        OutputFeature("ln_pnfh_csf_pg_ml", "neurofilament", "ln(pg/mL)", f"Natural log of {_PNFH_CSF}."),
        OutputFeature("lcn2_blood_ng_ml", "lcn2", "ng/mL",
                      f"Blood LCN2: {_LCN2_PLASMA}, else {_LCN2_SERUM}. HYPOTHESIS feature (no verified human "
                      "ALS data)."),
        OutputFeature("ln_lcn2_blood_ng_ml", "lcn2", "ln(ng/mL)", "Natural log of lcn2_blood_ng_ml."),
        OutputFeature("ln_lcn2_csf_ng_ml", "lcn2", "ln(ng/mL)", f"Natural log of {_LCN2_CSF}."),
        OutputFeature("lcn2_nfl_index_z", "lcn2", "SD",
                      "HYPOTHESIS: z(ln_lcn2_blood_ng_ml) + z(nfl_blood_age_z), each standardised by the training "
                      "cohort's median and IQR/1.349; missing unless both are present."),
    ]
    for name, levels in CATEGORICAL_INPUTS.items():
        for level in (*levels, "missing"):
            out.append(OutputFeature(f"{name}_{level}", "clinical", "0/1",
                                     f"One-hot {name} == {level!r}." if level != "missing"
                                     else f"1 if {name} is missing (explicit missing level)."))
    for name in (*_BIOMARKERS, *_OPTIONAL_CLINICAL):
        out.append(OutputFeature(f"{name}_missing", _input_group(name), "0/1", f"1 if {name} is missing."))
    names = [o.name for o in out]
    if len(set(names)) != len(names):  # guards future spec changes (e.g. a level named "missing")
        raise ValueError(f"derived feature names collide: {sorted({n for n in names if names.count(n) > 1})}")
    return tuple(out)


OUTPUT_FEATURES: tuple[OutputFeature, ...] = _build_outputs()
"""Every output of :class:`BaselineFeatures` with ``include_lcn2=True``, in matrix order."""

_OUTPUT_BY_NAME = {o.name: o for o in OUTPUT_FEATURES}
_LAYOUTS: dict[bool, tuple[str, ...]] = {
    True: tuple(o.name for o in OUTPUT_FEATURES),
    False: tuple(o.name for o in OUTPUT_FEATURES if o.group != "lcn2"),
}
_LAYOUT_INDEX = {key: {name: j for j, name in enumerate(names)} for key, names in _LAYOUTS.items()}


def output_names(include_lcn2: bool = True) -> tuple[str, ...]:
    """Names of the matrix columns for a given ``include_lcn2`` (what ``get_feature_names_out`` returns)."""
    return _LAYOUTS[bool(include_lcn2)]


def feature_groups(names: Sequence[str]) -> dict[str, list[str]]:
    """Split output names into clinical-only and biomarker groups.

    Parameters
    ----------
    names : sequence of str
        Output names of :class:`BaselineFeatures` (e.g. ``get_feature_names_out()``).

    Returns
    -------
    dict
        ``"clinical"``: outputs computed from clinical fields only (demographics, history, ALSFRS-R, FVC, weight,
        genetics, riluzole, their one-hots and missing indicators) -- the input of the clinical-only survival
        baseline (ENCALS-style Cox); ``"neurofilament"``: NfL/pNfH outputs; ``"lcn2"``: LCN2 outputs (including
        the LCN2-NfL index); ``"biomarker"``: neurofilament + lcn2. Input order is kept within each group.

    Raises
    ------
    ValueError
        For a name that is not a :class:`BaselineFeatures` output.
    """
    unknown = [n for n in names if n not in _OUTPUT_BY_NAME]
    if unknown:
        raise ValueError(f"{len(unknown)} names are not BaselineFeatures outputs: {unknown}")
    groups: dict[str, list[str]] = {"clinical": [], "neurofilament": [], "lcn2": [], "biomarker": []}
    for n in names:
        group = _OUTPUT_BY_NAME[n].group
        groups[group].append(n)
        if group != "clinical":
            groups["biomarker"].append(n)
    return groups


def build_model_input(cohort_table: pd.DataFrame) -> pd.DataFrame:
    """The model's X: the cohort table's baseline columns in spec order.

    Parameters
    ----------
    cohort_table : DataFrame
        A cohort table (one row per patient; extra columns such as ``patient_id``, outcomes or ``split`` are
        dropped).

    Returns
    -------
    DataFrame
        Columns :data:`features.spec.BASELINE_NAMES`, same index and dtypes as the input.

    Raises
    ------
    ValueError
        Naming every baseline column the table lacks.
    """
    _check_missing_columns(cohort_table.columns)
    return cohort_table.loc[:, list(S.BASELINE_NAMES)].copy()


def _check_missing_columns(columns: Sequence[Any] | pd.Index) -> None:
    present = set(columns)
    missing = [n for n in S.BASELINE_NAMES if n not in present]
    if missing:
        raise ValueError(f"{len(missing)} features are missing from data: {missing}")


# --------------------------------------------------------------------------------------------------------------------
# Input conversion: DataFrame or records -> one column dict
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Columns:
    """The column dict both transform paths produce: every baseline field by name, stored the cheap way.

    ``numeric`` holds the numeric fields (booleans as 0/1) as one float64 block whose columns follow
    :data:`NUMERIC_INPUTS` (NaN = missing), so the derivations run as a handful of vectorised numpy calls;
    ``categorical`` maps each categorical field to its raw values (str, or None/NaN when missing).
    """

    numeric: FloatArray
    categorical: dict[str, Sequence[Any] | np.ndarray]

    @property
    def n_rows(self) -> int:
        return int(self.numeric.shape[0])


def _objects_to_float(name: str, values: Sequence[Any] | np.ndarray) -> FloatArray:
    """Element-wise numeric conversion that refuses text (``"1.5"`` is an error, never silently parsed)."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or v is pd.NA:
            out[i] = np.nan
        elif isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)):
            out[i] = float(v)
        else:
            raise ValueError(f"{name} must be a number or missing, got {v!r} in record {i + 1}")
    return out


def _frame_columns(X: pd.DataFrame) -> _Columns:
    """DataFrame -> column dict."""
    numeric = np.empty((len(X), len(NUMERIC_INPUTS)), dtype=np.float64)
    for j, name in enumerate(NUMERIC_INPUTS):
        s = X[name]
        if pd.api.types.is_bool_dtype(s.dtype) or (
            pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_complex_dtype(s.dtype)
        ):
            numeric[:, j] = s.to_numpy(dtype=np.float64, na_value=np.nan)
        else:  # object/string columns: per element, so text is refused with the value named
            numeric[:, j] = _objects_to_float(name, s.to_numpy(dtype=object))
    return _Columns(numeric, {name: X[name].to_numpy(dtype=object) for name in CATEGORICAL_INPUTS})


_PLAIN_NUMBER_TYPES = frozenset({float, int, bool, type(None)})
_NUMERIC_NAN = dict.fromkeys(NUMERIC_INPUTS, math.nan)
_NUMERIC_GETTER = operator.itemgetter(*NUMERIC_INPUTS)


def _records_columns(records: Sequence[Mapping[str, Any]], prevalidated: bool = False) -> _Columns:
    """Plain dicts -> the same column dict as :func:`_frame_columns`, with numpy only (no DataFrame).

    ``prevalidated`` skips the key and type checks for rows that passed the strict candidate schema
    (:func:`features.candidates.validate_candidates`), which already guarantees both.
    """
    for i, rec in enumerate(() if prevalidated else records):
        if not rec.keys() <= _ALLOWED_KEYS:
            extra = rec.keys() - _ALLOWED_KEYS
            raise ValueError(f"record {i + 1} has unknown fields: {sorted(extra)} (expected baseline fields only)")
    # Absent keys read as NaN through a defaults dict; numpy converts NaN several times faster than None.
    rows: list[Any] = [_NUMERIC_GETTER({**_NUMERIC_NAN, **rec}) for rec in records]
    categorical: dict[str, Sequence[Any] | np.ndarray] = {
        name: [rec.get(name) for rec in records] for name in CATEGORICAL_INPUTS}
    if prevalidated:  # plain numbers or None by the schema; numpy reads None as NaN
        return _Columns(np.array(rows, dtype=np.float64).reshape(len(rows), len(NUMERIC_INPUTS)), categorical)
    # A set of the element types is a C-speed check that every value is a plain number or None. Anything else --
    # text above all, which numpy would parse -- goes through the per-element conversion that names the field
    # and the value.
    types = set(map(type, itertools.chain.from_iterable(rows)))
    if types <= _PLAIN_NUMBER_TYPES:
        if type(None) in types:  # explicit nulls
            rows = [[math.nan if v is None else v for v in row] for row in rows]
        numeric = np.array(rows, dtype=np.float64).reshape(len(rows), len(NUMERIC_INPUTS))
    else:
        numeric = np.empty((len(rows), len(NUMERIC_INPUTS)), dtype=np.float64)
        for j, name in enumerate(NUMERIC_INPUTS):
            numeric[:, j] = _objects_to_float(name, [row[j] for row in rows])
    return _Columns(numeric, categorical)


# --------------------------------------------------------------------------------------------------------------------
# The one implementation: column dict -> matrix
# --------------------------------------------------------------------------------------------------------------------
def _positions(names: Sequence[str], index: Mapping[str, int]) -> npt.NDArray[np.intp]:
    return np.array([index[n] for n in names], dtype=np.intp)


@dataclass(frozen=True)
class _Layout:
    """Precomputed column positions of one output layout, so building a row costs a handful of numpy calls."""

    names: tuple[str, ...]
    index: dict[str, int]
    pass_out: npt.NDArray[np.intp]  # passthrough numeric inputs: output positions ...
    pass_in: npt.NDArray[np.intp]  # ... and input positions
    miss_out: npt.NDArray[np.intp]  # missing indicators: output positions ...
    miss_in: npt.NDArray[np.intp]  # ... and input positions
    domains_out: npt.NDArray[np.intp]  # the four ALSFRS-R subscores
    log_out: npt.NDArray[np.intp]  # logs of the concentrations (_CONC_PRIMARY order; LCN2 only with include_lcn2)
    onehot_start: int  # the one-hot blocks are contiguous, from here ...
    onehot_stop: int  # ... to here


_LOG_NAMES = ("ln_nfl_blood_pg_ml", "ln_nfl_csf_pg_ml", "ln_pnfh_serum_pg_ml", "ln_pnfh_csf_pg_ml",
              "ln_lcn2_blood_ng_ml", "ln_lcn2_csf_ng_ml")
_N_LOGS_WITHOUT_LCN2 = 4


def _make_layout(include_lcn2: bool) -> _Layout:
    names = _LAYOUTS[include_lcn2]
    index = _LAYOUT_INDEX[include_lcn2]
    passthrough = [name for name in NUMERIC_INPUTS if name in index]
    indicated = [name for name in (*_BIOMARKERS, *_OPTIONAL_CLINICAL) if f"{name}_missing" in index]
    first_cat, last_cat = next(iter(CATEGORICAL_INPUTS)), next(reversed(CATEGORICAL_INPUTS))
    n_logs = len(_LOG_NAMES) if include_lcn2 else _N_LOGS_WITHOUT_LCN2
    return _Layout(
        names=names, index=index,
        pass_out=_positions(passthrough, index),
        pass_in=_positions(passthrough, _NUM_INDEX),
        miss_out=_positions([f"{n}_missing" for n in indicated], index),
        miss_in=_positions(indicated, _NUM_INDEX),
        domains_out=_positions([f"alsfrs_{d}_points" for d in S.ALSFRS_DOMAINS], index),
        log_out=_positions(_LOG_NAMES[:n_logs], index),
        onehot_start=index[f"{first_cat}_{CATEGORICAL_INPUTS[first_cat][0]}"],
        onehot_stop=index[f"{last_cat}_missing"] + 1,
    )


_LAYOUT = {True: _make_layout(True), False: _make_layout(False)}
_MONTHS_IN = _NUM_INDEX["months_since_onset"]
_TOTAL_IN = _NUM_INDEX["alsfrs_r_total"]
_BOOL_IN = _positions(_BOOLEANS, _NUM_INDEX)
_ITEMS_IN = _positions([item for items in S.ALSFRS_DOMAINS.values() for item in items], _NUM_INDEX)
if any(len(items) != 3 for items in S.ALSFRS_DOMAINS.values()):
    raise NotImplementedError("ALSFRS-R domains must have 3 items each")  # the subscores are summed as 3 slices
# The log sources: blood NfL (serum, else plasma), CSF NfL, serum pNfH, CSF pNfH, blood LCN2 (plasma, else serum),
# CSF LCN2. Primary and fallback inputs per source; a source without a fallback falls back on itself (NaN -> NaN).
_CONC_PRIMARY = _positions([_NFL_SERUM, _NFL_CSF, _PNFH_SERUM, _PNFH_CSF, _LCN2_PLASMA, _LCN2_CSF], _NUM_INDEX)
_CONC_FALLBACK = _positions([_NFL_PLASMA, _NFL_CSF, _PNFH_SERUM, _PNFH_CSF, _LCN2_SERUM, _LCN2_CSF], _NUM_INDEX)

# Limits the derivations need (NaN always passes): concentrations > 0 (logs; the smallest positive float as an
# inclusive bound is exactly "> 0"), months since onset >= 0, booleans within [0, 1] (integrality checked next),
# alsfrs_r_total <= alsfrs_scale_max (set per call). The largest finite float elsewhere also refuses +-inf.
_BIG = float(np.finfo(np.float64).max)
_LOWER = np.full(len(NUMERIC_INPUTS), -_BIG)
_LOWER[_positions(list(_BIOMARKERS), _NUM_INDEX)] = np.nextafter(0.0, 1.0)
_LOWER[_MONTHS_IN] = 0.0
_LOWER[_BOOL_IN] = 0.0
_UPPER = np.full(len(NUMERIC_INPUTS), _BIG)
_UPPER[_BOOL_IN] = 1.0


def _age_at_sampling(num: FloatArray) -> FloatArray:
    """Age at the baseline visit, years: the biomarkers are sampled then."""
    return num[:, _NUM_INDEX["age_at_onset_years"]] + num[:, _MONTHS_IN] / 12.0


def _concentrations(num: FloatArray, n_conc: int) -> tuple[FloatArray, FloatArray]:
    """The first ``n_conc`` concentrations of :data:`_CONC_PRIMARY` (blood = primary matrix, else fallback) and
    their natural logs. Inputs were checked > 0 or NaN, so the logs raise no warnings and hold no -inf."""
    conc = num[:, _CONC_PRIMARY[:n_conc]]
    conc = np.where(np.isnan(conc), num[:, _CONC_FALLBACK[:n_conc]], conc)
    return conc, np.log(conc)


def _nfl_age_z(ln_nfl_blood: FloatArray, age: FloatArray) -> FloatArray:
    """Age-adjusted NfL z-score (see :func:`features.model.nfl_reference.nfl_age_z`) from ln blood NfL."""
    return (ln_nfl_blood - nfl_reference.nfl_log_median(age)) / nfl_reference.NFL_LOG_SD


def _check_numeric(num: FloatArray, alsfrs_scale_max: float) -> None:
    """Refuse values the derivations cannot take, naming field, value and record (NaN is always allowed)."""
    # np.count_nonzero rather than .any(): the same answer at a fraction of the per-call overhead (fast path)
    upper = _UPPER.copy()
    upper[_TOTAL_IN] = alsfrs_scale_max
    bad = (num < _LOWER) | (num > upper)
    if not np.count_nonzero(bad):
        flags = num[:, _BOOL_IN]
        bad_flag = flags % 1.0 > 0  # within [0, 1] already; NaN % 1 is NaN, which compares False
        if not np.count_nonzero(bad_flag):
            return
        bad = np.zeros_like(num, dtype=bool)
        bad[:, _BOOL_IN] = bad_flag
    i, j = (int(v) for v in np.argwhere(bad)[0])
    value = float(num[i, j])
    if math.isinf(value):
        rule = "must be finite"
    elif NUMERIC_INPUTS[j] in _BIOMARKERS:
        rule = "must be > 0 (a concentration; missing is NaN, not 0)"
    elif j == _MONTHS_IN:
        rule = "must be >= 0 months"
    elif j == _TOTAL_IN:
        rule = f"must be <= alsfrs_scale_max={alsfrs_scale_max:g} (is the dataset on the 0-48 ALSFRS-R scale?)"
    else:
        rule = "must be true/false (1/0) or missing"
    raise ValueError(f"{NUMERIC_INPUTS[j]} {rule}, got {value!r} in record {i + 1}")


def _encode_categorical(name: str, values: Sequence[Any] | np.ndarray, levels: tuple[str, ...], out: FloatArray,
                        start: int) -> None:
    """Set the one-hot cells of ``name`` (levels, then "missing") in the zeroed ``out[:, start:]``.

    Raises
    ------
    ValueError
        For a value that is not one of ``levels`` (named, with its record) -- never silently ignored.
    """
    missing = len(levels)
    code: dict[Any, int] = {level: k for k, level in enumerate(levels)}
    code[None] = missing
    # Fast path: one dict lookup per value (-1: anything else, e.g. NaN, pd.NA or an unknown text)
    try:
        positions = [code.get(v, -1) for v in values]
    except TypeError:  # an unhashable value (a list, a dict): the careful path below names it
        positions = [-1]
    if positions and min(positions) < 0:
        positions = [code.get(v, -1) if isinstance(v, str) else (
            missing if v is None or v is pd.NA or (isinstance(v, float) and v != v) else -1) for v in values]
    if positions and min(positions) < 0:
        i = positions.index(-1)
        raise ValueError(f"{name}: unknown category {values[i]!r} in record {i + 1} "
                         f"(expected one of {', '.join(levels)}, or missing)")
    out[np.arange(len(positions)), start + np.asarray(positions, dtype=np.intp)] = 1.0


def _columns_to_matrix(columns: _Columns, *, alsfrs_scale_max: float, include_lcn2: bool,
                       index_params: FloatArray) -> FloatArray:
    """Build the feature matrix from the column dict: the single implementation behind both transform paths.

    Parameters
    ----------
    columns : _Columns
        The baseline fields, from :func:`_frame_columns` or :func:`_records_columns`.
    alsfrs_scale_max, include_lcn2 : see :class:`BaselineFeatures`.
    index_params : ndarray of shape (4,)
        Learned (center, scale) of ln blood LCN2 and of the NfL age z-score for the LCN2-NfL index.

    Returns
    -------
    ndarray of shape (n_rows, len(output_names(include_lcn2))), float64
    """
    num = columns.numeric
    n = columns.n_rows
    _check_numeric(num, alsfrs_scale_max)
    layout = _LAYOUT[include_lcn2]
    where = layout.index
    out = np.empty((n, len(layout.names)), dtype=np.float64)
    out[:, layout.pass_out] = num[:, layout.pass_in]

    age = _age_at_sampling(num)
    out[:, where["age_at_sampling_years"]] = age
    out[:, where["dfrs_pre_slope_points_per_month"]] = (
        (alsfrs_scale_max - num[:, _TOTAL_IN]) / np.maximum(num[:, _MONTHS_IN], MIN_MONTHS_FOR_PRE_SLOPE)
    )
    # a plain sum, so NaN in any item makes the subscore NaN: missing unless all three items are given
    items = num[:, _ITEMS_IN]  # grouped by domain: q1-q3, q4-q6, q7-q9, q10-q12
    out[:, layout.domains_out] = items[:, 0::3] + items[:, 1::3] + items[:, 2::3]

    conc, logs = _concentrations(num, len(layout.log_out))
    out[:, layout.log_out] = logs
    out[:, where["nfl_blood_pg_ml"]] = conc[:, 0]
    nfl_z = _nfl_age_z(logs[:, 0], age)
    out[:, where["nfl_blood_age_z"]] = nfl_z
    if include_lcn2:
        c_lcn2, s_lcn2, c_nfl, s_nfl = (float(v) for v in index_params)
        out[:, where["lcn2_blood_ng_ml"]] = conc[:, 4]
        out[:, where["lcn2_nfl_index_z"]] = (logs[:, 4] - c_lcn2) / s_lcn2 + (nfl_z - c_nfl) / s_nfl

    out[:, layout.onehot_start:layout.onehot_stop] = 0.0
    for name, levels in CATEGORICAL_INPUTS.items():
        _encode_categorical(name, columns.categorical[name], levels, out, where[f"{name}_{levels[0]}"])
    out[:, layout.miss_out] = np.isnan(num[:, layout.miss_in])
    return out


def _robust_location_scale(values: FloatArray) -> tuple[float, float]:
    """Median and IQR/1.349 of the non-missing values; NaN, NaN when too few or no spread."""
    present = values[~np.isnan(values)]
    if present.size < LCN2_NFL_INDEX_MIN_N:
        return np.nan, np.nan
    q25, q50, q75 = np.percentile(present, [25.0, 50.0, 75.0])
    scale = (q75 - q25) / _IQR_TO_SD
    if not scale > 0:
        return np.nan, np.nan
    return float(q50), float(scale)


# --------------------------------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------------------------------
class BaselineFeatures(TransformerMixin, BaseEstimator):
    """Derive the model's feature matrix from the cohort baseline fields.

    The first step of every fitted pipeline: it takes exactly the baseline fields (``spec.BASELINE_NAMES``) and
    returns a float64 matrix whose columns are listed by :meth:`get_feature_names_out` and documented (with units
    and references) in :data:`OUTPUT_FEATURES` and ``docs/features.md``:

    * numeric baseline fields passed through (NaN stays NaN; riluzole as 0/1/NaN);
    * ``age_at_sampling_years`` = age_at_onset_years + months_since_onset / 12 (years);
    * ``dfrs_pre_slope_points_per_month`` = (alsfrs_scale_max - alsfrs_r_total) / max(months_since_onset, 1)
      (points/month; the 1-month floor is :data:`MIN_MONTHS_FOR_PRE_SLOPE`);
    * ALSFRS-R domain subscores (points, 0-12), missing unless all three items are given;
    * blood NfL = serum, else plasma (pg/mL), its natural log, CSF NfL log, and ``nfl_blood_age_z``, the z-score
      against a healthy log-normal reference (+3.1 %/year, level fitted to the decade 97.5th-percentile limits of
      Bornhorst et al., Clin Chim Acta 2022; :mod:`features.model.nfl_reference`) at the age at sampling;
    * natural logs of serum and CSF pNfH (ln pg/mL);
    * LCN2 (HYPOTHESIS features, no verified human ALS data): blood LCN2 = plasma, else serum (ng/mL), logs, and
      ``lcn2_nfl_index_z`` = z(ln blood LCN2) + z(NfL age z-score), each standardised with the training cohort's
      median and IQR/1.349 (the only learned state);
    * one-hot columns per category plus an explicit ``<field>_missing`` column (unknown categories are errors);
    * ``<field>_missing`` indicators (0/1) for every biomarker and every optional clinical field.

    Parameters
    ----------
    alsfrs_scale_max : float, default=48
        Maximum of the dataset's ALSFRS scale: 48 for ALSFRS-R, 40 for the legacy ALSFRS (DREAM-2012). Used by
        the ΔFRS pre-slope.
    include_lcn2 : bool, default=True
        When False, every LCN2-derived output (raw values, logs, the LCN2-NfL index and the LCN2 missing
        indicators) is left out: the LCN2 ablation.

    Attributes
    ----------
    n_features_in_ : int
        Number of input columns (the baseline fields).
    feature_names_in_ : ndarray of str
        Input column names, in the order seen during fit.
    lcn2_nfl_index_params_ : ndarray of shape (4,)
        Median and robust SD of ln blood LCN2 (ln ng/mL), then of the NfL age z-score (SD), in the training data;
        NaN when fewer than :data:`LCN2_NFL_INDEX_MIN_N` values (the index is then missing) or when
        ``include_lcn2`` is False.

    Examples
    --------
    >>> import pandas as pd
    >>> from features import spec
    >>> X = pd.DataFrame([{"age_at_onset_years": 60.0, "sex": "male", "onset_site": "limb",
    ...                    "months_since_onset": 12.0, "diagnostic_delay_months": 9.0, "alsfrs_r_total": 42.0}],
    ...                  columns=list(spec.BASELINE_NAMES))
    >>> step = BaselineFeatures().fit(X)
    >>> out = step.transform(X)
    >>> float(out[0, list(step.get_feature_names_out()).index("dfrs_pre_slope_points_per_month")])
    0.5
    """

    def __init__(self, alsfrs_scale_max: float = 48, include_lcn2: bool = True) -> None:
        self.alsfrs_scale_max = alsfrs_scale_max
        self.include_lcn2 = include_lcn2

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing baseline values are NaN by design
        tags.input_tags.string = True  # categorical fields arrive as text
        tags.input_tags.categorical = True
        return tags

    def _check_params(self) -> None:
        scale = self.alsfrs_scale_max
        if isinstance(scale, bool) or not isinstance(scale, Real) or not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"alsfrs_scale_max must be a positive number (48 for ALSFRS-R, 40 for legacy ALSFRS), "
                             f"got {scale!r}")
        if not isinstance(self.include_lcn2, (bool, np.bool_)):
            raise ValueError(f"include_lcn2 must be True or False, got {self.include_lcn2!r}")

    @staticmethod
    def _check_frame(X: Any) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            # sklearn's own checks first, so sparse, complex, empty or 1-d input gets its standard message
            check_array(X, accept_sparse=False, dtype=None, ensure_all_finite=False)
            raise ValueError(f"BaselineFeatures needs a pandas DataFrame with the baseline columns "
                             f"(features.spec.BASELINE_NAMES), got {type(X).__name__}; for plain dicts use "
                             f"transform_records")
        _check_missing_columns(X.columns)
        return X

    def fit(self, X: pd.DataFrame, y: Any = None) -> BaselineFeatures:
        """Check the input columns and learn the LCN2-NfL index standardisation.

        Parameters
        ----------
        X : DataFrame
            Exactly the baseline columns (any order; use :func:`build_model_input` on a cohort table).
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For a non-DataFrame input, missing baseline columns (all named), extra columns, or a value the
            derivations cannot take (named, with its record).
        """
        self._check_params()
        X = self._check_frame(X)
        extra = [c for c in X.columns if c not in _ALLOWED_KEYS]
        if extra:
            raise ValueError(f"{len(extra)} columns are not baseline fields: {extra}; pass "
                             f"features.model.derive.build_model_input(cohort_table)")
        columns = _frame_columns(X)
        params = np.full(4, np.nan)
        # refuse now what transform would refuse later (unknown categories, impossible values), in one place
        _columns_to_matrix(columns, alsfrs_scale_max=float(self.alsfrs_scale_max),
                           include_lcn2=bool(self.include_lcn2), index_params=params)
        if self.include_lcn2:
            num = columns.numeric
            _, logs = _concentrations(num, len(_CONC_PRIMARY))
            params[:2] = _robust_location_scale(logs[:, 4])
            params[2:] = _robust_location_scale(_nfl_age_z(logs[:, 0], _age_at_sampling(num)))
        # learned attributes are set only once the data passed, so a failed fit leaves the estimator unfitted
        validate_data(self, X, reset=True, skip_check_array=True)
        self.lcn2_nfl_index_params_ = params
        return self

    def transform(self, X: pd.DataFrame) -> FloatArray:
        """Derive the feature matrix from a DataFrame of baseline fields.

        Parameters
        ----------
        X : DataFrame
            The baseline columns, in the order seen during fit.

        Returns
        -------
        ndarray of shape (n_rows, n_outputs), float64
            Columns as :meth:`get_feature_names_out`; one row per input row, NaN where a value is missing.
        """
        check_is_fitted(self)
        X = self._check_frame(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        return self._matrix(_frame_columns(X))

    def transform_records(self, records: Sequence[Mapping[str, Any]], *, prevalidated: bool = False) -> FloatArray:
        """Derive the feature matrix from plain dicts without building a DataFrame (the serving fast path).

        Parameters
        ----------
        records : sequence of mapping
            One dict per candidate, keyed by baseline field name. A missing key is a missing value; an unknown
            key is an error.
        prevalidated : bool, default False
            True only for rows returned by :func:`features.candidates.validate_candidates`: their keys and value
            types are already checked, so those checks are skipped (value ranges are still checked).

        Returns
        -------
        ndarray of shape (len(records), n_outputs), float64
            Identical to ``transform(pd.DataFrame(records, columns=spec.BASELINE_NAMES))``.
        """
        if not hasattr(self, "lcn2_nfl_index_params_"):  # check_is_fitted costs ~10 us; this is the same test
            check_is_fitted(self)
        return self._matrix(_records_columns(records, prevalidated))

    def _matrix(self, columns: _Columns) -> FloatArray:
        return _columns_to_matrix(columns, alsfrs_scale_max=float(self.alsfrs_scale_max),
                                  include_lcn2=bool(self.include_lcn2), index_params=self.lcn2_nfl_index_params_)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> npt.NDArray[np.object_]:
        """Output column names (units in the names or in :data:`OUTPUT_FEATURES`).

        Parameters
        ----------
        input_features : sequence of str, optional
            Must equal ``feature_names_in_`` when given.

        Returns
        -------
        ndarray of str (object dtype)
        """
        check_is_fitted(self)
        if input_features is not None and list(input_features) != list(self.feature_names_in_):
            raise ValueError("input_features is not equal to feature_names_in_")
        return np.asarray(output_names(bool(self.include_lcn2)), dtype=object)
