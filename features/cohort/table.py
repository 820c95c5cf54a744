"""The cohort table as an object: the table, its dataset metadata and its import report; read and write it.

Metadata per dataset (architecture): source, ALSFRS scale (48, or 40 for legacy ALSFRS) and the content hash of
the whole table (every row and column, unlike MLflow's first-10k-rows digest).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import spec as S
from features.errors import FeatureDataError, Violation

METADATA_KEY = b"alsstrat"


@dataclass(frozen=True)
class ExcludedRecord:
    """A raw record that did not enter the cohort, and why (no silent drops)."""

    table: str
    row: int | None
    patient_id: str | None
    reason: str


@dataclass
class ImportReport:
    """What an import read, produced and left out."""

    source: str
    counts: dict[str, int] = field(default_factory=dict)
    excluded: list[ExcludedRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def exclusion_summary(self) -> dict[str, int]:
        """Number of excluded records per (table, reason)."""
        summary: dict[str, int] = {}
        for rec in self.excluded:
            key = f"{rec.table}: {rec.reason}"
            summary[key] = summary.get(key, 0) + 1
        return summary

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "counts": self.counts,
            "exclusion_summary": self.exclusion_summary(),
            "notes": self.notes,
            "excluded": [asdict(r) for r in self.excluded],
        }


@dataclass
class Cohort:
    """One row per patient: ``patient_id``, the baseline fields and the outcomes, plus dataset metadata.

    Extra columns a source needs (e.g. DREAM-2012's official ``split``) are allowed after the spec's columns.
    """

    table: pd.DataFrame
    source: str
    alsfrs_scale: int = 48
    report: ImportReport | None = None
    landmark: str = S.DEFAULT_LANDMARK
    """The prediction time the baseline fields and outcomes are defined at (:data:`features.spec.LANDMARKS`)."""

    @property
    def content_hash(self) -> str:
        return content_hash(self.table)

    def metadata(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "landmark": self.landmark,
            "alsfrs_scale": self.alsfrs_scale,
            "content_hash": self.content_hash,
            "spec_hash": S.spec_hash(),
            "n_patients": int(len(self.table)),
        }


def content_hash(table: pd.DataFrame) -> str:
    """SHA-256 (hex) of a table's full content: column names, dtypes and every cell, row order included."""
    digest = hashlib.sha256()
    digest.update(json.dumps([(str(c), str(t)) for c, t in table.dtypes.items()]).encode())
    rows = pd.util.hash_pandas_object(table, index=False).to_numpy()
    digest.update(np.ascontiguousarray(rows).tobytes())
    return digest.hexdigest()


def empty_cohort_frame(n: int = 0) -> pd.DataFrame:
    """An all-missing cohort frame with the spec's columns and dtypes (for builders to fill)."""
    columns: dict[str, pd.Series] = {}
    for f in S.COHORT_FIELDS:
        columns[f.name] = pd.Series([pd.NA] * n, dtype=cohort_dtype(f))
    return pd.DataFrame(columns)


def cohort_dtype(f: S.FieldSpec) -> Any:
    """Pandas dtype of a cohort column: text as str, booleans as nullable boolean, everything else float64."""
    if f.kind in ("id", "text", "categorical"):
        return pd.StringDtype(na_value=np.nan)
    if f.kind == "boolean":
        return "boolean"
    return "float64"


def check_cohort_columns(table: pd.DataFrame, context: str) -> None:
    """Refuse a cohort table that lacks a spec column or has a duplicate patient (every violation listed)."""
    violations = [Violation("cohort", None, f.name, "required column is missing")
                  for f in S.COHORT_FIELDS if f.name not in table.columns]
    if "patient_id" in table.columns:
        dup = table["patient_id"].duplicated(keep="first")
        violations += [Violation("cohort", int(i) + 1, "patient_id", "duplicate patient", table["patient_id"].iloc[i])
                       for i in np.flatnonzero(dup.to_numpy())]
    if violations:
        raise FeatureDataError(violations, context=context)


def write_cohort(cohort: Cohort, path: str | Path) -> tuple[Path, Path]:
    """Write the cohort as Parquet (metadata in the file's schema) and its import report as ``<stem>.report.json``.

    Both files are written in full to temporary names before either is renamed into place, so a failure while
    writing (disk full, an error in either writer) leaves neither file, never a table without its report.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_cohort_columns(cohort.table, str(path))
    arrow = pa.Table.from_pandas(cohort.table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(cohort.metadata()).encode()
    arrow = arrow.replace_schema_metadata(meta)
    report_path = path.with_suffix(".report.json")
    report: dict[str, Any] = cohort.report.to_dict() if cohort.report else {"source": cohort.source}
    report["metadata"] = cohort.metadata()
    _write_pair((path, lambda tmp: pq.write_table(arrow, tmp)),
                (report_path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2, default=str))))
    return path, report_path


def _write_pair(*targets: tuple[Path, Callable[[str], object]]) -> None:
    """Write every target to a temporary file beside it, then rename them all into place.

    Everything that can fail runs before the first rename; what is left is a few renames in one folder (each
    atomic), so files that belong together appear together.
    """
    temps: list[str] = []
    try:
        for target, write in targets:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            os.close(fd)
            temps.append(tmp)
            write(tmp)
        for (target, _), tmp in zip(targets, temps, strict=True):
            os.replace(tmp, target)
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)


def read_cohort(path: str | Path) -> Cohort:
    """Read a cohort Parquet file written by :func:`write_cohort` (metadata restored, columns checked)."""
    path = Path(path)
    if not path.is_file():
        raise FeatureDataError([Violation(str(path), None, None, "cohort file does not exist")], context=str(path))
    arrow = pq.read_table(path)
    raw_meta = (arrow.schema.metadata or {}).get(METADATA_KEY)
    meta = json.loads(raw_meta) if raw_meta else {}
    table = arrow.to_pandas()
    check_cohort_columns(table, str(path))
    # A cohort written before landmarks existed used the lead-in windows (features from days 0-91).
    return Cohort(table=table, source=str(meta.get("source", "unknown")),
                  alsfrs_scale=int(meta.get("alsfrs_scale", 48)), landmark=str(meta.get("landmark", "lead-in")))


