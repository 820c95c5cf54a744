"""The one extraction of observed outcomes from a cohort frame (one row per patient).

The training job (fitting and testing), the rescoring of saved models, the promotion gate and run comparison all
read the slope target and the survival time/event arrays through :class:`Outcomes`, so "which patients count" is
decided in one place:

- slope: ``alsfrs_r_slope_3_12`` (ALSFRS-R points/month over days (91, 365]); NaN = no slope outcome, and the patient
  is left out of the slope model and its metrics (never imputed);
- survival: ``time_to_event_months`` (months from day 0 to the endpoint or censoring) and ``event_observed`` (death,
  tracheostomy or permanent ventilation; a missing indicator counts as censored); only patients with follow-up
  beyond day 0 enter the survival model and its metrics, because time 0 carries no information for the likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.evaluation import metrics as M

SLOPE_COLUMN = "alsfrs_r_slope_3_12"
"""Cohort column of the slope outcome (points/month)."""

TIME_COLUMN = "time_to_event_months"
"""Cohort column of the follow-up time (months)."""

EVENT_COLUMN = "event_observed"
"""Cohort column of the endpoint indicator."""


@dataclass(frozen=True)
class Outcomes:
    """Observed outcomes and subgroup labels of a cohort (positions line up with its rows).

    Attributes
    ----------
    slope : ndarray
        ALSFRS-R slope over days (91, 365], points/month; NaN = no slope outcome (excluded, never imputed).
    time : ndarray
        Months from day 0 to the endpoint or censoring; only patients with ``time > 0`` enter survival metrics.
    event : ndarray of bool
        Endpoint observed (death, tracheostomy or permanent ventilation); missing = censored.
    groups : dict of str to ndarray
        Subgroup label per patient for ``sex``, ``onset_site`` and ``age_band`` (``"missing"`` when unknown).
    truth : ndarray or None
        Planted subtype per patient (synthetic data only).
    """

    slope: np.ndarray
    time: np.ndarray
    event: np.ndarray
    groups: dict[str, np.ndarray]
    truth: np.ndarray | None = None

    @classmethod
    def from_table(cls, table: pd.DataFrame, truth: pd.DataFrame | None = None) -> Outcomes:
        """Outcomes of a cohort table.

        Parameters
        ----------
        table : DataFrame
            One row per patient with the outcome columns (:data:`SLOPE_COLUMN`, :data:`TIME_COLUMN`,
            :data:`EVENT_COLUMN`), ``patient_id`` and the subgroup columns (``sex``, ``onset_site``,
            ``age_at_onset_years``).
        truth : DataFrame, optional
            Planted truth indexed by ``patient_id`` with a ``subtype`` column (simulated cohorts); ignored when a
            patient of ``table`` is absent from it.

        Returns
        -------
        Outcomes
        """
        planted = None
        if truth is not None and "subtype" in truth.columns:
            planted = truth.reindex(table["patient_id"].to_numpy())["subtype"].to_numpy()
            if pd.isna(planted).any():
                planted = None
        groups = {k: v.to_numpy(dtype=object) for k, v in M.subgroups(table.reset_index(drop=True)).items()}
        return cls(slope=table[SLOPE_COLUMN].to_numpy(dtype=float),
                   time=table[TIME_COLUMN].to_numpy(dtype=float),
                   event=table[EVENT_COLUMN].astype("boolean").fillna(False).to_numpy(dtype=bool),
                   groups=groups, truth=planted)

    @property
    def n(self) -> int:
        """Number of patients."""
        return len(self.slope)

    @property
    def has_slope(self) -> np.ndarray:
        """Patients with a slope outcome (bool mask)."""
        return ~np.isnan(self.slope)

    @property
    def has_followup(self) -> np.ndarray:
        """Patients with follow-up beyond day 0, the only ones that enter survival (bool mask)."""
        return np.nan_to_num(self.time, nan=0.0) > 0

    def followup(self) -> tuple[np.ndarray, np.ndarray]:
        """``(time in months, event)`` of the patients with follow-up (:attr:`has_followup`)."""
        ok = self.has_followup
        return self.time[ok], self.event[ok]

    def counts(self) -> dict[str, int]:
        """Patients, with a slope outcome, with follow-up, and with an observed endpoint (among those)."""
        ok = self.has_followup
        return {"n_patients": self.n, "n_with_slope": int(self.has_slope.sum()), "n_with_followup": int(ok.sum()),
                "n_events": int(self.event[ok].sum())}
