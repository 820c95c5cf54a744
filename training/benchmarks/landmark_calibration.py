"""Survival calibration at the screening landmark, on simulated patients the model never saw.

For each fresh simulator seed: simulate a cohort, assemble it at the ``screening`` landmark (day-0 measurements and
history only; survival counted from day 0), fit every model on the training patients exactly as ``alsstrat train``
does, then score held-out patients with their screening inputs and compare with Kaplan-Meier, twice: on the run's
own test split, and on an independent cohort of the same scenario (20,000 simulated, seed + 1,000,000; see
:mod:`training.benchmarks.heldout`), where each risk group has ~4,000 patients instead of ~78:

- mean predicted S(12) and S(24) over the held-out patients against the Kaplan-Meier estimate;
- per risk group (1 = lowest risk of 5): mean predicted S(12)/S(24) against that group's Kaplan-Meier;
- the same on the independent cohort reduced to the seven fields of the typical candidate below (every other field
  blanked): calibration for candidates who send little;
- the median survival predicted for a typical candidate (limb onset, male, 59 y at onset, 12 months since onset,
  diagnostic delay 9 months, ALSFRS-R 40, serum NfL 50 pg/mL), next to the simulator's truth for look-alikes
  (Kaplan-Meier of simulated patients with that profile), the median of the look-alikes' mean predicted curve (all
  their fields, and only the typical candidate's seven), and the published ENCALS model's median for that profile.

``python -m training.benchmarks.landmark_calibration --seeds 101,103 --n-patients 2000`` prints one JSON object
per seed, with the acceptance checks for each of the two held-out sets. The seeds are fresh: the default
configuration was never tuned on them. The typical candidate's look-alikes come from the independent cohort.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features import spec as S
from features.model.bundle import StratifierModel
from training.benchmarks.heldout import independent_cohort, measuring_parser, parse_seeds, sparsity_override
from training.config import TrainConfig, simulated_config
from training.data.load import load_training_data
from training.evaluation.metrics import kaplan_meier_median, km_at
from training.evaluation.scoring import predict_cohort
from training.fit.sparsity import blank_columns

HORIZONS_MONTHS = (12.0, 24.0)
TYPICAL_CANDIDATE: dict[str, Any] = {
    "age_at_onset_years": 59.0, "sex": "male", "onset_site": "limb", "months_since_onset": 12.0,
    "diagnostic_delay_months": 9.0, "alsfrs_r_total": 40.0, "nfl_serum_pg_ml": 50.0,
}
"""The issue's typical screening candidate (every other field not measured)."""


def encals_median_from_onset(age_at_onset: float, delay_months: float, alsfrs_r: float, months_since_onset: float,
                             vc_pct: float, *, bulbar: bool = False, definite: bool = False, ftd: bool = False,
                             c9orf72: bool = False) -> float:
    """Median survival (months from symptom onset) of the published ENCALS model for one patient.

    Westeneng et al., Lancet Neurol 2018;17:423-433: linear predictor (8 predictors) and proportional-odds
    Royston-Parmar baseline S(t) = 1 / (1 + exp(s(ln t) + LP)), with the coefficients, knots and spline terms
    as written out by a co-author (R.P.A. van Eijk, ``MyLP`` and "ENCALS risk modelling.R"), which the project's
    clinical facts (section 3) quote. Outcome: NIV > 23 h/day, tracheostomy or death.

    Parameters
    ----------
    age_at_onset : float
        Years.
    delay_months : float
        Onset to diagnosis, months.
    alsfrs_r : float
        ALSFRS-R total (0-48 points) at the visit.
    months_since_onset : float
        Symptom duration at the visit, months (with ``alsfrs_r`` gives the pre-slope).
    vc_pct : float
        Vital capacity, % predicted.

    Returns
    -------
    float
        Months from onset at which the model's survival crosses 0.5.
    """
    slope = (alsfrs_r - 48.0) / months_since_onset
    t_age = (age_at_onset / 100.0) ** -2
    t_dx = (delay_months / 10.0) ** -0.5 + math.log(delay_months / 10.0)
    t_sl = (-slope + 0.1) ** -0.5
    t_vc = (vc_pct / 100.0) ** -1 + (vc_pct / 100.0) ** -0.5
    lp = (-1.83665700485301 * t_sl - 2.37341404599814 * t_dx - 0.266972062796289 * t_age + 0.476853332498141 * t_vc
          + 0.268874087566745 * bulbar + 0.232783007891563 * definite + 0.38831322640700 * ftd
          + 0.256078493763062 * c9orf72)
    g0, g1, g2, g3 = -6.409, 2.643, -0.546, 0.585
    k_min, k1, k2, k_max = 0.081, 3.108, 3.638, 5.917
    lam1, lam2 = 0.481323, 0.390507

    def spline(x: float) -> float:
        def v(k: float, lam: float) -> float:
            return max(x - k, 0.0) ** 3 - lam * max(x - k_min, 0.0) ** 3 - (1 - lam) * max(x - k_max, 0.0) ** 3
        return g0 + g1 * x + g2 * v(k1, lam1) + g3 * v(k2, lam2)

    # S(t) = 0.5 where s(ln t) + LP = 0; s is increasing over the clinical range, so bisect on ln t.
    low, high = math.log(0.5), math.log(1200.0)
    for _ in range(100):
        mid = (low + high) / 2
        if spline(mid) + lp < 0:
            low = mid
        else:
            high = mid
    return math.exp((low + high) / 2)


