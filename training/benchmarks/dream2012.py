"""DREAM-2012 external benchmark: the served model's training job on 1,822 real PRO-ACT patients, scored on the 625.

The DREAM-Phil Bowen ALS Prediction Prize4Life (Küffner et al., Nat Biotechnol 2015;33:51-57) asks for the ALSFRS
slope over months 3-12 (points/month, legacy 0-40 scale) from the first 3 months of trial data, scored by RMSD and
Pearson r on 625 validation patients. The benchmark is a thin wrapper of the training job, never a model of its own
(``docs/benchmarks.md``):

1. Read the feature table with the project's importer (:func:`features.sources.dream2012.load_dream2012`): cohort
   fields, not DREAM's 369 columns, with DREAM's official split (1,197 training, 625 test patients).
2. Build the training configuration exactly as ``alsstrat train --source dream2012`` does (the shipped default
   configuration with ``data.source = dream2012``) and run the training job's
   :func:`training.fit.train.fit_and_evaluate` on that cohort: it tunes, fits and evaluates the served bundle on the
   official split (the cohort's ``split`` column), seeing the training patients only until the final scoring.
3. Score the 625 test patients with the fitted bundle's own point prediction (``slope.point``, the conditional mean
   in the shipped configuration) and interval, so the benchmark's RMSD and r are the training job's
   ``test_slope_rmse`` and ``test_slope_pearson_r`` (checked, to :data:`SAME_NUMBER_TOLERANCE`). Baselines (training
   mean, ΔFRS pre-slope linear regression, the organisers' published predictions) are scored on the same patients.

The organisers' predictions are keyed by DREAM subject ids that the feature table does not carry. They are joined
through the gold standard (subject id -> observed slope) by matching the test rows' observed slope to the gold
values (:func:`match_by_value`). Rows that share an observed value (ties, e.g. 39 patients with slope 0) cannot be
told apart, so within a tie the pairing is arbitrary. Every number reported here is invariant to that pairing:
RMSD and Pearson r depend on per-group sums only, and confidence intervals resample whole tie groups.

Nothing is written to the repository; the data are read in place.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import Field

from features import spec as S
from features.cohort.table import Cohort
from features.model.bundle import StratifierModel
from features.project import repository_root
from features.sources.dream2012 import DREAM_FILE, SPLIT_COLUMN, load_dream2012, resolve_dream_file
from training.config import Strict, TrainConfig, load_config
from training.data.load import TrainingData
from training.evaluation import bootstrap as B
from training.evaluation import metrics as E
from training.evaluation.scoring import booster_importance, predict_cohort
from training.fit.baselines import SlopeBaseline
from training.fit.train import fit_and_evaluate

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

EXPERIMENT = "benchmark-dream2012"
"""MLflow experiment of every benchmark run."""

SOURCE = "dream2012"
"""The training job's ``data.source`` for this benchmark."""

GOLD_FILE = "goldstandard_625.csv"
"""DREAM subject id, observed slope of the 625 validation patients (official gold standard, no header)."""

ORGANISERS_FILE = "organisers_baseline_625.csv"
"""DREAM subject id, the organisers' baseline prediction (no header)."""

N_TRAIN, N_TEST = 1197, 625
"""Official split sizes; any other count means a different file and is refused."""

TIE_TOLERANCE = 1e-9
"""Observed slopes closer than this (points/month) count as one value when joining by value. The two files agree to
5e-15 (different float formatting); distinct slopes in the data differ by far more than 1e-9."""

SAME_NUMBER_TOLERANCE = 1e-9
"""Largest allowed difference (points/month for RMSD; unitless for r) between the benchmark's score and the training
job's own test metric. Both come from the same bundle on the same patients, so only float round-off may differ."""

TARGET_RMSD, TARGET_PEARSON_R = 0.515, 0.43
"""The issue's target on the 625 test patients (organisers' baseline 0.537 / 0.382)."""

Stage = Callable[[str], None]
TrialRecord = dict[str, Any]


@dataclass(frozen=True)
class Reference:
    """A published score on the same 625 patients (not recomputed here)."""

    predictor: str
    rmsd: float | None
    pearson_r: float | None
    source: str


