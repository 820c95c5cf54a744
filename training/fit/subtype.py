"""Fit the subtype model: a t (or Gaussian) mixture on standardised baseline features, K chosen by BIC and stability.

The clustering features (configured; by default log blood NfL, log blood LCN2 and the ln-transformed ΔFRS
pre-slope) are standardised on the training rows; a missing feature is marginalised out of the mixture's density
(:mod:`training.fit.mixture`), not filled in. The components are multivariate t with fixed degrees of freedom
(``SubtypeConfig.t_dof``; null: Gaussian). K is chosen among the configured range: each K's BIC and bootstrap
stability (mean adjusted Rand index between a mixture refitted on a resample and the reference mixture, both
labelling the full training set) are computed; among the K whose stability reaches the configured minimum, the
smallest K whose BIC is within ``bic_margin`` of the best is chosen (a larger model must be strongly supported,
Kass & Raftery 1995: a BIC difference above 10). The chosen mixture's EM is then continued with lighter-tailed
components (``SubtypeConfig.refine_t_dof``, :func:`training.fit.mixture.refine_mixture`). Each subtype is then
named and described from its training profile (size, biomarker medians, median observed slope, Kaplan-Meier
median survival); names and profiles travel inside the logged model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from features.model.bundle import SubtypeComponent, SubtypeInfo
from features.model.mixture import component_log_densities
from training.config import SubtypeConfig
from training.evaluation.metrics import kaplan_meier_median
from training.fit.mixture import MixtureFit, fit_mixture, refine_mixture

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class KSelection:
    """Per-K diagnostics of the model choice (logged as a table with the run)."""

    table: pd.DataFrame  # columns: k, bic, stability_ari, eligible, chosen
    k: int


@dataclass(frozen=True)
class Prepared:
    """How the clustering features are taken from the derived-feature matrix (learned on training rows)."""

    columns: np.ndarray
    fill: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    log_offset: np.ndarray
    marginalise: bool

    def component(self, gmm: object, subtypes: list[SubtypeInfo], dof: float | None = None) -> SubtypeComponent:
        """The bundle's subtype component with these transforms and the fitted mixture ``gmm`` (t components
        with ``dof`` degrees of freedom; None: Gaussian)."""
        return SubtypeComponent(columns=self.columns, fill=self.fill, center=self.center, scale=self.scale,
                                gmm=gmm, subtypes=subtypes,
                                log_offset=self.log_offset, marginalise=self.marginalise, dof=dof)


def prepare(z: np.ndarray, feature_names: list[str], cfg: SubtypeConfig) -> Prepared:
    """Columns, log offsets, fill values (medians), centres and scales of the clustering features.

    A configured feature observed in fewer than ``cfg.min_observed_fraction`` of the training rows is left out
    (a cohort without LCN2 or NfL clusters on what it has); :func:`clustering_features` names the ones used.
    Centres and scales are the mean and SD of the observed (transformed) values.

    Raises
    ------
    ValueError
        When a configured feature is not an output of the feature transformer (names the feature), or no
        configured feature is observed often enough (names each with its observed fraction).
    """
    unknown = [f for f in (*cfg.features, *cfg.log_offsets) if f not in feature_names]
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
    log_offset = np.array([cfg.log_offsets.get(f, np.nan) for f in used], dtype=float)
    marginalise = cfg.missing == "marginalise"
    base = SubtypeComponent(columns=columns, fill=np.zeros(len(used)), center=np.zeros(len(used)),
                            scale=np.ones(len(used)), gmm=None, subtypes=[],
                            log_offset=log_offset, marginalise=True)
    x = base.standardise(z)  # transformed, NaN kept
    fill = np.nanmedian(x, axis=0)
    center = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale[~(scale > 0)] = 1.0
    return Prepared(columns=columns, fill=fill, center=center, scale=scale, log_offset=log_offset,
                    marginalise=marginalise)


def clustering_features(component: SubtypeComponent, feature_names: list[str]) -> list[str]:
    """Names of the derived features a fitted subtype model clusters on (``ln(x + c)`` where transformed)."""
    offsets = component.log_offset if component.log_offset is not None else np.full(len(component.columns), np.nan)
    return [feature_names[int(c)] if np.isnan(o) else f"ln({feature_names[int(c)]} + {o:g})"
            for c, o in zip(component.columns, offsets, strict=True)]


def _fit(x: np.ndarray, k: int, cfg: SubtypeConfig, seed: int, n_init: int) -> MixtureFit:
    return fit_mixture(x, k, seed=seed, n_init=n_init, reg_covar=cfg.reg_covar, dof=cfg.t_dof)


def _predict(fit: MixtureFit, x: np.ndarray) -> np.ndarray:
    gmm = fit.gmm
    return np.asarray(np.argmax(component_log_densities(x, gmm.weights_, gmm.means_, gmm.covariances_,
                                                        dof=fit.dof), axis=1))


def keep_populated(x: np.ndarray, chosen: MixtureFit, refitted: MixtureFit) -> tuple[MixtureFit, np.ndarray]:
    """The refitted mixture, unless it leaves a subtype that had training patients without any.

    A refit continues EM from the chosen mixture and can drain a small component; a subtype with no training
    patient would be named and served with an empty profile. Then the chosen mixture is kept (and a warning
    logged), so the served model always describes every subtype from patients.

    Parameters
    ----------
    x : ndarray of shape (n, F)
        The standardised clustering features of the training patients (NaN where missing).
    chosen, refitted : MixtureFit
        The mixture K was chosen with and its refit.

    Returns
    -------
    (MixtureFit, ndarray)
        The mixture kept and its subtype (component) of each training patient.
    """
    k = len(chosen.gmm.weights_)
    labels_before, labels_after = _predict(chosen, x), _predict(refitted, x)
    before, after = np.bincount(labels_before, minlength=k), np.bincount(labels_after, minlength=k)
    if np.any((before > 0) & (after == 0)):
        logger.warning("the subtype refit left %d of %d subtypes without training patients; the mixture K was "
                       "chosen with is kept", int(np.sum((before > 0) & (after == 0))), k)
        return chosen, labels_before
    return refitted, labels_after


def select_k(x: np.ndarray, cfg: SubtypeConfig) -> tuple[KSelection, MixtureFit]:
    """BIC and bootstrap stability for each K in [k_min, k_max]; the chosen K, the table and its mixture.

    The rule: among the K whose mean bootstrap ARI reaches ``cfg.min_stability_ari`` (all K when none does: then
    the most stable), the smallest K whose BIC is within ``cfg.bic_margin`` of the lowest BIC among them.
    """
    rng = np.random.default_rng(cfg.seed)
    rows = []
    fits: dict[int, MixtureFit] = {}
    for k in range(cfg.k_min, cfg.k_max + 1):
        reference = _fit(x, k, cfg, cfg.seed, cfg.n_init)
        fits[k] = reference
        ref_labels = _predict(reference, x)
        aris = []
        if k > 1:
            for _ in range(cfg.n_bootstrap):
                idx = rng.integers(0, len(x), size=len(x))
                boot = _fit(x[idx], k, cfg, int(rng.integers(0, 2**31 - 1)), 1)
                aris.append(adjusted_rand_score(ref_labels, _predict(boot, x)))
        stability = float(np.mean(aris)) if k > 1 else 1.0
        rows.append({"k": k, "bic": reference.bic, "stability_ari": stability})
    table = pd.DataFrame(rows)
    table["eligible"] = table["stability_ari"] >= cfg.min_stability_ari
    pool = table[table["eligible"]] if table["eligible"].any() else table[table["stability_ari"]
                                                                          == table["stability_ari"].max()]
    best_bic = float(pool["bic"].min())
    k = int(pool.loc[pool["bic"] <= best_bic + cfg.bic_margin, "k"].min())
    table["chosen"] = table["k"] == k
    return KSelection(table=table, k=k), fits[k]


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

    prepared = prepare(z, feature_names, cfg)
    x = _standardised(prepared, z)
    # BLAS threads on a few thousand 3-dimensional points only contend: one thread is ~10x faster on a busy machine.
    with threadpool_limits(1):
        selection, fitted = select_k(x, cfg)
        if cfg.refine_t_dof is None:
            labels = _predict(fitted, x)
        else:
            final_dof = None if cfg.refine_t_dof == "gaussian" else cfg.refine_t_dof
            fitted, labels = keep_populated(x, fitted, refine_mixture(x, fitted, dof=final_dof,
                                                                      reg_covar=cfg.reg_covar))
    subtypes = describe_subtypes(train, labels, selection.k)
    return prepared.component(fitted.gmm, subtypes, fitted.dof), selection


def _standardised(prepared: Prepared, z: np.ndarray) -> np.ndarray:
    """Clustering features as the fitted component will see them (NaN kept when marginalising)."""
    return prepared.component(None, []).standardise(z)


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


def prognosis_order(profiles: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order subtypes by a combined prognosis: decline and survival ranks together.

    Each subtype gets a decline rank (1 = slowest median observed ALSFRS-R slope) and a survival rank (1 = longest
    Kaplan-Meier median survival; "not reached" counts as longest). The combined prognosis is their mean (survival
    breaks ties); a subtype without a survival estimate is placed by its decline rank alone.

    Returns
    -------
    (order, decline_rank, survival_rank)
        ``order`` lists subtype positions from best to worst prognosis; ranks are 1-based (survival rank 0: no
        estimate).
    """
    slopes = np.array([p["slope_3_12_median_points_per_month"] for p in profiles], dtype=float)
    survival = np.array([p["km_median_survival_months"] for p in profiles], dtype=float)
    # slowest decline first (least negative slope; a missing slope ranks last), longest survival first
    decline_rank = np.empty(len(profiles), dtype=int)
    decline_rank[np.argsort(-np.nan_to_num(slopes, nan=-np.inf), kind="stable")] = np.arange(1, len(profiles) + 1)
    known = ~np.isnan(survival)
    survival_rank = np.zeros(len(profiles), dtype=int)
    if known.any():
        idx = np.flatnonzero(known)
        survival_rank[idx[np.argsort(-survival[idx], kind="stable")]] = np.arange(1, known.sum() + 1)
    # on a common 1..K scale: survival ranks among the subtypes with an estimate are stretched to K
    k = len(profiles)
    scaled = np.where(known, 1 + (survival_rank - 1) * (k - 1) / max(known.sum() - 1, 1), decline_rank)
    combined = (decline_rank + scaled) / 2.0
    order = np.lexsort((decline_rank, scaled, combined))
    return order, decline_rank, survival_rank


