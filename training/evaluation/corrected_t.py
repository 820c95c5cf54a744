"""The corrected resampled t-test: an interval and a p-value for a mean difference measured over the folds of a
(repeated) cross-validation.

Fold-level differences of two models scored on the same held-out patients are not independent: the folds of one
repetition share training patients, and every repetition reuses the same patients. The plain t-test on them is
badly liberal. Nadeau & Bengio (2003, "Inference for the generalization error", Machine Learning 52:239-281)
inflate the variance of the mean by the overlap of the training sets::

    var_corrected = (1 / J + n_test / n_train) * s^2

where ``J`` is the number of fold-level differences, ``s^2`` their sample variance and ``n_test / n_train`` the
ratio of held-out to training patients per fold (1 / (K - 1) for K-fold CV). Bouckaert & Frank (2004,
"Evaluating the replicability of significance tests for comparing learning algorithms", PAKDD) showed that this
corrected repeated-CV t-test keeps its nominal type I error where the uncorrected one does not, with ``J - 1``
degrees of freedom. The distribution is :func:`scipy.stats.t`; the arithmetic is the statistic above.

Pure numerics: no fitting here (the cross-fitting that produces the differences is ``training.fit.lcn2_test``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class CorrectedT:
    """The corrected resampled t-test of a mean fold-level difference.

    Attributes
    ----------
    estimate : float
        Mean of the finite fold-level differences, in the differences' unit.
    ci_low, ci_high : float
        Two-sided ``confidence`` interval: ``estimate -/+ t_(J-1) * se``.
    p_value : float
        Two-sided p-value of "mean difference = 0".
    se : float
        Corrected standard error ``sqrt((1 / J + n_test / n_train) * s^2)``.
    t : float
        ``estimate / se`` (NaN when ``se`` is 0 or undefined).
    n_folds : int
        ``J``, the number of finite differences used (degrees of freedom ``J - 1``).
    test_train_ratio : float
        The ``n_test / n_train`` of the correction.
    confidence : float
        Level of the interval (0.95).
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    t: float
    n_folds: int
    test_train_ratio: float
    confidence: float

    @property
    def lower_bound_above_zero(self) -> bool:
        """The one-sided decision "positive difference": the interval's lower bound is > 0 (NaN: False)."""
        return bool(self.ci_low > 0.0)


def corrected_resampled_t(differences: np.ndarray, *, test_train_ratio: float,
                          confidence: float = 0.95) -> CorrectedT:
    """Nadeau-Bengio corrected resampled t interval and p-value over fold-level paired differences.

    Parameters
    ----------
    differences : array-like of shape (J,)
        One paired difference per fold (model A's score minus model B's on that fold's held-out patients), in the
        metric's unit. Non-finite values (a fold where the metric is undefined) are left out and not counted.
    test_train_ratio : float
        ``n_test / n_train`` per fold (held-out over training patients; the mean over folds when they differ
        slightly), > 0. For K-fold CV about ``1 / (K - 1)``.
    confidence : float, default 0.95
        Level of the two-sided interval, in (0, 1).

    Returns
    -------
    CorrectedT
        With NaN estimate/interval/p when fewer than two finite differences remain. When every difference is
        equal (``s^2 = 0``) the interval is the point and the p-value is 0 for a non-zero mean, 1 for zero.

    Raises
    ------
    ValueError
        If ``test_train_ratio`` is not a positive finite number or ``confidence`` is outside (0, 1).

    Examples
    --------
    >>> r = corrected_resampled_t(np.array([0.02, 0.01, 0.03, 0.02]), test_train_ratio=0.25)
    >>> round(r.estimate, 4), r.n_folds
    (0.02, 4)
    """
    if not (isinstance(test_train_ratio, int | float) and math.isfinite(test_train_ratio) and test_train_ratio > 0):
        raise ValueError(f"test_train_ratio must be a positive number (n_test / n_train per fold), "
                         f"got {test_train_ratio!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be within (0, 1), got {confidence!r}")
    d = np.asarray(differences, dtype=float).reshape(-1)
    d = d[np.isfinite(d)]
    j = len(d)
    nan = float("nan")
    if j < 2:
        return CorrectedT(float(d.mean()) if j else nan, nan, nan, nan, nan, nan, j, float(test_train_ratio),
                          confidence)
    mean = float(d.mean())
    variance = float(d.var(ddof=1))
    se = math.sqrt((1.0 / j + test_train_ratio) * variance)
    df = j - 1
    if se == 0.0:
        return CorrectedT(mean, mean, mean, 0.0 if mean != 0.0 else 1.0, 0.0, nan, j, float(test_train_ratio),
                          confidence)
    t = mean / se
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * se
    p = float(2.0 * stats.t.sf(abs(t), df))
    return CorrectedT(mean, mean - half, mean + half, p, se, t, j, float(test_train_ratio), confidence)