PUBLISHED: dict[str, Reference] = {
    "constant_training_mean": Reference("constant = training mean", 0.566, None, "data README"),
    "pre_slope_linear_regression": Reference("linear regression on pre-slope", 0.551, 0.238, "data README"),
    "organisers_baseline": Reference("organisers' baseline", 0.537, 0.382, "data README; dreamtools"),
    "gradient_boosting_369": Reference(
        "gradient boosting (400 trees, depth 3), all 369 features", 0.513, 0.430, "data README"
    ),
    "random_forest_369": Reference(
        "random forest (500 trees, min leaf 5), all 369 features", 0.506, 0.452, "data README"
    ),
    "bart_tang_2019": Reference(
        "BART, Tang et al. 2019", None, 0.545, "Neuroinformatics 2019;17:407-421 (reported, not reproduced)"
    ),
}
"""Reference scores from ``../shared/data/dream2012/README.md``. The first three are recomputed here too."""


class BenchmarkConfig(Strict):
    """The benchmark's own settings: only how its uncertainty is measured; logged with the run.

    The model, its tuning and its split are the training job's (:func:`training_config`), never set here.
    """

    n_bootstrap: int = Field(default=1000, ge=100, description="Resamples of whole tie groups for the 95 % intervals.")
    seed: int = Field(default=42, description="Seed of the bootstrap draws.")


def training_config(table_file: str | Path) -> TrainConfig:
    """The configuration ``alsstrat train --source dream2012 --input <table_file>`` runs.

    The shipped default configuration with ``data.source`` and ``data.input`` overridden, re-validated as the
    command re-validates its overrides.

    Parameters
    ----------
    table_file : path
        The DREAM-2012 feature table (``als_dream2012.csv.gz``).

    Returns
    -------
    TrainConfig
    """
    cfg = load_config(None)
    data = cfg.data.model_copy(update={"source": SOURCE, "input": str(table_file)})
    return TrainConfig.model_validate(cfg.model_copy(update={"data": data}).model_dump())


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------
def repo_root() -> Path:
    """The checkout this module runs from (the folder holding ``pyproject.toml`` above ``training/``)."""
    return repository_root()


def default_input() -> Path:
    """``../shared/data/dream2012`` beside the repository root (independent of the working directory)."""
    return repo_root().parent / "shared" / "data" / "dream2012"


class BenchmarkInputError(ValueError):
    """The benchmark's input files are missing or inconsistent (a user-facing problem: exit code 2)."""


@dataclass(frozen=True)
class OrganisersMatch:
    """The organisers' predictions aligned to the test rows, and how the value join went.

    Attributes
    ----------
    prediction : ndarray
        The organisers' prediction per test row (points/month), in test-row order.
    group : ndarray of int
        Tie group per test row: rows with the same observed slope share a group (singletons otherwise).
    n_groups, n_tied_rows, largest_tie : int
        Number of distinct observed values, rows sharing their value with another row, size of the largest tie.
    max_abs_difference : float
        Largest |test value - gold value| over the matched pairs (points/month).
    """

    prediction: np.ndarray
    group: np.ndarray
    n_groups: int
    n_tied_rows: int
    largest_tie: int
    max_abs_difference: float


@dataclass
class DreamData:
    """The cohort split into training and test rows, the aligned organisers' baseline and the input hashes.

    ``train`` and ``test`` keep the cohort's row order, the order in which the training job's official split takes
    them; ``table_file`` is the feature table the cohort was read from (the training job's ``data.input``).
    """

    cohort: Cohort
    train: pd.DataFrame
    test: pd.DataFrame
    organisers: OrganisersMatch
    file_hashes: dict[str, str]
    table_file: Path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_keyed(path: Path, what: str) -> pd.Series:
    """A headerless two-column CSV (DREAM subject id, value) as a Series indexed by id; ids must be unique."""
    if not path.is_file():
        raise BenchmarkInputError(f"{what} not found: {path}")
    frame = pd.read_csv(path, header=None, names=["subject", "value"], dtype={"subject": str, "value": float})
    frame["subject"] = frame["subject"].str.strip()
    if frame["subject"].duplicated().any() or frame["value"].isna().any():
        raise BenchmarkInputError(f"{path.name}: expected unique subject ids and a value in every row")
    return frame.set_index("subject")["value"]