def _ordinal(rank: int, total: int, best: str, worst: str) -> str:
    if rank == 1:
        return best
    if rank == total:
        return worst
    suffix = {2: "nd", 3: "rd"}.get(rank, "th")
    return f"{rank}{suffix} {best}"


def _markers(p: dict[str, float], overall: dict[str, float]) -> list[str]:
    """Marker words relative to the whole training cohort, each with its factor or share."""
    markers = []
    nfl = p["nfl_blood_median_pg_ml"] / overall["nfl_blood_median_pg_ml"]
    if nfl > 1.3:
        markers.append(f"high NfL x{nfl:.1f}")
    elif nfl < 0.75:
        markers.append(f"low NfL x{nfl:.2f}")
    lcn2 = p["lcn2_blood_median_ng_ml"] / overall["lcn2_blood_median_ng_ml"]
    if lcn2 > 1.3:
        markers.append(f"raised LCN2 x{lcn2:.1f}")
    if p["bulbar_onset_share"] > max(1.5 * overall["bulbar_onset_share"], overall["bulbar_onset_share"] + 0.1):
        markers.append(f"bulbar-enriched {100 * p['bulbar_onset_share']:.0f} %")
    return markers


def describe_subtypes(train: pd.DataFrame, labels: np.ndarray, k: int) -> list[SubtypeInfo]:
    """Name and describe each subtype relative to the whole training cohort.

    The prognosis word ranks subtypes by decline and survival together (:func:`prognosis_order`). Where the two
    disagree -- a subtype named for a better prognosis declines faster than, or is outlived by, one named for a
    worse prognosis -- the name says so with both ranks (e.g. "decline 2nd slowest, survival shortest of 4"), so no
    subtype is silently called better than one it is outlived by. Marker words flag blood NfL and LCN2 medians
    more than 1.3 times (or NfL less than 0.75 times) the cohort's, with the factor, and an enriched bulbar-onset
    share, with the share. The list is in component order (label ``j`` = component ``j``).
    """
    overall = profile_of(train)
    profiles = [profile_of(train.iloc[np.flatnonzero(labels == j)]) for j in range(k)]
    order, decline_rank, survival_rank = prognosis_order(profiles)
    position = np.empty(k, dtype=int)
    position[order] = np.arange(k)
    slopes = np.array([p["slope_3_12_median_points_per_month"] for p in profiles], dtype=float)
    survival = np.array([p["km_median_survival_months"] for p in profiles], dtype=float)
    words = _prognosis_words(k)
    n_survival = int((survival_rank > 0).sum())
    subtypes = []
    for j in range(k):
        p = profiles[j]
        markers = _markers(p, overall)
        worse = position > position[j]  # subtypes named for a worse prognosis
        outlived = bool(np.any(worse & (np.nan_to_num(survival, nan=-np.inf) > survival[j])))
        slower_after = bool(np.any(worse & (np.nan_to_num(slopes, nan=-np.inf) > slopes[j])))
        better = position < position[j]
        outlives_better = bool(np.any(better & (np.nan_to_num(survival, nan=np.inf) < survival[j])))
        slower_than_better = bool(np.any(better & (np.nan_to_num(slopes, nan=np.inf) < slopes[j])))
        disagreement = outlived or slower_after or outlives_better or slower_than_better
        if disagreement:
            markers.append(f"decline {_ordinal(int(decline_rank[j]), k, 'slowest', 'fastest')}, survival "
                           + (_ordinal(int(survival_rank[j]), n_survival, 'longest', 'shortest')
                              if survival_rank[j] > 0 else "not estimated") + f" of {k}")
        name = words[position[j]] + (" (" + ", ".join(markers) + ")" if markers else "")
        description = (
            f"{int(p['n'])} training patients ({100 * p['n'] / overall['n']:.0f} %); median blood NfL "
            f"{p['nfl_blood_median_pg_ml']:.0f} pg/mL, LCN2 {p['lcn2_blood_median_ng_ml']:.0f} ng/mL "
            f"(cohort: {overall['nfl_blood_median_pg_ml']:.0f} pg/mL, {overall['lcn2_blood_median_ng_ml']:.0f} "
            f"ng/mL); bulbar onset {100 * p['bulbar_onset_share']:.0f} %; median observed ALSFRS-R slope "
            f"{p['slope_3_12_median_points_per_month']:.2f} points/month; Kaplan-Meier median survival "
            + _km_median_text(p["km_median_survival_months"])
            + ". Prognosis ranks decline and survival together"
            + ("; here they disagree: the name gives both ranks" if disagreement else "")
            + ". A data-driven stratum, not a validated clinical category"
            + ("; LCN2 differences are an unvalidated hypothesis." if any("LCN2" in m for m in markers) else ".")
        )
        subtypes.append(SubtypeInfo(label=int(j), name=name, description=description, profile=p))
    names = [s.name for s in subtypes]
    for s in subtypes:
        if names.count(s.name) > 1:
            s.name = f"{s.name} [{s.label}]"
    return subtypes


