"""One entry point from a named source to a cohort table: native, synthetic, proact or dream2012."""

from __future__ import annotations

from pathlib import Path

from features.cohort.table import Cohort

SOURCES = ("native", "synthetic", "proact", "dream2012")


def load_cohort(source: str, path: str | Path) -> Cohort:
    """Build the cohort table from ``path`` read as ``source``.

    Parameters
    ----------
    source : {"native", "synthetic", "proact", "dream2012"}
        ``native`` and ``synthetic`` read the native raw tables (the simulator writes these, plus ``truth``);
        ``proact`` reads a PRO-ACT export folder; ``dream2012`` reads the DREAM-2012 feature table.
    path : path
        Folder or file to read.

    Returns
    -------
    Cohort
        One row per patient, with the import report.

    Raises
    ------
    ValueError
        For an unknown source name.
    FeatureDataError
        For input that breaks the contract (every violation listed).
    """
    from features.cohort.assemble import build_cohort

    if source in ("native", "synthetic"):
        from features.sources.native import load_native

        tables = load_native(path, with_truth=True if source == "synthetic" else None)
        return build_cohort(tables, source=source)
    if source == "proact":
        from features.sources.proact.load import load_proact

        tables, report = load_proact(path)
        return build_cohort(tables, source="proact", report=report)
    if source == "dream2012":
        from features.sources.dream2012 import load_dream2012

        return load_dream2012(path)
    raise ValueError(f"unknown source {source!r} (expected one of: {', '.join(SOURCES)})")