def match_by_value(observed: np.ndarray, gold: pd.Series, organisers: pd.Series) -> OrganisersMatch:
    """Align the organisers' predictions (keyed by subject id) to rows that carry only the observed slope.

    The gold standard links subject ids to observed slopes. Both lists of slopes are sorted and paired in order;
    they must agree value for value (as multisets, to :data:`TIE_TOLERANCE`). Rows whose observed values are equal
    form a tie group; within it, which organisers' prediction goes to which row is arbitrary, and the caller must
    only compute quantities that are invariant to it (sums over a group, or resampling whole groups).

    Parameters
    ----------
    observed : ndarray of shape (n,)
        Observed slope of each test row (points/month).
    gold : Series
        Observed slope by subject id (the gold standard).
    organisers : Series
        The organisers' prediction by subject id.

    Returns
    -------
    OrganisersMatch

    Raises
    ------
    BenchmarkInputError
        When the id sets differ, the counts differ, or the observed values do not match the gold standard.
    """
    if set(gold.index) != set(organisers.index):
        raise BenchmarkInputError("the gold standard and the organisers' baseline list different subject ids")
    if len(observed) != len(gold):
        raise BenchmarkInputError(f"{len(observed)} test rows but {len(gold)} gold-standard subjects")
    pred = organisers.reindex(gold.index).to_numpy(dtype=float)
    gold_values = gold.to_numpy(dtype=float)
    row_order = np.argsort(observed, kind="stable")
    gold_order = np.argsort(gold_values, kind="stable")
    row_sorted, gold_sorted = observed[row_order], gold_values[gold_order]
    diff = np.abs(row_sorted - gold_sorted)
    if not np.all(diff <= TIE_TOLERANCE):
        k = int(np.argmax(diff))
        raise BenchmarkInputError(
            f"the test rows' observed slopes do not match the gold standard (sorted position "
            f"{k}: {row_sorted[k]!r} vs {gold_sorted[k]!r})"
        )
    new_group = np.diff(row_sorted) > TIE_TOLERANCE
    if not np.array_equal(new_group, np.diff(gold_sorted) > TIE_TOLERANCE):
        raise BenchmarkInputError("tie groups differ between the test rows and the gold standard")
    sorted_group = np.concatenate([[0], np.cumsum(new_group)])
    prediction = np.empty(len(observed))
    group = np.empty(len(observed), dtype=np.intp)
    prediction[row_order] = pred[gold_order]
    group[row_order] = sorted_group
    sizes = np.bincount(group)
    return OrganisersMatch(
        prediction=prediction,
        group=group,
        n_groups=int(sizes.size),
        n_tied_rows=int(sizes[sizes > 1].sum()),
        largest_tie=int(sizes.max()),
        max_abs_difference=float(diff.max()),
    )


def load_benchmark_data(path: str | Path) -> DreamData:
    """Read the DREAM-2012 folder: the cohort (via the importer), the official split and the organisers' baseline.

    Parameters
    ----------
    path : path
        The DREAM-2012 folder, or the ``als_dream2012.csv.gz`` file inside it (the gold standard and the
        organisers' baseline are read from the same folder).

    Raises
    ------
    BenchmarkInputError
        For a missing file, a split of unexpected size, or a gold standard that does not match the test rows.
    features.errors.FeatureDataError
        For a feature table the importer refuses (every violation listed).
    """
    path = Path(path)
    if not path.exists():
        raise BenchmarkInputError(
            f"DREAM-2012 data not found at {path}: pass --input with the folder holding "
            f"{DREAM_FILE}, {GOLD_FILE} and {ORGANISERS_FILE}"
        )
    table_file = resolve_dream_file(path)
    folder = table_file.parent
    gold = _read_keyed(folder / GOLD_FILE, "gold standard")
    organisers = _read_keyed(folder / ORGANISERS_FILE, "organisers' baseline")
    cohort = load_dream2012(table_file)
    table = cohort.table
    is_test = (table[SPLIT_COLUMN] == "test").to_numpy()
    train = table.loc[~is_test].reset_index(drop=True)
    test = table.loc[is_test].reset_index(drop=True)
    if (len(train), len(test)) != (N_TRAIN, N_TEST):
        raise BenchmarkInputError(
            f"expected the official split of {N_TRAIN} training and {N_TEST} test patients, "
            f"got {len(train)} and {len(test)}"
        )
    observed = test["alsfrs_r_slope_3_12"].to_numpy(dtype=float)
    match = match_by_value(observed, gold, organisers)
    hashes = {name: _sha256(folder / name) for name in (table_file.name, GOLD_FILE, ORGANISERS_FILE)}
    return DreamData(cohort=cohort, train=train, test=test, organisers=match, file_hashes=hashes,
                     table_file=table_file)


