"""Read and write raw tables and cohort tables (CSV or Parquet). Reading never rewrites the source data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd

from features import spec as S
from features.atomic import atomic_write
from features.contracts import validate_tables
from features.errors import FeatureDataError, Violation

Format = Literal["parquet", "csv"]
# Text that means "no value" in CSV exports (pandas' defaults minus ambiguous words).
CSV_NA = ["", "NA", "N/A", "NaN", "nan", "null", "NULL"]


def find_table_file(folder: Path, table: str) -> Path | None:
    """The file holding ``table`` in ``folder`` (``<table>.parquet`` or ``<table>.csv``), or None.

    Raises
    ------
    FeatureDataError
        When both a CSV and a Parquet file exist for the same table (ambiguous).
    """
    found = [p for p in (folder / f"{table}.parquet", folder / f"{table}.csv") if p.is_file()]
    if len(found) > 1:
        raise FeatureDataError([Violation(table, None, None, "both table.csv and table.parquet exist; keep one",
                                          [p.name for p in found])], context=str(folder))
    return found[0] if found else None


def read_table_file(path: Path) -> pd.DataFrame:
    """Read one table file as stored: CSV cells as text (typed later by the contract), Parquet as typed."""
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=CSV_NA)
    return pd.read_parquet(path)


def load_native(folder: str | Path, *, with_truth: bool | None = None) -> dict[str, pd.DataFrame]:
    """Load and validate the native raw tables from a folder.

    Parameters
    ----------
    folder : path
        Holds ``patients``, ``visits``, ``biomarkers``, ``events`` (and, from the simulator, ``truth``) as
        ``<table>.csv`` or ``<table>.parquet``.
    with_truth : bool or None
        Load the ``truth`` table: True requires it, False ignores it, None loads it when present.

    Returns
    -------
    dict of str to DataFrame
        Typed, validated tables.

    Raises
    ------
    FeatureDataError
        Every violation across all tables (missing files included); nothing partial is returned.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FeatureDataError([Violation(str(folder), None, None, "input folder does not exist")],
                               context=str(folder))
    names = list(S.RAW_TABLES)
    if with_truth or (with_truth is None and find_table_file(folder, "truth") is not None):
        names.append("truth")
    raw: dict[str, pd.DataFrame] = {}
    missing: list[Violation] = []
    for table in names:
        path = find_table_file(folder, table)
        if path is None:
            missing.append(Violation(table, None, None, f"required file is missing ({table}.csv or {table}.parquet)"))
        else:
            try:
                raw[table] = read_table_file(path)
            except (ValueError, OSError) as exc:  # an empty CSV, a truncated Parquet: a problem of the file
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                missing.append(Violation(table, None, None, f"cannot read {path.name}: {reason}"))
    if missing:
        raise FeatureDataError(missing, context=str(folder))
    return validate_tables(raw, context=str(folder))


def write_tables(tables: Mapping[str, pd.DataFrame], out: str | Path, fmt: Format = "parquet") -> dict[str, Path]:
    """Write tables as ``out/<name>.<fmt>``; each file appears whole or not at all (temp file + rename).

    Returns
    -------
    dict of str to Path
        Where each table was written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        target = out / f"{name}.{fmt}"
        atomic_write(target, frame.to_csv if fmt == "csv" else frame.to_parquet, index=False)
        written[name] = target
    return written
