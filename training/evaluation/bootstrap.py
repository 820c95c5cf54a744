"""The one bootstrap engine: seeded percentile intervals over patients, for one metric, many metrics, two models
on the same resamples (paired), or whole groups of rows (grouped).

Every interval in a run, a comparison, the promotion gate and the DREAM-2012 benchmark comes from :func:`resample`.
A resample draws ``n`` positions with replacement (``np.random.default_rng(seed).integers(0, n, n)``), or, with
``groups``, draws whole groups with replacement and takes all their rows. The caller's function receives the drawn
positions and returns one value or a ``{name: value}`` mapping, so many metrics (and two models) share one draw:
their intervals are mutually consistent, a paired difference cancels the between-patient variation the two models
share, and the cost is one pass.

Why not ``scipy.stats.bootstrap``
---------------------------------
It was considered and not used, because it lacks what every caller here needs:

- one draw feeding many metrics at once (it bootstraps one statistic per call; the training job, the comparison
  and the gate need a dozen metrics and their subgroup versions on the *same* resamples);
- resamples on which a metric is undefined (a C-index without comparable pairs): it puts NaN into the bootstrap
  distribution and returns NaN bounds, while these are skipped here, counted and reported;
- resampling whole groups (DREAM-2012 tie groups, whose within-group pairing is arbitrary);
- positions rather than data: metrics such as the C-index or the integrated Brier score need several aligned arrays
  and the model's survival curve, not a vectorisable statistic of one sample.

Its ``method="percentile"`` with ``paired=True`` is the same estimator as :func:`resample`; the hand-written loop
is ten lines and keeps the logged intervals of earlier runs reproducible (same seed, same draws).
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

VALUE = "value"
"""Key under which a scalar metric's values are kept."""