# ----------------------------------------------------------------------------------------------------------------
# The model: the training job's, scored on the test patients
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class BenchmarkResult:
    """Everything the benchmark measured (printed by ``alsstrat benchmark dream2012 --json``).

    Slopes, RMSDs and interval widths are in ALSFRS points/month (legacy 0-40 scale).

    Attributes
    ----------
    rmsd, pearson_r : float
        The served bundle's point prediction on the test patients (the training job's ``test_slope_rmse`` and
        ``test_slope_pearson_r``).
    ci : dict
        95 % bootstrap interval (low, high) over tie groups for ``rmsd``, ``pearson_r`` and the paired differences
        ``rmsd_minus_organisers``, ``pearson_r_minus_organisers``.
    baselines : dict
        ``{name: {"rmsd": ..., "pearson_r": ...}}`` for the training mean, the pre-slope regression and the
        organisers' baseline (r is None for the constant).
    interval : dict
        The bundle's interval on the test patients: ``nominal`` coverage (share), ``coverage`` (share of test
        patients inside), ``width`` (mean, points/month) and ``conformal_margin`` (points/month).
    cv : dict
        The training job's tuning: ``rmse`` (pooled out-of-fold RMSE of the chosen parameters inside the training
        patients, NaN without tuning), ``chosen_trial``, ``n_trials`` and ``folds``.
    params : dict
        The slope booster parameters the training job chose.
    point : str
        The served point prediction (``slope.point``: ``mean`` or ``median``).
    trials : list of dict
        Every tuning trial of the training job: model, number, parameters and CV value.
    importance : DataFrame
        Per feature of the served point model: mean |contribution| on the training patients (points/month, the
        path-based attributions the service explains with) and share of split gain.
    counts : dict
        Patients, features and the tie structure of the organisers' join.
    config : BenchmarkConfig
        The bootstrap settings.
    train_config : TrainConfig
        The training job's configuration (what ``alsstrat train --source dream2012`` runs).
    job_metrics : dict
        The training job's own test metrics (``test_slope_rmse`` ...), from :func:`training.fit.train.fit_and_evaluate`.
    differences : dict
        Full-sample estimates of the paired differences whose intervals are in ``ci``.
    """

    rmsd: float
    pearson_r: float
    ci: dict[str, tuple[float, float]]
    baselines: dict[str, dict[str, float | None]]
    interval: dict[str, float]
    cv: dict[str, float]
    params: dict[str, Any]
    point: str
    trials: list[TrialRecord]
    importance: pd.DataFrame
    counts: dict[str, int]
    config: BenchmarkConfig
    train_config: TrainConfig
    job_metrics: dict[str, float]
    data_hash: str
    file_hashes: dict[str, str]
    seconds: float = 0.0
    run_id: str | None = None
    differences: dict[str, float] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """The benchmark table: one row per predictor, measured here or published (reference columns)."""
        rows: list[dict[str, Any]] = [
            {
                "predictor": f"ours: the served model (alsstrat train --source {SOURCE}), point = conditional "
                f"{self.point}; {self.interval['nominal']:.0%} interval coverage {self.interval['coverage']:.3f}",
                "rmsd": self.rmsd,
                "pearson_r": self.pearson_r,
                "published_rmsd": None,
                "published_r": None,
                "source": "this run",
            },
        ]
        for key, scores in self.baselines.items():
            ref = PUBLISHED[key]
            rows.append(
                {
                    "predictor": ref.predictor,
                    "rmsd": scores["rmsd"],
                    "pearson_r": scores["pearson_r"],
                    "published_rmsd": ref.rmsd,
                    "published_r": ref.pearson_r,
                    "source": "this run",
                }
            )
        for key, ref in PUBLISHED.items():
            if key not in self.baselines:
                rows.append(
                    {
                        "predictor": ref.predictor,
                        "rmsd": None,
                        "pearson_r": None,
                        "published_rmsd": ref.rmsd,
                        "published_r": ref.pearson_r,
                        "source": ref.source,
                    }
                )
        return pd.DataFrame(rows)

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics (finite values only)."""
        out = {
            "test_rmsd": self.rmsd,
            "test_pearson_r": self.pearson_r,
            **{f"test_{k}_ci_low": v[0] for k, v in self.ci.items()},
            **{f"test_{k}_ci_high": v[1] for k, v in self.ci.items()},
            **{f"test_interval_{k}": v for k, v in self.interval.items()},
            **{f"cv_{k}": v for k, v in self.cv.items()},
            **{f"baseline_{name}_{k}": v for name, s in self.baselines.items() for k, v in s.items() if v is not None},
            **{f"n_{k}": float(v) for k, v in self.counts.items()},
            "seconds": self.seconds,
        }
        return {k: float(v) for k, v in out.items() if v is not None and math.isfinite(float(v))}

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types; undefined values (e.g. r of a constant) are null."""

        def num(v: Any) -> float | None:
            return None if v is None or not math.isfinite(float(v)) else float(v)

        return {
            "rmsd": num(self.rmsd),
            "pearson_r": num(self.pearson_r),
            "ci95": {k: [num(lo), num(hi)] for k, (lo, hi) in self.ci.items()},
            "target": {
                "rmsd_max": TARGET_RMSD,
                "pearson_r_min": TARGET_PEARSON_R,
                "met": bool(self.rmsd <= TARGET_RMSD and self.pearson_r >= TARGET_PEARSON_R),
            },
            "baselines": {k: {m: num(v) for m, v in s.items()} for k, s in self.baselines.items()},
            "interval": {k: num(v) for k, v in self.interval.items()},
            "references": {
                k: {"predictor": r.predictor, "rmsd": r.rmsd, "pearson_r": r.pearson_r, "source": r.source}
                for k, r in PUBLISHED.items()
            },
            "cv": {k: num(v) for k, v in self.cv.items()},
            "params": self.params,
            "point": self.point,
            # The training job's own slope metrics on the same patients: rmsd and pearson_r above are these.
            "training_job": {k: num(v) for k, v in self.job_metrics.items()
                             if k.startswith("test_slope_") and "." not in k},
            "top_features": self.importance.head(10).to_dict(orient="records"),
            "counts": self.counts,
            "data_hash": self.data_hash,
            "file_hashes": self.file_hashes,
            "run_id": self.run_id,
            "experiment": EXPERIMENT,
            "seconds": round(self.seconds, 1),
        }


