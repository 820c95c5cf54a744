"""Raw-table contracts: parse, type-check and validate the native raw tables against the spec.

Validation is all-or-nothing: every violation in every table is collected (table, row, column, rule, value)
and raised together as one :class:`~features.errors.FeatureDataError`; no partial data is ever returned.
The pandera schemas are generated from :mod:`features.spec`; cell-level parsing happens first so that one
bad cell is reported by row instead of failing a whole column's dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from features import spec as S
from features.errors import FeatureDataError, Violation

STRING = pd.StringDtype(na_value=np.nan)
OPTIONAL_COLUMNS: dict[str, frozenset[str]] = {"visits": frozenset(S.ALSFRS_ITEMS)}
"""Columns a raw table may leave out entirely (read as all missing): many exports carry the ALSFRS-R total only."""
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@cache
def pandera_schema(table: str) -> pa.DataFrameSchema:
    """The pandera schema of a raw table, generated from the spec (ranges, categories, nullability, keys)."""
    tspec = S.SYNTHETIC_TABLES[table]
    columns: dict[str, pa.Column] = {}
    for f in tspec.fields:
        checks: list[pa.Check] = []
        if f.categories is not None:
            checks.append(pa.Check.isin(list(f.categories)))
        elif f.lower is not None and f.upper is not None:
            checks.append(pa.Check.in_range(f.lower, f.upper))
        columns[f.name] = pa.Column(_pandas_dtype(f), checks=checks, nullable=not f.required, required=True)
    return pa.DataFrameSchema(columns, unique=list(tspec.key) or None, strict=True, name=table)


def _pandas_dtype(f: S.FieldSpec) -> Any:
    return {
        "id": STRING, "text": STRING, "categorical": STRING,
        "numeric": "float64", "integer": "Int64", "boolean": "boolean",
    }[f.kind]


def parse_table(raw: pd.DataFrame, table: str, violations: list[Violation]) -> pd.DataFrame:
    """Parse one raw table's cells into the spec's dtypes, appending a violation for every unparsable cell.

    Parameters
    ----------
    raw : DataFrame
        The table as read (CSV: every column as text; Parquet: as stored).
    table : str
        Raw table name (``patients``, ``visits``, ``biomarkers``, ``events`` or ``truth``).
    violations : list of Violation
        Collector; missing and unknown columns and unparsable cells are appended here.

    Returns
    -------
    DataFrame
        The typed table with exactly the spec's columns in spec order (unparsable cells left missing, so that
        later checks still run on the rest; the caller must not use the frame when violations were added).
    """
    tspec = S.SYNTHETIC_TABLES[table]
    raw = raw.reset_index(drop=True)
    for column in raw.columns:
        if column not in tspec.names:
            expected = ", ".join(tspec.names)
            violations.append(Violation(table, None, str(column), f"unknown column (expected: {expected})"))
    out: dict[str, pd.Series] = {}
    for f in tspec.fields:
        if f.name not in raw.columns:
            if (f.required or table != "truth") and f.name not in OPTIONAL_COLUMNS.get(table, ()):
                violations.append(Violation(table, None, f.name, "required column is missing"))
            out[f.name] = pd.Series(pd.NA, index=raw.index, dtype=_pandas_dtype(f))
            continue
        out[f.name] = _parse_column(raw[f.name], f, table, violations)
    return pd.DataFrame(out, index=raw.index)


def _blank(series: pd.Series) -> pd.Series:
    """Cells that hold no value: NA, or text that is empty after stripping."""
    if series.dtype.kind in "biufc":
        return series.isna()
    text = series.astype(STRING).str.strip()
    return series.isna() | (text == "")


def _parse_column(series: pd.Series, f: S.FieldSpec, table: str, violations: list[Violation]) -> pd.Series:
    blank = _blank(series)
    if f.kind in ("id", "text", "categorical"):
        text = series.astype(STRING).str.strip()
        return text.mask(blank)
    if f.kind == "boolean":
        if series.dtype == bool or str(series.dtype) == "boolean":
            return series.astype("boolean")
        text = series.astype(STRING).str.strip().str.lower()
        result = pd.Series(pd.NA, index=series.index, dtype="boolean")
        result[text.isin(_TRUE)] = True
        result[text.isin(_FALSE)] = False
        bad = ~blank & result.isna()
        _cell_violations(series, bad, f, table, "must be true or false", violations)
        return result
    # numeric / integer
    if series.dtype.kind in "biuf":
        numbers = series.astype("float64")
        unparsable = pd.Series(False, index=series.index)
    else:
        numbers = pd.to_numeric(series.astype(STRING).str.strip(), errors="coerce").astype("float64")
        unparsable = ~blank & numbers.isna()
    _cell_violations(series, unparsable, f, table, "must be a number", violations)
    infinite = np.isinf(numbers.to_numpy())
    _cell_violations(series, pd.Series(infinite, index=series.index), f, table, "must be finite", violations)
    numbers = numbers.mask(infinite)
    if f.kind == "integer":
        fractional = numbers.notna() & (numbers != np.round(numbers))
        _cell_violations(series, fractional, f, table, "must be a whole number", violations)
        return numbers.mask(fractional).round().astype("Int64")
    return numbers


def _cell_violations(series: pd.Series, mask: pd.Series, f: S.FieldSpec, table: str, rule: str,
                     violations: list[Violation]) -> None:
    for idx in np.flatnonzero(mask.to_numpy()):
        violations.append(Violation(table, int(idx) + 1, f.name, rule, _plain(series.iloc[idx])))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_schema(df: pd.DataFrame, table: str, violations: list[Violation]) -> None:
    """Run the generated pandera schema lazily and translate its failure cases into violations."""
    try:
        pandera_schema(table).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        tspec = S.SYNTHETIC_TABLES[table]
        cases = exc.failure_cases
        # A cell that could not be parsed is already reported; do not report it again as "missing".
        already = {(v.row, v.column) for v in violations if v.table == table}
        missing_columns = {v.column for v in violations if v.table == table and v.row is None}
        for case in cases.itertuples(index=False):
            check = str(case.check)
            idx = None if pd.isna(case.index) else int(case.index)
            column = str(case.column)
            if check == "multiple_fields_uniqueness" or check.startswith("field_uniqueness"):
                continue  # reported by check_keys, which names the first occurrence
            if column in missing_columns:
                continue  # the whole column is absent: reported once, not per row
            if check.startswith("dtype(") or check.startswith("column_in_"):
                continue  # parse_table already reported missing columns and unparsable cells
            f = tspec.field(column)
            if idx is not None and (idx + 1, column) in already:
                continue
            if check == "not_nullable":
                rule = "required value is missing"
                value = None
            else:
                rule = f"must be {f.bounds_text()}"
                value = _plain(case.failure_case)
            violations.append(Violation(table, None if idx is None else idx + 1, column, rule, value))


def check_keys(df: pd.DataFrame, table: str, violations: list[Violation]) -> None:
    """Each key (e.g. patient_id, day) must be unique; every repeat names the row it repeats."""
    key = list(S.SYNTHETIC_TABLES[table].key)
    if not key or len(df) == 0:
        return
    complete = df[key].notna().all(axis=1)
    keyed = df.loc[complete, key]
    repeats = keyed.duplicated(keep="first")
    if not repeats.any():
        return
    first_row = keyed.reset_index().groupby(key, sort=False)["index"].transform("min")
    first_row.index = keyed.index
    for idx in keyed.index[repeats.to_numpy()]:
        values = tuple(_plain(df.at[idx, k]) for k in key)
        violations.append(Violation(table, int(idx) + 1, ", ".join(key),
                                    f"duplicate key ({', '.join(key)}) of row {int(first_row[idx]) + 1}", values))


def check_cross_table(tables: Mapping[str, pd.DataFrame], violations: list[Violation]) -> None:
    """Rules that span columns or tables: known patients, known units, item sums, event and diagnosis days."""
    patients = tables["patients"]
    known = set(patients["patient_id"].dropna())
    for name in ("visits", "biomarkers", "events", "truth"):
        if name not in tables:
            continue
        pid = tables[name]["patient_id"]
        orphan = pid.notna() & ~pid.isin(known)
        for idx in np.flatnonzero(orphan.to_numpy()):
            violations.append(Violation(name, int(idx) + 1, "patient_id", "patient_id not found in patients",
                                        pid.iloc[idx]))

    # Only compare days that passed their own checks, so one bad cell yields one message.
    flagged = {v.row for v in violations if v.table == "patients" and v.column in ("onset_day", "diagnosis_day")}
    valid = ~pd.Series([i + 1 in flagged for i in range(len(patients))], index=patients.index, dtype=bool)
    both = valid & patients["diagnosis_day"].notna() & patients["onset_day"].notna()
    early = both & (patients["diagnosis_day"] < patients["onset_day"])
    for idx in np.flatnonzero(early.to_numpy()):
        violations.append(Violation("patients", int(idx) + 1, "diagnosis_day",
                                    f"must be >= onset_day ({patients['onset_day'].iloc[idx]})",
                                    int(patients["diagnosis_day"].iloc[idx])))

    visits = tables["visits"]
    items = visits[list(S.ALSFRS_ITEMS)]
    complete = items.notna().all(axis=1) & visits["alsfrs_r_total"].notna()
    item_sum = items.sum(axis=1, min_count=12)
    mismatch = complete & (item_sum != visits["alsfrs_r_total"])
    for idx in np.flatnonzero(mismatch.to_numpy()):
        violations.append(Violation("visits", int(idx) + 1, "alsfrs_r_total",
                                    f"must equal the sum of alsfrs_q1..alsfrs_q12 ({int(item_sum.iloc[idx])})",
                                    int(visits["alsfrs_r_total"].iloc[idx])))

    bio = tables["biomarkers"]
    factors = S.unit_factors(bio["analyte"], bio["unit"])
    # An unknown analyte or a missing unit is already reported by the schema.
    unknown = factors.isna() & bio["analyte"].isin(list(S.UNIT_FACTORS)) & bio["unit"].notna()
    for idx in np.flatnonzero(unknown.to_numpy()):
        analyte = bio["analyte"].iloc[idx]
        accepted = ", ".join(S.UNIT_FACTORS[analyte])
        violations.append(Violation("biomarkers", int(idx) + 1, "unit",
                                    f"unknown unit for {analyte} (accepted: {accepted})", bio["unit"].iloc[idx]))

    events = tables["events"]
    before = events["day"].notna() & (events["day"] < 0)
    for idx in np.flatnonzero(before.to_numpy()):
        violations.append(Violation("events", int(idx) + 1, "day", "an endpoint must not precede day 0",
                                    int(events["day"].iloc[idx])))


def check_plausibility(tables: Mapping[str, pd.DataFrame], violations: list[Violation]) -> None:
    """The spec's plausible ranges (:data:`features.spec.PLAUSIBLE_RANGES`), as the candidates get them.

    A range applies to the column of its field's name (``visits.fvc_pct_pred``) and, for a biomarker field, to the
    ``value`` of the biomarker rows of its analyte and matrix, converted to the canonical unit: a serum NfL written
    in ng/mL but labelled pg/mL is caught, with the unit it looks like. Only values that passed their own checks are
    compared, so one bad cell gives one message.
    """
    flagged = {(v.table, v.row, v.column) for v in violations}
    by_field = {r.field: r for r in S.PLAUSIBLE_RANGES}
    for name, frame in tables.items():
        for column in frame.columns:
            rule = by_field.get(str(column))
            if rule is not None and frame[column].dtype.kind == "f":
                _range_violations(name, str(column), frame[column].to_numpy(), frame[column].to_numpy(), rule,
                                  "", flagged, violations)
    bio = tables.get("biomarkers")
    if bio is None or len(bio) == 0:
        return
    raw = bio["value"].to_numpy(dtype="float64", na_value=np.nan)
    canonical = raw * S.unit_factors(bio["analyte"], bio["unit"]).to_numpy()
    for f in S.BIOMARKER_FIELDS:
        rule = by_field.get(f.name)
        if rule is None or f.analyte is None:
            continue
        rows = ((bio["analyte"] == f.analyte) & (bio["matrix"] == f.matrix)).fillna(False).to_numpy(dtype=bool)
        for idx in _outside(np.where(rows, canonical, np.nan), rule):
            if ("biomarkers", idx + 1, "value") in flagged or ("biomarkers", idx + 1, "unit") in flagged:
                continue
            unit = str(bio["unit"].iloc[idx])
            hint = _unit_hint(f.analyte, raw[idx], unit, rule)
            rule_text = (f"{f.analyte} in {f.matrix}: {raw[idx]:g} {unit} is {canonical[idx]:g} {rule.unit}, "
                         f"implausible ({rule.range_text()}): {hint}")
            violations.append(Violation("biomarkers", idx + 1, "value", rule_text, _plain(raw[idx])))


def _outside(values: np.ndarray, rule: S.PlausibleRange) -> list[int]:
    with np.errstate(invalid="ignore"):
        return [int(i) for i in np.flatnonzero(~np.isnan(values) & ((values < rule.lower) | (values > rule.upper)))]


def _unit_hint(analyte: str, value: float, unit: str, rule: S.PlausibleRange) -> str:
    """Which accepted unit would make ``value`` plausible: the likely mislabelling of a biomarker row."""
    fits = [u for u, factor in S.UNIT_FACTORS[analyte].items() if rule.lower <= value * factor <= rule.upper]
    if fits:
        label = fits[0].replace("ml", "mL")
        label = label[:-1] + "L" if label.endswith("/l") else label
        return f"looks like {label} (the row says {unit})"
    return f"check the value and its unit (the row says {unit})"


def _range_violations(table: str, column: str, values: np.ndarray, shown: np.ndarray, rule: S.PlausibleRange,
                      prefix: str, flagged: set[tuple[str, int | None, str | None]],
                      violations: list[Violation]) -> None:
    for idx in _outside(values, rule):
        if (table, idx + 1, column) in flagged:
            continue
        message = rule.problem(float(values[idx]))
        violations.append(Violation(table, idx + 1, column, f"{prefix}{message}", _plain(shown[idx])))


def validate_tables(raw_tables: Mapping[str, pd.DataFrame], *, context: str = "raw tables") -> dict[str, pd.DataFrame]:
    """Parse and validate a full set of raw tables; return typed tables or raise with every violation.

    Parameters
    ----------
    raw_tables : mapping of str to DataFrame
        ``patients``, ``visits``, ``biomarkers``, ``events`` and optionally ``truth`` (synthetic source).
    context : str
        Named in the error report's first line (e.g. the folder that was read).

    Returns
    -------
    dict of str to DataFrame
        Typed tables with the spec's columns, in spec order.

    Raises
    ------
    FeatureDataError
        With every violation found across all tables; nothing is returned in that case.
    """
    violations: list[Violation] = []
    missing = [t for t in S.RAW_TABLES if t not in raw_tables]
    for t in missing:
        violations.append(Violation(t, None, None, "required table is missing"))
    if missing:
        raise FeatureDataError(violations, context=context)
    typed: dict[str, pd.DataFrame] = {}
    for name, frame in raw_tables.items():
        if name not in S.SYNTHETIC_TABLES:
            violations.append(Violation(name, None, None, f"unknown table (expected: {', '.join(S.SYNTHETIC_TABLES)})"))
            continue
        typed[name] = parse_table(frame, name, violations)
        check_schema(typed[name], name, violations)
        check_keys(typed[name], name, violations)
    check_cross_table(typed, violations)
    check_plausibility(typed, violations)
    if violations:
        raise FeatureDataError(violations, context=context)
    return typed