def _look_alikes(table: pd.DataFrame) -> pd.Series:
    """Simulated patients resembling the typical candidate at screening (a window around each of its values)."""
    c = TYPICAL_CANDIDATE
    return ((table["onset_site"] == c["onset_site"]) & (table["sex"] == c["sex"])
            & table["age_at_onset_years"].between(c["age_at_onset_years"] - 6, c["age_at_onset_years"] + 6)
            & table["months_since_onset"].between(c["months_since_onset"] - 4, c["months_since_onset"] + 4)
            & table["alsfrs_r_total"].between(c["alsfrs_r_total"] - 2, c["alsfrs_r_total"] + 2)
            & table["nfl_serum_pg_ml"].between(c["nfl_serum_pg_ml"] / 1.5, c["nfl_serum_pg_ml"] * 1.5))


def calibration_figures(model: StratifierModel, table: pd.DataFrame) -> dict[str, Any]:
    """Mean predicted S(12)/S(24) against Kaplan-Meier, overall and per risk group, on patients with follow-up.

    Parameters
    ----------
    model : StratifierModel
        A fitted bundle with a survival part.
    table : DataFrame
        Cohort rows at the model's landmark; rows without a survival outcome are left out (counted in ``n``).

    Returns
    -------
    dict
        ``n`` (patients with a survival outcome), ``overall`` and ``risk_groups`` (1 = lowest risk of 5), each
        horizon with ``predicted``, ``kaplan_meier`` and its 95 % ``km_ci`` (probabilities).
    """
    if model.survival is None:
        raise ValueError("the landmark calibration needs a model with a survival part")
    table = table.loc[table["time_to_event_months"].notna()].reset_index(drop=True)
    pred = predict_cohort(model, table)  # the evaluation layer's scoring: what the run's metrics use
    predicted = pred.survival_at(pred.mu, HORIZONS_MONTHS)
    time = table["time_to_event_months"].to_numpy(dtype=float)
    event = table["event_observed"].astype(bool).to_numpy()

    def compare(sel: np.ndarray) -> dict[str, Any]:
        row: dict[str, Any] = {"n": int(sel.sum())}
        for j, t in enumerate(HORIZONS_MONTHS):
            km, low, high = km_at(time[sel], event[sel], t)
            row[f"{t:.0f}m"] = {"predicted": float(predicted[sel, j].mean()), "kaplan_meier": km,
                                "km_ci": [low, high]}
        return row

    overall = compare(np.ones(len(table), dtype=bool))
    groups = model.survival.risk_group(pred.mu)
    return {"n": overall.pop("n"), "overall": overall,
            "risk_groups": {str(int(g)): compare(groups == g) for g in sorted(set(groups.tolist()))}}