def feature_importance(model: StratifierModel, train: pd.DataFrame) -> pd.DataFrame:
    """Per derived feature of the bundle's point model: mean |contribution| over ``train`` and share of split gain.

    The contributions (points/month) are the path-based attributions the service explains its predictions with
    (:meth:`features.model.bundle.SlopeComponent.contributions`); the gain shares come from
    :func:`training.evaluation.scoring.booster_importance`. Features the point model never split on are left out.

    Parameters
    ----------
    model : StratifierModel
        The fitted bundle.
    train : DataFrame
        Cohort rows of the training patients (never the test patients).

    Returns
    -------
    DataFrame
        ``feature``, ``mean_abs_contribution`` (points/month) and ``gain_share`` (0-1), largest contribution first.
    """
    names = list(model.feature_names)
    z = model.features.transform(train[list(S.BASELINE_NAMES)])
    contrib = model.slope.contributions(xgb.DMatrix(z, missing=np.nan, nthread=1))
    mean_abs = np.abs(contrib[:, :-1]).mean(axis=0)  # the last column is the bias
    gain = booster_importance(model)["slope"]
    frame = pd.DataFrame(
        {"feature": names, "mean_abs_contribution": mean_abs, "gain_share": [gain.get(n, 0.0) for n in names]}
    )
    frame = frame[(frame["gain_share"] > 0) | (frame["mean_abs_contribution"] > 0)]
    return frame.sort_values("mean_abs_contribution", ascending=False).reset_index(drop=True)


