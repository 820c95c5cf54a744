"""Fit the subtype model: a Gaussian mixture on standardised baseline features, K chosen by BIC and stability.

K is the BIC-best number of components among those whose bootstrap stability (mean adjusted Rand index between
a mixture refitted on a resample and the reference mixture, both labelling the full training set) reaches the
configured minimum. Each subtype is then named and described from its training profile (size, biomarker medians,
median observed slope, Kaplan-Meier median survival); names and profiles travel inside the logged model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from features.model.bundle import SubtypeComponent, SubtypeInfo
from training.config import SubtypeConfig
from training.evaluation.metrics import kaplan_meier_median

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class KSelection:
    """Per-K diagnostics of the model choice (logged as a table with the run)."""

    table: pd.DataFrame  # columns: k, bic, stability_ari, eligible, chosen
    k: int


def _mixture(k: int, cfg: SubtypeConfig, seed: int, n_init: int) -> GaussianMixture:
    return GaussianMixture(n_components=k, covariance_type=cfg.covariance_type, n_init=n_init, random_state=seed,
                           reg_covar=cfg.reg_covar, max_iter=300)


def prepare(z: np.ndarray, feature_names: list[str], cfg: SubtypeConfig) -> tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray, np.ndarray]:
    """Columns, fill values (medians), centres and scales of the clustering features, learned on training rows.

    A configured feature observed in fewer than ``cfg.min_observed_fraction`` of the training rows is left out
    (a cohort without LCN2 or NfL clusters on what it has); :func:`clustering_features` names the ones used.

    Raises
    ------
    ValueError
        When a configured feature is not an output of the feature transformer (names the feature), or no
        configured feature is observed often enough (names each with its observed fraction).
    """
    unknown = [f for f in cfg.features if f not in feature_names]
    if unknown:
        raise ValueError(f"subtype features not produced by the feature pipeline: {unknown} "
                         f"(available: {feature_names})")
    observed = {f: float(np.mean(~np.isnan(z[:, feature_names.index(f)]))) if len(z) else 0.0 for f in cfg.features}
    used = [f for f in cfg.features if observed[f] >= cfg.min_observed_fraction]
    if not used:
        raise ValueError("no subtype feature is observed in at least "
                         f"{cfg.min_observed_fraction:.0%} of the training patients: "
                         + ", ".join(f"{f} {share:.0%}" for f, share in observed.items()))
    columns = np.array([feature_names.index(f) for f in used])
    x = z[:, columns]
    fill = np.nanmedian(x, axis=0)
    x = np.where(np.isnan(x), fill, x)
    center = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    return columns, fill, center, scale


def clustering_features(component: SubtypeComponent, feature_names: list[str]) -> list[str]:
    """Names of the derived features a fitted subtype model clusters on."""
    return [feature_names[int(c)] for c in component.columns]


def select_k(x: np.ndarray, cfg: SubtypeConfig) -> KSelection:
    """BIC and bootstrap stability for each K in [k_min, k_max]; returns the chosen K and the table."""
    rng = np.random.default_rng(cfg.seed)
    rows = []
    for k in range(cfg.k_min, cfg.k_max + 1):
        reference = _mixture(k, cfg, cfg.seed, cfg.n_init).fit(x)
        ref_labels = reference.predict(x)
        aris = []
        for _ in range(cfg.n_bootstrap):
            idx = rng.integers(0, len(x), size=len(x))
            boot = _mixture(k, cfg, int(rng.integers(0, 2**31 - 1)), 1).fit(x[idx])
            aris.append(adjusted_rand_score(ref_labels, boot.predict(x)))
        stability = float(np.mean(aris)) if k > 1 else 1.0
        rows.append({"k": k, "bic": float(reference.bic(x)), "stability_ari": stability})
    table = pd.DataFrame(rows)
    table["eligible"] = table["stability_ari"] >= cfg.min_stability_ari
    pool = table[table["eligible"]] if table["eligible"].any() else table[table["stability_ari"]
                                                                          == table["stability_ari"].max()]
    k = int(pool.sort_values("bic")["k"].iloc[0])
    table["chosen"] = table["k"] == k
    return KSelection(table=table, k=k)


def fit_subtypes(z: np.ndarray, feature_names: list[str], train: pd.DataFrame, cfg: SubtypeConfig,
                 ) -> tuple[SubtypeComponent, KSelection]:
    """Fit the mixture on the training rows and describe each subtype.

    Parameters
    ----------
    z : ndarray
        Derived-feature matrix of the training patients (``BaselineFeatures.transform``).
    feature_names : list of str
        Its column names.
    train : DataFrame
        The training patients' cohort rows (for profiles: biomarkers, outcomes, onset site).
    cfg : SubtypeConfig

    Returns
    -------
    (SubtypeComponent, KSelection)
    """
    from threadpoolctl import threadpool_limits

    columns, fill, center, scale = prepare(z, feature_names, cfg)
    x = (np.where(np.isnan(z[:, columns]), fill, z[:, columns]) - center) / scale
    # BLAS threads on a few thousand 4-dimensional points only contend: one thread is ~10x faster on a busy machine.
    with threadpool_limits(1):
        selection = select_k(x, cfg)
        gmm = _mixture(selection.k, cfg, cfg.seed, cfg.n_init).fit(x)
    labels = gmm.predict(x)
    subtypes = describe_subtypes(train, labels, selection.k)
    component = SubtypeComponent(columns=columns, fill=fill, center=center, scale=scale, gmm=gmm, subtypes=subtypes)
    return component, selection


def _blood(frame: pd.DataFrame, first: str, second: str) -> pd.Series:
    return frame[first].astype(float).fillna(frame[second].astype(float))


def profile_of(frame: pd.DataFrame) -> dict[str, float]:
    """Size and clinical profile of a group of cohort rows (medians; units in the keys)."""
    time = frame["time_to_event_months"].to_numpy(dtype=float)
    event = frame["event_observed"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    usable = ~np.isnan(time)
    return {
        "n": float(len(frame)),
        "nfl_blood_median_pg_ml": float(_blood(frame, "nfl_serum_pg_ml", "nfl_plasma_pg_ml").median()),
        "lcn2_blood_median_ng_ml": float(_blood(frame, "lcn2_plasma_ng_ml", "lcn2_serum_ng_ml").median()),
        "alsfrs_r_total_median_points": float(frame["alsfrs_r_total"].astype(float).median()),
        "age_at_onset_median_years": float(frame["age_at_onset_years"].astype(float).median()),
        "bulbar_onset_share": float((frame["onset_site"] == "bulbar").mean()),
        "slope_3_12_median_points_per_month": float(frame["alsfrs_r_slope_3_12"].astype(float).median()),
        "km_median_survival_months": float(kaplan_meier_median(time[usable], event[usable]))
        if usable.sum() >= 5 else float("nan"),
    }


def describe_subtypes(train: pd.DataFrame, labels: np.ndarray, k: int) -> list[SubtypeInfo]:
    """Name and describe each subtype relative to the whole training cohort.

    Names are built from the profile, not from a fixed list: the pace word ranks subtypes by median observed
    ALSFRS-R slope; marker words flag NfL, LCN2 and bulbar onset well above or below the cohort.
    """
    overall = profile_of(train)
    profiles = [profile_of(train.iloc[np.flatnonzero(labels == j)]) for j in range(k)]
    slopes = np.array([p["slope_3_12_median_points_per_month"] for p in profiles])
    order = np.argsort(-np.nan_to_num(slopes, nan=0.0))  # slowest (least negative) first
    pace_words = _pace_words(k)
    subtypes = []
    for rank, j in enumerate(order):
        p = profiles[j]
        markers = []
        if p["nfl_blood_median_pg_ml"] > 1.3 * overall["nfl_blood_median_pg_ml"]:
            markers.append("high NfL")
        elif p["nfl_blood_median_pg_ml"] < 0.75 * overall["nfl_blood_median_pg_ml"]:
            markers.append("low NfL")
        if p["lcn2_blood_median_ng_ml"] > 1.3 * overall["lcn2_blood_median_ng_ml"]:
            markers.append("raised LCN2")
        if p["bulbar_onset_share"] > max(1.5 * overall["bulbar_onset_share"], overall["bulbar_onset_share"] + 0.1):
            markers.append("bulbar-enriched")
        name = pace_words[rank] + (" (" + ", ".join(markers) + ")" if markers else "")
        description = (
            f"{int(p['n'])} training patients ({100 * p['n'] / overall['n']:.0f} %); median blood NfL "
            f"{p['nfl_blood_median_pg_ml']:.0f} pg/mL, LCN2 {p['lcn2_blood_median_ng_ml']:.0f} ng/mL; "
            f"bulbar onset {100 * p['bulbar_onset_share']:.0f} %; median observed ALSFRS-R slope "
            f"{p['slope_3_12_median_points_per_month']:.2f} points/month; Kaplan-Meier median survival "
            + _km_median_text(p["km_median_survival_months"])
            + ". A data-driven stratum, not a validated clinical category"
            + ("; LCN2 differences are an unvalidated hypothesis." if "raised LCN2" in markers else ".")
        )
        subtypes.append(SubtypeInfo(label=int(j), name=name, description=description, profile=p))
    names = [s.name for s in subtypes]
    for s in subtypes:
        if names.count(s.name) > 1:
            s.name = f"{s.name} [{s.label}]"
    return sorted(subtypes, key=lambda s: s.label)


def _km_median_text(months: float) -> str:
    """The Kaplan-Meier median in words: months from the landmark, not reached, or not available."""
    if np.isnan(months):
        return "not available (no survival outcome)"
    if np.isinf(months):
        return "not reached"
    return f"{months:.0f} months from the landmark"


def _pace_words(k: int) -> list[str]:
    if k == 1:
        return ["all patients"]
    if k == 2:
        return ["slower progression", "faster progression"]
    if k == 3:
        return ["slow progression", "intermediate progression", "fast progression"]
    middle = [f"intermediate progression {i}" for i in range(1, k - 1)]
    return ["slowest progression", *middle, "fastest progression"]


def agreement_with_truth(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, pd.DataFrame]:
    """Adjusted Rand index against planted labels, and the contingency table (rows = truth)."""
    table = pd.crosstab(pd.Series(truth, name="truth"), pd.Series(predicted, name="predicted"))
    return float(adjusted_rand_score(truth, predicted)), table


def match_labels(predicted: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """Hungarian matching of predicted to planted labels (for readable contingency tables)."""
    table = pd.crosstab(predicted, truth)
    rows, cols = linear_sum_assignment(-table.to_numpy())
    return {int(table.index[r]): int(table.columns[c]) for r, c in zip(rows, cols, strict=True)}
