"""Gaussian mixture densities with missing values marginalised out (never filled in).

A patient without an LCN2 measurement is scored on the features they have: each component's density is the
marginal Gaussian of the observed features (the sub-vector of the mean and the sub-block of the covariance), which
is exact for a Gaussian mixture when values are missing at random. Filling a missing value with the training median
instead puts a point mass at the median, which a mixture then spends a component on (the round-1 model chose
K = 5 for 4 planted subtypes that way).

Used by the bundle (serving) and by the training code's EM fit, so the two compute the same densities.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

LOG_2PI = float(np.log(2 * np.pi))


def missing_patterns(x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rows grouped by which features are observed: ``[(observed mask (F,), row positions), ...]``.

    Rows with no observed feature form a group too (their density is 1: they get the mixture weights).
    """
    observed = ~np.isnan(x)
    if len(x) == 0:
        return []
    code = observed.astype(np.int64) @ (np.int64(1) << np.arange(x.shape[1], dtype=np.int64))  # one bit a feature
    order = np.argsort(code, kind="stable")
    _, starts = np.unique(code[order], return_index=True)
    bounds = [*starts[1:], len(x)]
    return [(observed[order[a]], np.sort(order[a:b])) for a, b in zip(starts, bounds, strict=True)]


def component_log_densities(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                            patterns: list[tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray:
    """``ln w_k + ln N(x_obs | mean_k,obs, cov_k,obs)`` for every row and component, shape (n, K).

    Parameters
    ----------
    x : ndarray of shape (n, F)
        Standardised features; NaN where missing (marginalised out).
    weights : ndarray of shape (K,)
        Mixture weights (sum to 1).
    means : ndarray of shape (K, F)
    covariances : ndarray of shape (K, F, F)
        Full covariance matrices (positive definite).
    patterns : list, optional
        :func:`missing_patterns` of ``x`` when already known (the EM reuses them every iteration).

    Returns
    -------
    ndarray of shape (n, K)
    """
    n, k = len(x), len(weights)
    out = np.empty((n, k))
    log_w = np.log(weights)
    for observed, rows in (missing_patterns(x) if patterns is None else patterns):
        idx = np.flatnonzero(observed)
        if idx.size == 0:
            out[rows] = log_w
            continue
        # all components at once: (K, |o|, |o|) sub-covariances, (K, |o|, rows) whitened residuals
        chol = np.linalg.cholesky(covariances[:, idx][:, :, idx])
        diff = x[np.ix_(rows, idx)][None, :, :] - means[:, idx][:, None, :]
        r = np.linalg.solve(chol, np.transpose(diff, (0, 2, 1)))
        log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        out[rows] = (log_w - log_det - 0.5 * idx.size * LOG_2PI)[None, :] - 0.5 * (r * r).sum(axis=1).T
    return out


def memberships(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """Posterior membership probabilities, shape (n, K); rows sum to 1 (missing features marginalised out)."""
    log_p = component_log_densities(x, weights, means, covariances)
    return np.asarray(np.exp(log_p - logsumexp(log_p, axis=1, keepdims=True)))
