"""The fitted model bundle: derived features -> subtype + slope quantiles + survival, in one object.

This is stage 2 of the architecture: it takes cohort baseline fields (exactly what a screening visit collects)
and returns every prediction. It lives in ``features`` (not ``training``) because serving must unpickle and run
it without importing the training code. Training builds the components; this module only predicts.

Two entry points share one array path, so they cannot drift apart:

* :meth:`StratifierModel.predict_frame` — a DataFrame of baseline fields (batch, pyfunc, CLI scoring);
* :meth:`StratifierModel.predict_records` — plain dicts, no pandas (nested result dicts; the HTTP service encodes
  the same shape straight from :meth:`StratifierModel.predict_arrays`, see ``serving/encode.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import special
from sklearn.mixture import GaussianMixture

from features import spec as S
from features.model.derive import BaselineFeatures
from features.model.forest import CompiledForest, UnsupportedBooster
from features.model.heldout import HeldOutSummary
from features.model.mixture import log_kernel, memberships
from features.project import MODEL_NAME

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

SURVIVAL_HORIZONS_MONTHS = (12, 24, 36)

ANSWER_DECIMALS = {"probability": 3, "slope": 3, "months": 1, "contribution": 3}
"""Decimals of each kind of number in an answer: probabilities (0-1) and slopes and contributions (ALSFRS-R
points/month) to 0.001, months to 0.1. More digits would claim a precision the models do not have."""


UNCERTAIN_MEMBERSHIP_MARGIN = 0.2
"""A subtype assignment is flagged ``uncertain`` when the two largest membership probabilities differ by less than
this: e.g. 0.49 / 0.51 is a tie, not a subtype. The value is a convention, not a calibrated test: 0.2 is the
smallest gap at which the leading subtype holds at least 0.6 of a two-way membership."""


def uncertain_assignments(proba: np.ndarray) -> np.ndarray:
    """True where the two largest membership probabilities of a row differ by less than
    :data:`UNCERTAIN_MEMBERSHIP_MARGIN` (a one-subtype model is never uncertain)."""
    if proba.shape[1] < 2:
        return np.zeros(len(proba), dtype=bool)
    top_two = np.sort(proba, axis=1)[:, -2:]
    return np.asarray((top_two[:, 1] - top_two[:, 0]) < UNCERTAIN_MEMBERSHIP_MARGIN)


def _round_summing_to_one(proba: np.ndarray, decimals: int) -> np.ndarray:
    """Round each row of membership probabilities to ``decimals`` so that the row still sums to 1 exactly (largest
    remainder: floor every value, then give the missing units to the largest remainders)."""
    scale = 10**decimals
    scaled = proba * scale
    floor = np.floor(scaled)
    missing = np.rint(scale - floor.sum(axis=1)).astype(int)
    order = np.argsort(-(scaled - floor), axis=1, kind="stable")
    bump = np.zeros_like(floor)
    ranks = np.argsort(order, axis=1, kind="stable")  # rank of each column's remainder within its row
    bump[ranks < missing[:, None]] = 1.0
    return np.asarray((floor + bump) / scale)


def rounded_for_answer(arrays: dict[str, Any]) -> dict[str, Any]:
    """A copy of :meth:`StratifierModel.predict_arrays` output with every number an answer shows rounded to
    :data:`ANSWER_DECIMALS` (the evaluation uses the unrounded arrays)."""
    d = ANSWER_DECIMALS
    out = dict(arrays)
    out["proba"] = _round_summing_to_one(arrays["proba"], d["probability"])
    out["surv"] = np.round(arrays["surv"], d["probability"])
    for key in ("p10", "p50", "p90"):
        out[key] = np.round(arrays[key], d["slope"])
    out["median"] = np.round(arrays["median"], d["months"])
    out["contrib"] = np.round(arrays["contrib"], d["contribution"])
    return out
RISK_GROUP_NAMES = ("lowest", "low", "intermediate", "high", "highest")
SMALL_BATCH_ROWS = 16
"""Batches up to this many rows walk the compiled forest (numpy); larger ones call XGBoost (its fixed per-call
cost is amortised there). Measured crossover on the default model: between 16 and 64 rows."""


@dataclass
class SubtypeInfo:
    """A subtype as shipped inside the model: its label, name, description and training profile."""

    label: int
    name: str
    description: str
    profile: dict[str, float] = field(default_factory=dict)


@dataclass
class SubtypeComponent:
    """Gaussian or multivariate t mixture on standardised derived features (missing values marginalised out;
    older models fill them with the training medians).

    Attributes
    ----------
    columns : ndarray of int
        Positions of the clustering features in the derived-feature matrix.
    fill, center, scale : ndarray
        Training medians (for missing values), means and standard deviations of those features.
    gmm : GaussianMixture
        The fitted mixture; component ``k`` is subtype ``subtypes[k]`` (whose label may differ from ``k`` when the
        labels were carried over from an earlier model).
    subtypes : list of SubtypeInfo
        One per component, in component order.
    log_offset : ndarray or None
        Per clustering feature, ``c`` where the feature enters as ``ln(value + c)`` (NaN: as is); None in older
        models.
    marginalise : bool
        True: a missing feature is marginalised out of each component's density (:mod:`features.model.mixture`);
        False (older models): it is filled with the training median ``fill``.
    dof : float or None
        Degrees of freedom of multivariate t components (``gmm``'s covariances are then their scale matrices);
        None (older models): Gaussian components.
    """

    columns: np.ndarray
    fill: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    gmm: GaussianMixture
    subtypes: list[SubtypeInfo]
    log_offset: np.ndarray | None = None
    marginalise: bool = False
    dof: float | None = None

    def standardise(self, z: np.ndarray) -> np.ndarray:
        """The clustering features of ``z``, transformed and standardised (NaN kept when marginalising)."""
        x = z[:, self.columns]
        if self.log_offset is not None:
            logged = ~np.isnan(self.log_offset)
            x = x.copy()
            # ln(value + c) with the argument kept positive (a pre-slope is >= 0 for valid ALSFRS-R totals)
            x[:, logged] = np.log(np.maximum(x[:, logged] + self.log_offset[logged], 1e-6))
        if not self.marginalise:
            x = np.where(np.isnan(x), self.fill, x)
        return (x - self.center) / self.scale

    def probabilities(self, z: np.ndarray) -> np.ndarray:
        """Membership probabilities, shape (n, K); rows sum to 1.

        Rows with every clustering feature are computed directly from the fitted mixture's means, weights and
        precision Cholesky factors: for Gaussian components the same numbers as ``gmm.predict_proba`` (a test
        checks it) without scikit-learn's per-call validation, which costs more than the arithmetic for one
        candidate. Rows missing a feature (when marginalising) are scored on the features they have
        (:mod:`features.model.mixture`). t components (``dof`` set) are scored with the t density throughout.
        """
        x = self.standardise(z)
        gmm = self.gmm
        incomplete = np.isnan(x).any(axis=1)
        if incomplete.any():  # only when marginalising: the filled path never leaves NaN
            out = np.empty((len(x), len(gmm.weights_)))
            out[incomplete] = memberships(x[incomplete], gmm.weights_, gmm.means_, gmm.covariances_,
                                          dof=self.dof)
            if (~incomplete).any():
                out[~incomplete] = self._complete_probabilities(x[~incomplete])
            return out
        return self._complete_probabilities(x)

    def _complete_probabilities(self, x: np.ndarray) -> np.ndarray:
        """Membership probabilities of rows with every clustering feature present (standardised)."""
        gmm = self.gmm
        if gmm.covariance_type != "full":
            return np.asarray(gmm.predict_proba(x))
        chol = gmm.precisions_cholesky_  # (K, F, F)
        # log N(x | mean_k, cov_k) = -0.5 * (F ln 2 pi + |(x - mean_k) chol_k|^2) + ln det chol_k, for all k at once
        y = np.matmul(x[None, :, :] - gmm.means_[:, None, :], chol)  # (K, n, F)
        log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        if self.dof is not None:  # t components (older pickles read the class default, None)
            delta = (y * y).sum(axis=2).T  # (n, K)
            log_prob = (log_det + np.log(gmm.weights_))[None, :] + log_kernel(delta, x.shape[1], self.dof)
        else:  # kept in this order: legacy Gaussian models score bit for bit as when they were trained
            const = -0.5 * x.shape[1] * np.log(2 * np.pi) + log_det + np.log(gmm.weights_)
            log_prob = (const[:, None] - 0.5 * (y * y).sum(axis=2)).T
        log_prob -= log_prob.max(axis=1, keepdims=True)
        prob = np.exp(log_prob)
        return np.asarray(prob / prob.sum(axis=1, keepdims=True))


@dataclass
class SlopeComponent:
    """XGBoost regression of the ALSFRS-R slope (points/month): a point model and a quantile tails model.

    ``median`` is the point model (the attribute keeps its first name so that pickles load): it predicts the
    conditional mean (``point == "mean"``, squared error) or median (``point == "median"``, quantile 0.5) and
    carries the explanations; ``tails`` predicts the (lo, hi) quantiles.
    ``margin`` (points/month) widens (or narrows, if negative) the raw interval symmetrically: the split-conformal
    correction learned from out-of-fold training residuals (conformalised quantile regression, Romano et al. 2019),
    so the interval's coverage is calibrated rather than assumed.
    """

    median: xgb.Booster
    tails: xgb.Booster
    quantiles: tuple[float, float, float]
    margin: float = 0.0
    point: str = "median"
    group_cuts: np.ndarray | None = None
    """Boundaries (points/month, on the point prediction) of the predicted-rate groups calibrated separately."""
    group_margins: np.ndarray | None = None
    """Shape (groups, 2): the (lower, upper) conformal correction per group; None: the symmetric ``margin``."""

    def predict(self, dm: xgb.DMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p10, median, p90) in points/month."""
        p10, p50, p90, _ = self.predict_with_contributions(dm)
        return p10, p50, p90

    def predict_with_contributions(self, dm: xgb.DMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(p10, median, p90, contributions): the interval and the median's per-feature contributions.

        The median is the sum of its contributions (bias included), which is what the booster predicts (the
        quantile objective has an identity link), so one pass through the median trees gives both.
        """
        contrib = self.contributions(dm)
        p50 = contrib.sum(axis=1)
        tails = np.asarray(self.tails.predict(dm, validate_features=False), dtype=float).reshape(-1, 2)
        lo, hi = self.interval(p50, tails)
        return lo, p50, hi, contrib

    def interval(self, p50: np.ndarray, tails: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(p10, p90) from the point and the tails model's two quantiles, with the conformal corrections applied.

        With per-group corrections (Mondrian, by predicted rate), each row takes its group's lower and upper
        margin; otherwise the one symmetric ``margin``.
        """
        if self.group_margins is not None and self.group_cuts is not None:
            group = np.searchsorted(self.group_cuts, p50, side="right")
            below, above = self.group_margins[group, 0], self.group_margins[group, 1]
        else:
            below = above = np.full(len(p50), self.margin)
        # Independently grown quantile trees can cross; the interval always contains the point.
        lo = np.minimum(tails.min(axis=1), p50) - below
        hi = np.maximum(tails.max(axis=1), p50) + above
        return np.minimum(lo, p50), np.maximum(hi, p50)

    def contributions(self, dm: xgb.DMatrix) -> np.ndarray:
        """Per-feature contributions (points/month) to the median prediction; the last column is the bias.

        Path-based (Saabas) attributions, XGBoost's ``approx_contribs``: like SHAP values they add up exactly to
        the prediction, but they cost about a sixth of exact TreeSHAP, which keeps batch scoring fast.
        """
        return np.asarray(self.median.predict(dm, pred_contribs=True, approx_contribs=True, validate_features=False),
                          dtype=float)


@dataclass
class SurvivalComponent:
    """XGBoost accelerated-failure-time model: log T = mu(x) + sigma * eps, with eps ~ ``distribution``.

    Survival in months from the model's landmark: S(t | x) = 1 - F((ln t - mu) / sigma); the median is exp(mu).
    ``mu = mu_intercept + mu_slope * margin``: the booster's margin recalibrated, with ``sigma``, by maximum
    likelihood on out-of-fold margins (the booster itself is trained with a fixed scale, which set the curves'
    spread wrongly). Risk groups cut -mu at training-set quantiles (group 1 = lowest risk).
    """

    booster: xgb.Booster
    distribution: str
    sigma: float
    risk_cutpoints: np.ndarray
    mu_intercept: float = 0.0
    mu_slope: float = 1.0

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        """mu (log months) from the booster's raw margin."""
        return self.mu_intercept + self.mu_slope * margin

    def mu(self, dm: xgb.DMatrix) -> np.ndarray:
        return self.calibrate(np.asarray(self.booster.predict(dm, output_margin=True, validate_features=False),
                                         dtype=float).reshape(-1))

    def survival_at(self, mu: np.ndarray, months: Sequence[float] | np.ndarray) -> np.ndarray:
        """Survival probabilities, shape (n, len(months)); non-increasing in time by construction."""
        t = np.asarray(months, dtype=float)
        z = (np.log(np.maximum(t, 1e-9))[None, :] - mu[:, None]) / self.sigma
        return 1.0 - _cdf(self.distribution, z)

    def risk_group(self, mu: np.ndarray) -> np.ndarray:
        """1 (lowest risk) .. len(cutpoints) + 1 (highest risk)."""
        return np.searchsorted(self.risk_cutpoints, -mu, side="right") + 1


def _cdf(distribution: str, z: np.ndarray) -> np.ndarray:
    if distribution == "normal":
        return np.asarray(special.ndtr(z))
    if distribution == "logistic":
        return np.asarray(special.expit(z))
    if distribution == "extreme":
        return 1.0 - np.exp(-np.exp(z))
    raise ValueError(f"unknown AFT distribution {distribution!r}")


@dataclass
class StratifierModel:
    """The whole fitted model: ``features`` -> (``subtype``, ``slope``, ``survival``) plus metadata.

    ``metadata`` holds the run id, training-data hash, spec hash, ALSFRS scale and key metrics. ``model_version``
    is the registry version; it is not known when the model is logged, so loaders set it (see
    :func:`features.model.pyfunc.load_stratifier`).
    """

    features: BaselineFeatures
    subtype: SubtypeComponent
    slope: SlopeComponent
    survival: SurvivalComponent | None
    """None when the training cohort had no survival outcome (e.g. DREAM-2012): answers then say so."""
    metadata: dict[str, Any] = field(default_factory=dict)
    top_features: int = 5
    model_version: str = "unregistered"
    held_out: HeldOutSummary | None = None
    """Aggregate summary of the training run's held-out patients (trial planning); None in bundles from before it
    (a dataclass default, so older pickles still load and say they have none)."""

    # ------------------------------------------------------------------ inputs
    @property
    def landmark(self) -> S.Landmark:
        """The prediction time the model was trained at; models from before landmarks used the lead-in windows."""
        return S.landmark(str(self.metadata.get("landmark", "lead-in")))

    @property
    def time_origin(self) -> str:
        """The time origin of every survival figure, in words (e.g. "months from the scoring visit (day 0)")."""
        return self.landmark.time_origin

    @property
    def feature_names(self) -> list[str]:
        """Names of the derived features (the explanation's vocabulary); computed once per loaded model."""
        if "_feature_names" not in self.__dict__:
            self.__dict__["_feature_names"] = [str(n) for n in self.features.get_feature_names_out()]
        names: list[str] = self.__dict__["_feature_names"]
        return names

    def _frame_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Baseline columns in spec order; optional columns absent from ``frame`` become explicit missing.

        Raises
        ------
        ValueError
            When a required field is missing, or a field the model's landmark cannot know holds values (a
            lead-in slope sent to a screening model would be silently ignored otherwise).
        """
        missing_required = [c for c in S.REQUIRED_FOR_SCORING if c not in frame.columns]
        if missing_required:
            raise ValueError(f"{len(missing_required)} required fields are missing from data: {missing_required}")
        usable = set(self.landmark.names)
        unusable = [c for c in S.BASELINE_NAMES if c not in usable and c in frame.columns and frame[c].notna().any()]
        if unusable:
            raise ValueError(f"fields not usable at the {self.landmark.name} landmark hold values: {unusable} "
                             f"(the model predicts {self.time_origin}; drop these columns)")
        out = frame.reindex(columns=list(S.BASELINE_NAMES))
        return out

    # ------------------------------------------------------------------ predictions
    def _compiled_forest(self) -> CompiledForest | None:
        """The three boosters compiled for small batches (built on first use; None when not compilable)."""
        if "_forest" not in self.__dict__:
            try:
                boosters = [self.slope.median, self.slope.tails]
                if self.survival is not None:
                    boosters.append(self.survival.booster)
                self.__dict__["_forest"] = CompiledForest.from_boosters(boosters, explain=0)
            except UnsupportedBooster as exc:
                logger.warning("small-batch path disabled, XGBoost predicts every batch: %s", exc)
                self.__dict__["_forest"] = None
        forest: CompiledForest | None = self.__dict__["_forest"]
        return forest

    def set_predict_threads(self, threads: int) -> None:
        """Threads XGBoost may use for batches larger than :data:`SMALL_BATCH_ROWS` (default 1).

        A serving setting, not part of the model: it is never pickled, and the boosters themselves stay
        single-threaded (the count is applied around each large-batch call).
        """
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.__dict__["_threads"] = threads

    def __getstate__(self) -> dict[str, Any]:
        # Caches and the serving thread count are runtime state: never pickled with the model.
        state = dict(self.__dict__)
        for runtime in ("_forest", "_feature_names", "_threads"):
            state.pop(runtime, None)
        return state

    def _xgboost_arrays(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(p10, p50, p90, contributions with bias, mu) from the boosters, with the serving thread count."""
        threads = int(self.__dict__.get("_threads", 1))
        boosters = [self.slope.median, self.slope.tails]
        if self.survival is not None:
            boosters.append(self.survival.booster)
        if threads != 1:
            for booster in boosters:
                booster.set_param({"nthread": threads})
        try:
            # One thread unless the server asked for more: building a DMatrix for a few rows with an OpenMP team
            # costs 10+ ms on a busy machine, and small batches never reach here anyway.
            dm = xgb.DMatrix(z, missing=np.nan, nthread=threads)
            p10, p50, p90, contrib_bias = self.slope.predict_with_contributions(dm)
            mu = self.survival.mu(dm) if self.survival is not None else np.full(len(p50), np.nan)
            return p10, p50, p90, contrib_bias, mu
        finally:
            if threads != 1:
                for booster in boosters:
                    booster.set_param({"nthread": 1})

    def predict_arrays(self, z: np.ndarray) -> dict[str, Any]:
        """All predictions for a derived-feature matrix ``z`` (rows = candidates)."""
        proba = self.subtype.probabilities(z)
        labels = np.array([s.label for s in self.subtype.subtypes])
        chosen = labels[np.argmax(proba, axis=1)]
        uncertain = uncertain_assignments(proba)
        forest = self._compiled_forest() if z.shape[0] <= SMALL_BATCH_ROWS else None
        if forest is not None:
            margins, contrib_bias = forest.predict(z)
            assert contrib_bias is not None
            p50 = margins[:, 0]
            mu = self.survival.calibrate(margins[:, 3]) if self.survival is not None else np.full(len(p50), np.nan)
            p10, p90 = self.slope.interval(p50, margins[:, 1:3])
        else:
            p10, p50, p90, contrib_bias, mu = self._xgboost_arrays(z)
        if self.survival is not None:
            surv = self.survival.survival_at(mu, SURVIVAL_HORIZONS_MONTHS)
            risk_group = self.survival.risk_group(mu)
        else:
            surv = np.full((len(p50), len(SURVIVAL_HORIZONS_MONTHS)), np.nan)
            risk_group = np.zeros(len(p50), dtype=np.intp)  # 0: no risk group (no survival model)
        contrib = contrib_bias[:, :-1]
        k = min(self.top_features, contrib.shape[1])
        # An explanation names only features the candidate supplied: a missing input still routes the trees down
        # their default branches, but "bmi" is no reason to give someone who sent no weight (ranked last instead).
        weight = np.where(np.isnan(z), -1.0, np.abs(contrib))
        top = np.argsort(-weight, axis=1, kind="stable")[:, :k]
        return {
            "proba": proba, "labels": labels, "chosen": chosen, "uncertain": uncertain,
            "p10": p10, "p50": p50, "p90": p90,
            "mu": mu, "surv": surv, "median": np.exp(mu), "risk_group": risk_group,
            "contrib": contrib, "top": top,
        }

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predict for a DataFrame of baseline fields: one output row per input row, in input order.

        Returns
        -------
        DataFrame
            ``subtype_label``, ``subtype_name``, ``subtype_probability_<label>`` (one per subtype),
            ``slope_point`` (the mean or median, see ``slope.point``)/``slope_p10``/``slope_p90`` (ALSFRS-R
            points/month), ``survival_probability_<t>m``
            for t = 12, 24, 36 months, ``median_survival_months`` and ``survival_time_origin`` (the time origin in
            words: months from the model's landmark), ``risk_group`` (1 = lowest risk), ``explanation`` (JSON list
            of the top features and their contributions to the median slope, points/month) and ``model_version``.
        """
        x = self._frame_input(frame)
        z = self.features.transform(x)
        arrays = self.predict_arrays(z)
        names = self.feature_names
        out = pd.DataFrame(index=frame.index)
        out["subtype_label"] = arrays["chosen"].astype(int)
        name_of = {s.label: s.name for s in self.subtype.subtypes}
        out["subtype_name"] = [name_of[int(lbl)] for lbl in arrays["chosen"]]
        for j, lbl in enumerate(arrays["labels"]):
            out[f"subtype_probability_{int(lbl)}"] = arrays["proba"][:, j]
        out["slope_point"] = arrays["p50"]
        out["slope_p10"] = arrays["p10"]
        out["slope_p90"] = arrays["p90"]
        for j, t in enumerate(SURVIVAL_HORIZONS_MONTHS):
            out[f"survival_probability_{t}m"] = arrays["surv"][:, j]
        out["median_survival_months"] = arrays["median"]
        out["survival_time_origin"] = self.time_origin if self.survival is not None else None
        # 1 = lowest risk; missing (nullable integer) when the model has no survival part
        out["risk_group"] = (arrays["risk_group"].astype(int) if self.survival is not None
                             else pd.array([pd.NA] * len(out), dtype="Int64"))
        out["explanation"] = [
            json.dumps([{"feature": names[c], "contribution": round(float(arrays["contrib"][i, c]), 6)}
                        for c in arrays["top"][i]])
            for i in range(len(out))
        ]
        out["model_version"] = self.model_version
        return out

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The same predictions as :meth:`predict_frame`, from plain dicts, no DataFrame.

        Returns one nested dict per record, in the service's response shape (the service itself encodes that shape
        from :meth:`predict_arrays` without building the dicts; a test checks the two agree byte for byte).
        """
        return self._results(self.predict_arrays(self.features.transform_records(records)))

    def _results(self, arrays: dict[str, Any]) -> list[dict[str, Any]]:
        """Nested result dicts (the service's response shape) from :meth:`predict_arrays` output."""
        arrays = rounded_for_answer(arrays)
        names = self.feature_names
        name_of = {s.label: s.name for s in self.subtype.subtypes}
        version = {"name": self.metadata.get("model_name", MODEL_NAME), "version": self.model_version,
                   "run_id": self.metadata.get("run_id")}
        # Convert whole arrays to Python lists once: per-element float() calls dominate for large batches.
        labels = [str(int(lbl)) for lbl in arrays["labels"]]
        chosen = arrays["chosen"].astype(int).tolist()
        uncertain = [bool(u) for u in arrays["uncertain"]]
        proba = arrays["proba"].tolist()
        p10, p50, p90 = arrays["p10"].tolist(), arrays["p50"].tolist(), arrays["p90"].tolist()
        surv = arrays["surv"].tolist()
        median = arrays["median"].tolist()
        risk = arrays["risk_group"].astype(int).tolist()
        top_names = np.asarray(names, dtype=object)[arrays["top"]].tolist()
        top_contrib = np.take_along_axis(arrays["contrib"], arrays["top"], axis=1).tolist()
        horizons = [str(t) for t in SURVIVAL_HORIZONS_MONTHS]
        unit = "ALSFRS-R points/month"
        origin = self.time_origin
        kind = self.slope.point
        has_survival = self.survival is not None
        n_groups = len(self.survival.risk_cutpoints) + 1 if self.survival is not None else 0
        meaning = f"1 = lowest risk, {n_groups} = highest risk"
        # One comprehension over zipped columns: no per-row indexing (this loop is most of a large batch's cost).
        return [
            {
                "subtype": {"label": c, "name": name_of[c], "uncertain": un,
                            "probabilities": dict(zip(labels, pr, strict=True))},
                "slope": {"point": mid, "point_kind": kind, "p10": lo, "p90": hi, "unit": unit},
                "survival": {"probability_at_months": dict(zip(horizons, sv, strict=True)), "median_months": md,
                             "risk_group": rg, "risk_groups": n_groups, "risk_group_meaning": meaning,
                             "time_origin": origin} if has_survival else None,
                "explanation": [{"feature": f, "contribution": v} for f, v in zip(tn, tc, strict=True)],
                "model": version,
            }
            for c, un, pr, mid, lo, hi, sv, md, rg, tn, tc in zip(chosen, uncertain, proba, p50, p10, p90, surv,
                                                                  median, risk, top_names, top_contrib, strict=True)
        ]

    def subtype_table(self) -> pd.DataFrame:
        """Name, description and profile of every subtype (what the model card and metadata endpoint show)."""
        rows = [{"label": s.label, "name": s.name, "description": s.description, **s.profile}
                for s in self.subtype.subtypes]
        return pd.DataFrame(rows)