def _km_median_text(months: float) -> str:
    """The Kaplan-Meier median in words: months from the landmark, not reached, or not available."""
    if np.isnan(months):
        return "not available (no survival outcome)"
    if np.isinf(months):
        return "not reached"
    return f"{months:.0f} months from the landmark"


def _prognosis_words(k: int) -> list[str]:
    """Names from best to worst combined prognosis (decline and survival together)."""
    if k == 1:
        return ["all patients"]
    if k == 2:
        return ["better prognosis", "worse prognosis"]
    if k == 3:
        return ["best prognosis", "intermediate prognosis", "worst prognosis"]
    middle = [f"intermediate prognosis {i}" for i in range(1, k - 1)]
    return ["best prognosis", *middle, "worst prognosis"]


def agreement_with_truth(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, pd.DataFrame]:
    """Adjusted Rand index against planted labels, and the contingency table (rows = truth)."""
    table = pd.crosstab(pd.Series(truth, name="truth"), pd.Series(predicted, name="predicted"))
    return float(adjusted_rand_score(truth, predicted)), table


def match_labels(predicted: np.ndarray, truth: np.ndarray) -> dict[int, int]:
    """Hungarian matching of predicted to planted labels (for readable contingency tables)."""
    table = pd.crosstab(predicted, truth)
    rows, cols = linear_sum_assignment(-table.to_numpy())
    return {int(table.index[r]): int(table.columns[c]) for r, c in zip(rows, cols, strict=True)}