def run_benchmark(
    data: DreamData,
    cfg: BenchmarkConfig | None = None,
    *,
    stage: Stage | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> BenchmarkResult:
    """Run the training job on DREAM-2012's official split, then score its bundle on the test patients (no MLflow).

    Parameters
    ----------
    data : DreamData
        From :func:`load_benchmark_data`.
    cfg : BenchmarkConfig, optional
        The bootstrap settings; defaults to the reported ones.
    stage : callable, optional
        Called with a short status text at each step.
    on_trial : callable, optional
        Called with each of the training job's tuning trials (model, number, parameters, CV value).

    Returns
    -------
    BenchmarkResult

    Raises
    ------
    BenchmarkInputError
        When a patient lacks the outcome.
    RuntimeError
        When the training job held out other patients than the official test patients, or its test metrics differ
        from the benchmark's scores (one model, one number).
    """
    cfg = cfg or BenchmarkConfig()
    say = stage or (lambda s: None)
    started = time.perf_counter()
    train, test = data.train, data.test
    y_train = train["alsfrs_r_slope_3_12"].to_numpy(dtype=float)
    y_test = test["alsfrs_r_slope_3_12"].to_numpy(dtype=float)
    if np.isnan(y_train).any() or np.isnan(y_test).any():
        raise BenchmarkInputError("every DREAM-2012 patient must have the outcome dFRS")

    train_cfg = training_config(data.table_file)
    trials: list[TrialRecord] = []

    def record(kind: str, number: int, params: dict[str, Any], value: float) -> None:
        # The training job's callback signature; the key names its CV metric as the job's nested runs do.
        trial = {"model": kind, "trial": number, **params, f"cv_{'rmse' if kind == 'slope' else 'cindex'}": value}
        trials.append(trial)
        say(f"tuning the {kind} model: trial {number + 1}/{train_cfg.tuning.n_trials}, CV {value:.4f}")
        if on_trial is not None:
            on_trial(trial)

    # --- the training job: everything up to the final scoring sees the training patients only
    job_data = TrainingData(cohort=data.cohort, truth=None, description=f"{SOURCE} from {data.table_file.name}")
    fitted = fit_and_evaluate(train_cfg, job_data, stage=say, on_trial=record)
    model = fitted.model
    ids = data.cohort.table["patient_id"].to_numpy()
    if not np.array_equal(ids[fitted.split.test], test["patient_id"].to_numpy()):
        raise RuntimeError("the training job held out other patients than DREAM-2012's official test patients")
    pre_slope = SlopeBaseline(data.cohort.alsfrs_scale).fit(train, y_train)
    constant = float(y_train.mean())
    importance = feature_importance(model, train)

    # --- the one look at the test patients, with the bundle's own point prediction and interval
    say("scoring the test patients")
    pred = predict_cohort(model, test)
    ours = pred.p50  # the served point: the conditional mean or median, as slope.point says
    rmsd, r = E.rmse(ours, y_test), E.pearson(ours, y_test)
    for name, value in (("test_slope_rmse", rmsd), ("test_slope_pearson_r", r)):
        if not abs(value - fitted.metrics[name]) <= SAME_NUMBER_TOLERANCE:
            raise RuntimeError(f"the benchmark's score {value!r} differs from the training job's {name} "
                               f"{fitted.metrics[name]!r}")
    predictions = {
        "constant_training_mean": np.full(len(y_test), constant),
        "pre_slope_linear_regression": pre_slope.predict(test),
        "organisers_baseline": data.organisers.prediction,
    }
    baselines: dict[str, dict[str, float | None]] = {}
    for key, base in predictions.items():
        base_r = E.pearson(base, y_test)
        baselines[key] = {"rmsd": E.rmse(base, y_test), "pearson_r": None if math.isnan(base_r) else base_r}
    coverage, width = E.interval_coverage(y_test, pred.p10, pred.p90)
    interval = {
        "nominal": train_cfg.slope.interval,
        "coverage": coverage,
        "width": width,
        "conformal_margin": float(model.slope.margin),
    }

    say("confidence intervals")
    group, org = data.organisers.group, data.organisers.prediction

    def scores(i: np.ndarray) -> dict[str, float]:
        ours_rmsd, ours_r = E.rmse(ours[i], y_test[i]), E.pearson(ours[i], y_test[i])
        return {"rmsd": ours_rmsd, "pearson_r": ours_r,
                "rmsd_minus_organisers": ours_rmsd - E.rmse(org[i], y_test[i]),
                "pearson_r_minus_organisers": ours_r - E.pearson(org[i], y_test[i])}

    # Whole tie groups are resampled (see the module docstring); one draw feeds all four metrics.
    boot = B.resample(scores, len(y_test), n_resamples=cfg.n_bootstrap, seed=cfg.seed, groups=group)
    ci: dict[str, tuple[float, float]] = {}
    differences: dict[str, float] = {}
    for key in boot.estimates:
        res = boot.interval(key)
        ci[key] = (res.ci_low, res.ci_high)
        if key.endswith("_minus_organisers"):
            differences[key] = res.estimate
    slope_trials = [t for t in trials if t["model"] == "slope"]
    best = min(slope_trials, key=lambda t: float(t["cv_rmse"])) if slope_trials else None
    cv = {
        "rmse": float(best["cv_rmse"]) if best else math.nan,
        "chosen_trial": float(best["trial"]) if best else math.nan,
        "n_trials": float(len(slope_trials)),
        "folds": float(train_cfg.split.cv_folds),
    }
    counts = {
        "train": len(train),
        "test": len(test),
        "features": len(model.feature_names),
        "organisers_tie_groups": data.organisers.n_groups,
        "organisers_tied_rows": data.organisers.n_tied_rows,
        "organisers_largest_tie": data.organisers.largest_tie,
    }
    return BenchmarkResult(
        rmsd=rmsd,
        pearson_r=r,
        ci=ci,
        baselines=baselines,
        interval=interval,
        cv=cv,
        params=dict(fitted.tuned["slope"]),
        point=str(model.slope.point),
        trials=trials,
        importance=importance,
        counts=counts,
        config=cfg,
        train_config=train_cfg,
        job_metrics={k: float(v) for k, v in fitted.metrics.items()},
        data_hash=data.cohort.content_hash,
        file_hashes=data.file_hashes,
        seconds=time.perf_counter() - started,
        differences=differences,
    )


# ----------------------------------------------------------------------------------------------------------------
# Output and tracking
# ----------------------------------------------------------------------------------------------------------------
def format_table(result: BenchmarkResult) -> str:
    """The benchmark table as Markdown (3 decimals; "—" where a value is undefined or not published)."""

    def cell(v: Any) -> str:
        return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"

    lines = ["| predictor | RMSD | Pearson r | published RMSD | published r | source |", "|---|---|---|---|---|---|"]
    for row in result.table().to_dict(orient="records"):
        lines.append(
            f"| {row['predictor']} | {cell(row['rmsd'])} | {cell(row['pearson_r'])} | "
            f"{cell(row['published_rmsd'])} | {cell(row['published_r'])} | {row['source']} |"
        )
    return "\n".join(lines)


def summary_lines(result: BenchmarkResult) -> list[str]:
    """A few lines under the table: confidence intervals, CV, tuned parameters, the target."""
    ci = result.ci
    met = result.rmsd <= TARGET_RMSD and result.pearson_r >= TARGET_PEARSON_R
    p = result.params
    return [
        f"{result.counts['test']} test patients, scored once. 95 % CI (bootstrap over tie groups): RMSD "
        f"{ci['rmsd'][0]:.3f}-"
        f"{ci['rmsd'][1]:.3f}, r {ci['pearson_r'][0]:.3f}-{ci['pearson_r'][1]:.3f}; vs organisers: RMSD "
        f"{result.differences['rmsd_minus_organisers']:+.3f} ({ci['rmsd_minus_organisers'][0]:+.3f} to "
        f"{ci['rmsd_minus_organisers'][1]:+.3f}), r {result.differences['pearson_r_minus_organisers']:+.3f} "
        f"({ci['pearson_r_minus_organisers'][0]:+.3f} to {ci['pearson_r_minus_organisers'][1]:+.3f})",
        f"the training job (alsstrat train --source {SOURCE}): CV inside the {result.counts['train']} training "
        f"patients ({int(result.cv['folds'])} folds, {int(result.cv['n_trials'])} trials): RMSE "
        f"{result.cv['rmse']:.3f}; chosen: {p['n_estimators']} trees, depth {p['max_depth']}, learning rate "
        f"{p['learning_rate']:.4g}, min child weight {p['min_child_weight']:.3g}, subsample {p['subsample']:.2f}, "
        f"colsample {p['colsample_bytree']:.2f}; point = conditional {result.point}; "
        f"{result.interval['nominal']:.0%} interval: coverage {result.interval['coverage']:.3f}, mean width "
        f"{result.interval['width']:.2f} points/month",
        f"target RMSD <= {TARGET_RMSD} and r >= {TARGET_PEARSON_R}: {'met' if met else 'NOT met'}",
    ]


def log_run(result: BenchmarkResult, data: DreamData) -> str:
    """Log one MLflow run in :data:`EXPERIMENT`: configurations, tuned parameters, metrics, tables, provenance tags.

    Returns
    -------
    str
        The run id.
    """
    import mlflow

    from training import tracking as T

    T.configure_tracking()
    experiment_id = T.ensure_experiment(EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment_id, run_name="dream2012") as run:
        mlflow.set_tags(
            {
                "data_hash": result.data_hash,
                "source": SOURCE,
                "spec_hash": S.spec_hash(),
                "alsfrs_scale": str(data.cohort.alsfrs_scale),
                "n_train": str(len(data.train)),
                "n_test": str(len(data.test)),
                "slope_point": result.point,
                **{f"file_sha256.{name}": digest for name, digest in result.file_hashes.items()},
                **T.git_state(),
            }
        )
        # The training job's configuration under the names it logs them by (config.*), the benchmark's bootstrap
        # settings (benchmark.*) and the parameters the job chose (tuned.*).
        flat_train = T.flatten("", result.train_config.model_dump(mode="json"))
        mlflow.log_params(
            {
                **{f"config.{k}": str(v)[:6000] for k, v in flat_train.items()},
                **{f"benchmark.{k}": str(v) for k, v in result.config.model_dump(mode="json").items()},
                **{f"tuned.{k}": v for k, v in result.params.items()},
            }
        )
        mlflow.log_metrics(result.metrics())
        mlflow.log_text(format_table(result) + "\n\n" + "\n".join(summary_lines(result)) + "\n", "benchmark_table.md")
        mlflow.log_text(result.table().to_csv(index=False), "benchmark_table.csv")
        mlflow.log_text(pd.DataFrame(result.trials).to_csv(index=False), "tuning_trials.csv")
        mlflow.log_text(result.importance.to_csv(index=False), "feature_importance.csv")
        mlflow.log_dict(result.to_json_dict(), "benchmark.json")
        mlflow.log_dict(result.train_config.model_dump(mode="json"), "config.yaml")
        mlflow.log_dict(T.package_versions(), "environment.json")
        return str(run.info.run_id)


def benchmark_dream2012(
    path: str | Path, cfg: BenchmarkConfig | None = None, *, stage: Stage | None = None
) -> BenchmarkResult:
    """Load, run, log: what ``alsstrat benchmark dream2012`` does.

    Parameters
    ----------
    path : path
        The DREAM-2012 folder (or its feature table file).
    cfg : BenchmarkConfig, optional
        The bootstrap settings; defaults to the reported ones.
    stage : callable, optional
        Status callback.

    Returns
    -------
    BenchmarkResult
        With ``run_id`` set and ``seconds`` covering loading, the benchmark and logging.
    """
    say = stage or (lambda s: None)
    started = time.perf_counter()
    say("loading data")
    data = load_benchmark_data(path)
    result = run_benchmark(data, cfg, stage=say)
    say("logging to MLflow")
    result.seconds = time.perf_counter() - started
    result.run_id = log_run(result, data)
    return result
