"""Sample-size warnings for the reports: too few events per predictor, subgroups too small to read alone.

Two documented thresholds, each with its reference, and the sentences the model card and the compare report print
when a run falls below them. Nothing here refuses a run (the training job's own floors do that,
:data:`training.fit.train.MIN_SURVIVAL_EVENTS`); these are warnings an auditor must see next to the numbers.

- Events per predictor (EPP): observed survival endpoints among the training patients divided by the number of model
  inputs (the baseline fields the model takes at its landmark). Below :data:`MIN_EVENTS_PER_PREDICTOR` = 10, the
  classic rule of thumb (Peduzzi et al., J Clin Epidemiol 1996; discussed and refined by Riley et al., BMJ 2020,
  "Calculating the sample size required for developing a clinical prediction model"), the model risks overfitting
  and optimistic apparent performance. Riley et al. show that 10 is neither necessary nor sufficient in general;
  it is used here as a visible flag, not as a sample-size calculation.
- Subgroup size: a subgroup metric from fewer than :data:`MIN_SUBGROUP_PATIENTS` = 30 patients with the outcome has
  an interval too wide to read on its own (Riley et al., BMJ 2020, and Collins et al., Stat Med 2016, suggest at
  least 100 events for external validation; 30 is the smallest group whose metric is shown without a flag here).
"""

from __future__ import annotations

import math

MIN_EVENTS_PER_PREDICTOR = 10.0
"""Training survival endpoints per model input below which the reports warn (Peduzzi 1996; Riley et al. 2020)."""

MIN_SUBGROUP_PATIENTS = 30
"""Patients with the outcome below which a subgroup row is flagged as too small to read on its own."""

EPP_REFERENCE = "Peduzzi et al. 1996; Riley et al., BMJ 2020"
"""The references the events-per-predictor warning cites."""


def events_per_predictor(events: int, n_predictors: int) -> float:
    """Training survival endpoints per model input (NaN without inputs).

    Parameters
    ----------
    events : int
        Observed survival endpoints among the training patients (count).
    n_predictors : int
        Model inputs (baseline fields at the model's landmark; count).

    Returns
    -------
    float
        ``events / n_predictors`` (events per predictor); NaN when ``n_predictors`` is 0.

    Examples
    --------
    >>> events_per_predictor(96, 32)
    3.0
    """
    return events / n_predictors if n_predictors > 0 else math.nan


def events_per_predictor_warning(events: int, n_predictors: int) -> str | None:
    """The warning sentence when events per predictor fall below :data:`MIN_EVENTS_PER_PREDICTOR`, else None.

    A model without survival outcomes (no events at all) has no survival model to overfit and gets no warning.

    Examples
    --------
    >>> events_per_predictor_warning(96, 32)[:60]
    'Warning: only 3.0 training events per predictor (96 events,'
    >>> events_per_predictor_warning(400, 32) is None
    True
    """
    epp = events_per_predictor(events, n_predictors)
    if events == 0 or not math.isfinite(epp) or epp >= MIN_EVENTS_PER_PREDICTOR:
        return None
    return (f"Warning: only {epp:.1f} training events per predictor ({events:,} events, {n_predictors:,} model "
            f"inputs), below the usual minimum of {MIN_EVENTS_PER_PREDICTOR:g} ({EPP_REFERENCE}): the survival "
            "model may be overfitted and its test metrics optimistic; read them with their intervals and do not use "
            "this version beyond exploratory research.")


def subgroup_flag(n: int | float | None, *, min_evaluated: int) -> str:
    """The caution a subgroup row carries, in words, from its number of patients with the outcome.

    Parameters
    ----------
    n : int, float or None
        Patients with the outcome in the subgroup (count; a float from MLflow is read as a count); None when unknown.
    min_evaluated : int
        The run's ``min_subgroup_size``: smaller subgroups were not evaluated at all.

    Returns
    -------
    str
        ``"not evaluated: n = 7 < 20"``, ``"small: n = 24 < 30, interpret with caution"``, ``"n >= 30"`` or
        ``"size not recorded"``.

    Examples
    --------
    >>> subgroup_flag(24.0, min_evaluated=20)
    'small: n = 24 < 30, interpret with caution'
    """
    if n is None or (isinstance(n, float) and not math.isfinite(n)):
        return "size not recorded"
    count = int(n)
    if count < min_evaluated:
        return f"not evaluated: n = {count:,} < {min_evaluated:,}"
    if count < MIN_SUBGROUP_PATIENTS:
        return f"small: n = {count:,} < {MIN_SUBGROUP_PATIENTS}, interpret with caution"
    return f"n >= {MIN_SUBGROUP_PATIENTS}"