Positions = np.ndarray
MetricFn = Callable[[Positions], "float | Mapping[str, float]"]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence expected noise while metrics are recomputed on hundreds of resamples.

    Resamples without events or with constant predictions make a metric undefined; that is counted and reported
    as the number of valid resamples, so the per-resample warnings of :mod:`training.evaluation.metrics` and numpy
    would only flood the terminal.
    """
    ev_logger = logging.getLogger("training.evaluation.metrics")
    level = ev_logger.level
    ev_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        ev_logger.setLevel(level)


def json_float(v: float | None) -> float | None:
    """``v`` as a float, or ``None`` when it is missing or not finite (JSON has no NaN or infinity)."""
    return float(v) if v is not None and math.isfinite(v) else None


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile-bootstrap interval.

    Attributes
    ----------
    estimate : float
        The metric on the full sample (not the bootstrap mean), in the metric's unit.
    ci_low, ci_high : float
        Percentile interval bounds at ``confidence``; NaN when no resample gave a defined value.
    n_valid : int
        Resamples on which the metric was defined.
    n_skipped : int
        Resamples on which it was NaN (e.g. no comparable pairs) and that were left out.
    confidence : float
        Two-sided confidence level.
    """

    estimate: float
    ci_low: float
    ci_high: float
    n_valid: int
    n_skipped: int
    confidence: float

    def as_tuple(self) -> tuple[float, float, float]:
        """``(estimate, ci_low, ci_high)``."""
        return (self.estimate, self.ci_low, self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (non-finite values become ``None``)."""
        return {"estimate": json_float(self.estimate), "low": json_float(self.ci_low),
                "high": json_float(self.ci_high), "n_valid_resamples": self.n_valid}


def percentile_interval(estimate: float, samples: np.ndarray, confidence: float) -> Interval:
    """Percentile interval of the defined (non-NaN) resample values.

    Parameters
    ----------
    estimate : float
        Full-sample value (metric unit).
    samples : ndarray
        One value per resample; NaN = undefined on that resample (skipped and counted).
    confidence : float
        Two-sided level in (0, 1).

    Returns
    -------
    Interval
    """
    valid = samples[~np.isnan(samples)]
    skipped = int(samples.size - valid.size)
    if valid.size == 0:
        return Interval(estimate, math.nan, math.nan, 0, skipped, confidence)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(valid, [alpha, 1.0 - alpha])
    return Interval(estimate, float(lo), float(hi), int(valid.size), skipped, confidence)


@dataclass(frozen=True)
class Bootstrap:
    """Full-sample estimates and per-resample values of a set of metrics (one shared draw per resample)."""

    estimates: dict[str, float]
    samples: dict[str, np.ndarray]
    confidence: float

    def interval(self, key: str = VALUE) -> Interval:
        """The percentile interval of metric ``key`` (NaN bounds when the metric was never defined)."""
        return percentile_interval(self.estimates.get(key, math.nan), self.samples.get(key, np.empty(0)),
                                   self.confidence)

    def select(self, prefix: str) -> Bootstrap:
        """The metrics whose names start with ``prefix``, with the prefix removed."""
        cut = len(prefix)
        return Bootstrap(estimates={k[cut:]: v for k, v in self.estimates.items() if k.startswith(prefix)},
                         samples={k[cut:]: v for k, v in self.samples.items() if k.startswith(prefix)},
                         confidence=self.confidence)


def _group_members(groups: Any, n: int) -> list[np.ndarray]:
    codes = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
    if codes.size != n:
        raise ValueError(f"groups must have one label per row ({n}), got {codes.size}")
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes))])
    return [order[bounds[g]:bounds[g + 1]] for g in range(len(bounds) - 1)]


def _as_mapping(value: float | Mapping[str, float]) -> Mapping[str, float]:
    return value if isinstance(value, Mapping) else {VALUE: float(value)}


def resample(fn: MetricFn, n: int, *, n_resamples: int = 500, seed: int = 0, confidence: float = 0.95,
             groups: Any = None) -> Bootstrap:
    """Percentile bootstrap of every metric ``fn(positions)`` returns: the engine behind every interval.

    Parameters
    ----------
    fn : callable
        ``fn(positions) -> float`` or ``-> {name: value}``, computed on the rows at integer ``positions`` (with
        repeats). NaN marks a resample where a metric is undefined: it is left out of that metric's interval and
        counted (a warning names the metrics concerned). A name absent from a resample counts as NaN.
    n : int
        Number of rows (positions ``0..n-1``); at least 2.
    n_resamples : int, default 500
        Number of resamples (0 gives the point estimates with NaN intervals).
    seed : int, default 0
        Seed of ``np.random.default_rng``: the same seed gives the same resamples.
    confidence : float, default 0.95
        Two-sided level of the percentile intervals, in (0, 1).
    groups : array-like of shape (n,), optional
        A group label per row. When given, each resample draws as many groups as there are, with replacement,
        and takes all rows of each drawn group (for rows whose pairing within a group is arbitrary, e.g. ties).

    Returns
    -------
    Bootstrap
        ``estimates`` on all ``n`` rows and ``samples`` (one value per resample) per metric name; scalar metrics
        are kept under :data:`VALUE`.

    Raises
    ------
    ValueError
        If ``n < 2``, ``n_resamples < 0``, ``confidence`` is not in (0, 1) or ``groups`` has the wrong length.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2 patients to bootstrap, got {n}")
    if n_resamples < 0:
        raise ValueError(f"n_resamples must be >= 0, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    members = None if groups is None else _group_members(groups, n)
    rng = np.random.default_rng(seed)

    def draw() -> np.ndarray:
        if members is None:
            return rng.integers(0, n, size=n)
        picked = rng.integers(0, len(members), size=len(members))
        return np.concatenate([members[g] for g in picked])

    estimates = {k: float(v) for k, v in _as_mapping(fn(np.arange(n))).items()}
    with quiet():
        rows = [_as_mapping(fn(draw())) for _ in range(n_resamples)]
    names = dict.fromkeys([*estimates, *(k for r in rows for k in r)])
    samples = {k: np.array([r.get(k, math.nan) for r in rows], dtype=float) for k in names}
    undefined = {k: int(np.isnan(v).sum()) for k, v in samples.items() if np.isnan(v).any()}
    if undefined:
        worst = max(undefined.values())
        logger.warning("bootstrap: up to %d of %d resamples skipped (metric undefined) for %d metric(s), e.g. %s",
                       worst, n_resamples, len(undefined), ", ".join(list(undefined)[:3]))
    return Bootstrap(estimates=estimates, samples=samples, confidence=confidence)


def interval(metric: Callable[[Positions], float], n: int, *, n_resamples: int = 500, seed: int = 0,
             confidence: float = 0.95, groups: Any = None) -> Interval:
    """Percentile-bootstrap interval of one metric (see :func:`resample` for the parameters).

    A paired difference between two models is one metric that evaluates both on the same positions, e.g.
    ``lambda idx: cindex(t[idx], e[idx], r_b[idx]) - cindex(t[idx], e[idx], r_a[idx])``.

    Returns
    -------
    Interval
        Estimate on all rows, bounds, and the valid/skipped resample counts (metric unit).
    """
    return resample(metric, n, n_resamples=n_resamples, seed=seed, confidence=confidence, groups=groups).interval()


def bootstrap_ci(metric: Callable[[Positions], float], n: int, *, n_resamples: int = 500, seed: int = 0,
                 confidence: float = 0.95, groups: Any = None) -> tuple[float, float, float]:
    """``(estimate, ci_low, ci_high)`` of :func:`interval`, in the metric's unit.

    Examples
    --------
    >>> bootstrap_ci(lambda idx: 0.0, 10)
    (0.0, 0.0, 0.0)
    """
    return interval(metric, n, n_resamples=n_resamples, seed=seed, confidence=confidence, groups=groups).as_tuple()


@dataclass(frozen=True)
class Paired:
    """Two models on the same resampled patients: ``a`` and ``b`` hold each model's metrics."""

    a: Bootstrap
    b: Bootstrap

    def difference(self, key: str) -> Interval:
        """B − A on the full cohort, with the paired percentile interval (same resamples for both models)."""
        est = self.b.estimates.get(key, math.nan) - self.a.estimates.get(key, math.nan)
        samples = self.b.samples.get(key, np.empty(0)) - self.a.samples.get(key, np.empty(0))
        return percentile_interval(est, samples, self.a.confidence)

    def loss_difference(self, key: str, loss: Callable[[np.ndarray], np.ndarray]) -> Interval:
        """``loss(B) − loss(A)`` with its paired interval (e.g. distance of a coverage from its nominal value)."""
        ea = loss(np.array([self.a.estimates.get(key, math.nan)]))[0]
        eb = loss(np.array([self.b.estimates.get(key, math.nan)]))[0]
        samples = loss(self.b.samples.get(key, np.empty(0))) - loss(self.a.samples.get(key, np.empty(0)))
        return percentile_interval(float(eb - ea), samples, self.a.confidence)


def paired(fn_a: Callable[[Positions], Mapping[str, float]], fn_b: Callable[[Positions], Mapping[str, float]],
           n: int, *, n_resamples: int = 500, seed: int = 0, confidence: float = 0.95,
           groups: Any = None) -> Paired:
    """Metrics of two models on the same resamples (one draw feeds both; see :func:`resample`).

    Parameters
    ----------
    fn_a, fn_b : callable
        ``fn(positions) -> {name: value}`` for model A and model B on the same rows.
    n, n_resamples, seed, confidence, groups
        As in :func:`resample`.

    Returns
    -------
    Paired
        ``a`` and ``b`` bootstraps; :meth:`Paired.difference` gives B − A with its paired interval.
    """
    def both(idx: np.ndarray) -> dict[str, float]:
        return {**{f"a:{k}": v for k, v in fn_a(idx).items()}, **{f"b:{k}": v for k, v in fn_b(idx).items()}}

    boot = resample(both, n, n_resamples=n_resamples, seed=seed, confidence=confidence, groups=groups)
    return Paired(a=boot.select("a:"), b=boot.select("b:"))
