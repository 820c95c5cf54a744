"""Scoring a candidate pool for a trial: the prognostic score, the tertile strata and who each keep rule enrols.

The prognostic score is the model's prediction of the endpoint without treatment: for the slope endpoint the
predicted ALSFRS-R slope (points/month, more negative = faster decline), for the survival endpoint the predicted
probability of an endpoint event by the end of follow-up. Strata are the pool's tertiles of the score (Berry et
al. 2018): 1 = slowest decline / lowest risk, 3 = fastest / highest. A keep fraction f enrols the ceil(f * N)
candidates with the fastest predicted decline (highest predicted risk); ties go to the earlier row.

Every candidate must be valid: a plan never silently drops one. The first invalid row is reported by position
and field (``candidates[3].age_at_onset_years``), as the HTTP service and the command line both show it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.candidates import validate_candidates
from features.errors import UserInputError
from features.model.bundle import StratifierModel
from trialdesign.design import Design

N_STRATA = 3


class InvalidCandidate(UserInputError):
    """A pool row that cannot be scored; ``field`` names it as ``candidates[<row>].<field>`` (row 0-based)."""

    def __init__(self, row: int, field: str, message: str, invalid_rows: int) -> None:
        self.row = row
        self.field = f"candidates[{row}].{field}" if field != "candidate" else f"candidates[{row}]"
        more = f" ({invalid_rows - 1} more invalid row{'s' if invalid_rows > 2 else ''})" if invalid_rows > 1 else ""
        self.message = f"{message}{more}; a plan needs every candidate scored, so fix or remove the row"
        super().__init__(f"{self.field}: {self.message}")


class PlanningUnavailable(UserInputError):
    """The model cannot plan this design (no held-out summary, no survival part...)."""


@dataclass(frozen=True)
class ScoredPool:
    """A scored pool, in input order.

    Attributes
    ----------
    ids : list of str or None
        Each row's ``candidate_id``.
    score : ndarray
        The prognostic score (slope: points/month; survival: event probability by the end of follow-up).
    slope : ndarray
        Predicted ALSFRS-R slope (points/month).
    mu : ndarray
        Predicted log survival time (log months); NaN without a survival model.
    stratum : ndarray of int
        1 (slowest / lowest risk) .. 3.
    enrolled : dict of float to ndarray of bool
        Keep fraction -> who that rule enrols.
    """

    ids: list[str | None]
    score: np.ndarray
    slope: np.ndarray
    mu: np.ndarray
    stratum: np.ndarray
    enrolled: dict[float, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.score)


def check_model(model: StratifierModel, design: Design) -> None:
    """Refuse a model that cannot plan ``design`` (before any candidate is scored).

    Raises
    ------
    PlanningUnavailable
        ``"model version 3 has no held-out summary; retrain it with this version of alsstrat"`` and the like.
    """
    summary = getattr(model, "held_out", None)
    if summary is None:
        raise PlanningUnavailable(f"model version {model.model_version} has no held-out summary (it was trained "
                                  "before trial planning existed); retrain it to plan trials")
    if design.endpoint == "survival":
        if model.survival is None or not summary.survival_bins:
            raise PlanningUnavailable(f"model version {model.model_version} has no survival model or no held-out "
                                      "survival outcomes; plan the slope endpoint instead")
    elif not summary.slope_bins:
        raise PlanningUnavailable(f"model version {model.model_version} has no held-out slope outcomes")


def risk_score(model: StratifierModel, mu: np.ndarray, follow_up_months: float) -> np.ndarray:
    """Predicted event probability by ``follow_up_months`` (from the landmark) for log-time predictions ``mu``."""
    assert model.survival is not None
    return np.asarray(1.0 - model.survival.survival_at(mu, [follow_up_months])[:, 0])


def severity_order(score: np.ndarray, endpoint: str) -> np.ndarray:
    """Positions from the most severe prognosis (fastest decline / highest risk) to the least; stable on ties."""
    key = score if endpoint == "slope" else -score
    return np.argsort(key, kind="stable")


def strata_and_enrolment(score: np.ndarray, endpoint: str, keep: Sequence[float],
                         ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Tertile strata (1 = least severe) and the enrolment mask of each keep fraction."""
    n = len(score)
    order = severity_order(score, endpoint)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)  # 0 = most severe
    stratum = N_STRATA - (rank * N_STRATA // max(n, 1))
    enrolled = {}
    for f in keep:
        take = min(n, max(1, math.ceil(f * n - 1e-9)))
        enrolled[float(f)] = rank < take
    return stratum.astype(np.int64), enrolled


def score_pool(model: StratifierModel, rows: Sequence[Any], design: Design) -> ScoredPool:
    """Validate and score every candidate, then stratify and apply each keep rule.

    Parameters
    ----------
    model : StratifierModel
        A model with a held-out summary (see :func:`check_model`).
    rows : sequence of dict
        Candidate rows as ``/score_batch`` takes them (optional ``candidate_id``).
    design : Design

    Raises
    ------
    InvalidCandidate
        For the first invalid row (with the count of all invalid rows).
    PlanningUnavailable
        When the model cannot plan the design.
    """
    check_model(model, design)
    if not rows:
        raise UserInputError("candidates: the pool is empty; a plan needs at least one candidate")
    batch = validate_candidates(rows, model.landmark.name)
    if batch.errors:
        first = min(batch.errors)
        error = batch.errors[first]
        raise InvalidCandidate(first, error.field, error.message, len(batch.errors))
    arrays = model.predict_arrays(model.features.transform_records(batch.values, prevalidated=True))
    slope = np.asarray(arrays["p50"], dtype=float)
    mu = np.asarray(arrays["mu"], dtype=float)
    score = slope if design.endpoint == "slope" else risk_score(model, mu, design.follow_up_months)
    stratum, enrolled = strata_and_enrolment(score, design.endpoint, design.keep)
    return ScoredPool(ids=list(batch.client_ids), score=score, slope=slope, mu=mu, stratum=stratum,
                      enrolled=enrolled)