def measure(seed: int, *, n_patients: int = 2000, independent_patients: int = 20_000,
            cfg: TrainConfig | None = None, blanked_copies: int | None = None) -> dict[str, Any]:
    """Calibration figures for one fresh simulator seed (see the module docstring)."""
    from training.fit.train import fit_and_evaluate

    cfg = simulated_config(seed, n_patients=n_patients, cfg=cfg, landmark="screening", lcn2_ablation=False,
                           **sparsity_override(blanked_copies))
    data = load_training_data(cfg.data)
    fitted = fit_and_evaluate(cfg, data)
    model = fitted.model
    test = data.cohort.table.reset_index(drop=True).iloc[fitted.split.test]
    independent = independent_cohort(seed, n_patients=independent_patients, scenario=cfg.data.simulate.scenario,
                                      landmark="screening")
    minimal = only_fields(independent.table, TYPICAL_CANDIDATE)
    out: dict[str, Any] = {"seed": seed, "n_patients": n_patients, "time_origin": model.time_origin,
                           "test_split": calibration_figures(model, test),
                           "independent": {"seed": independent.seed,
                                           **calibration_figures(model, independent.table)},
                           "independent_minimal_fields": calibration_figures(model, minimal)}
    typical = model.predict_frame(pd.DataFrame([TYPICAL_CANDIDATE]))
    out["typical_candidate_median_months"] = float(typical["median_survival_months"].iloc[0])
    look_alikes = _look_alikes(independent.table) & independent.table["time_to_event_months"].notna()
    out["typical_candidate_truth"] = {
        **_truth_for_typical(independent.table),
        "predicted_median_months_all_fields": group_median(model, independent.table.loc[look_alikes]),
        "predicted_median_months_minimal_fields": group_median(model, minimal.loc[look_alikes])}
    onset_medians = [encals_median_from_onset(59, 9, 40, 12, vc) for vc in (80.0, 100.0)]
    out["encals_median_from_screening_months"] = sorted(m - TYPICAL_CANDIDATE["months_since_onset"]
                                                         for m in onset_medians)
    return out


def only_fields(table: pd.DataFrame, keep: Any) -> pd.DataFrame:
    """The table with every baseline field outside ``keep`` blanked: what a minimal screening candidate sends."""
    return blank_columns(table, [name for name in S.BASELINE_NAMES if name not in keep])


def group_median(model: StratifierModel, table: pd.DataFrame) -> float:
    """Months at which the group's mean predicted survival curve crosses 0.5 (NaN when it does not by 120).

    The comparable figure to a group's Kaplan-Meier median: the median of each patient's own predicted median
    is not, because the group's curve is a mixture of individual curves.
    """
    if model.survival is None or table.empty:
        return math.nan
    pred = predict_cohort(model, table)
    grid = np.arange(0.25, 120.0 + 1e-9, 0.25)
    curve = pred.survival_at(pred.mu, grid).mean(axis=0)
    below = np.flatnonzero(curve < 0.5)
    return float(grid[below[0]]) if below.size else math.nan


def _truth_for_typical(table: pd.DataFrame) -> dict[str, Any]:
    """Kaplan-Meier median (months from day 0) of look-alike simulated patients: the simulator's own answer."""
    sel = _look_alikes(table) & table["time_to_event_months"].notna()
    time = table.loc[sel, "time_to_event_months"].to_numpy(dtype=float)
    event = table.loc[sel, "event_observed"].astype(bool).to_numpy()
    return {"n_look_alikes": int(sel.sum()), "km_median_months": kaplan_meier_median(time, event) if sel.any()
            else math.nan}


def acceptance(figures: dict[str, Any], typical_median_months: float) -> dict[str, bool]:
    """The issue's acceptance checks on one cohort's calibration figures (see :func:`calibration_figures`)."""
    s24 = figures["overall"]["24m"]
    groups_ok = all(abs(r[h]["predicted"] - r[h]["kaplan_meier"]) <= 0.10
                    for r in figures["risk_groups"].values() for h in ("12m", "24m")
                    if not math.isnan(r[h]["kaplan_meier"]))
    return {"mean_s24_within_0.05": abs(s24["predicted"] - s24["kaplan_meier"]) <= 0.05,
            "risk_groups_within_0.10": groups_ok,
            "typical_median_15_to_40": 15 <= typical_median_months <= 40}


def main(argv: Sequence[str] | None = None) -> None:
    ns = measuring_parser("python -m training.benchmarks.landmark_calibration", __doc__, "101,103").parse_args(argv)
    for seed in parse_seeds(ns.seeds):
        result = measure(seed, n_patients=ns.n_patients, independent_patients=ns.independent_patients,
                         blanked_copies=ns.blanked_copies)
        for part in ("test_split", "independent", "independent_minimal_fields"):
            result[part]["acceptance"] = acceptance(result[part], result["typical_candidate_median_months"])
        print(json.dumps(result, default=lambda v: None if isinstance(v, float) and math.isnan(v) else str(v)))


if __name__ == "__main__":  # pragma: no cover
    main()
