"""One entry point from a named source to a cohort table: native, synthetic, proact or dream2012."""

from __future__ import annotations

from pathlib import Path

from features.cohort.table import Cohort
from features.errors import UserInputError

SOURCES = ("native", "synthetic", "proact", "dream2012")


class UnknownSourceOrLandmark(UserInputError, ValueError):
    """A source name or landmark that does not exist, or a landmark a source cannot provide."""


def load_cohort(source: str, path: str | Path, landmark: str | None = None) -> Cohort:
    """Build the cohort table from ``path`` read as ``source``.

    Parameters
    ----------
    source : {"native", "synthetic", "proact", "dream2012"}
        ``native`` and ``synthetic`` read the native raw tables (the simulator writes these, plus ``truth``);
        ``proact`` reads a PRO-ACT export folder; ``dream2012`` reads the DREAM-2012 feature table.
    path : path
        Folder or file to read.
    landmark : {"screening", "lead-in"}, optional
        Prediction time of the cohort (:data:`features.spec.LANDMARKS`). Default: ``screening``, except for
        ``dream2012``, whose table only exists at ``lead-in`` (features over the first 3 months).

    Returns
    -------
    Cohort
        One row per patient, with the import report.

    Raises
    ------
    UnknownSourceOrLandmark
        For an unknown source name or landmark, or a landmark the source cannot provide (a user input problem:
        command lines answer it with exit 2).
    FeatureDataError
        For input that breaks the contract (every violation listed).
    """
    from features import spec as S
    from features.cohort.assemble import build_cohort

    if source not in SOURCES:
        raise UnknownSourceOrLandmark(f"unknown source {source!r} (expected one of: {', '.join(SOURCES)})")
    if landmark is not None and landmark not in S.LANDMARKS:
        raise UnknownSourceOrLandmark(f"unknown landmark {landmark!r}: use one of {', '.join(S.LANDMARKS)}")
    if source == "dream2012":
        from features.sources.dream2012 import DREAM_LANDMARK, load_dream2012

        if landmark not in (None, DREAM_LANDMARK):
            raise UnknownSourceOrLandmark(
                f"the dream2012 source exists only at the {DREAM_LANDMARK!r} landmark (its features summarise the "
                f"first 3 months), not at {landmark!r}")
        return load_dream2012(path)
    at = S.landmark(landmark or default_landmark(source))
    if source in ("native", "synthetic"):
        from features.sources.native import load_native

        tables = load_native(path, with_truth=True if source == "synthetic" else None)
        return build_cohort(tables, source=source, landmark=at.name)
    if source == "proact":
        from features.sources.proact.load import load_proact

        tables, report = load_proact(path)
        return build_cohort(tables, source="proact", report=report, landmark=at.name)
    raise AssertionError(f"unreachable: source {source!r} was checked above")  # pragma: no cover


def default_landmark(source: str) -> str:
    """The landmark a source is read at when none is named: ``lead-in`` for DREAM-2012, else ``screening``."""
    from features import spec as S

    return "lead-in" if source == "dream2012" else S.DEFAULT_LANDMARK
