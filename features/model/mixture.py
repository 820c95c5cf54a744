"""Gaussian and Student-t mixture densities with missing values marginalised out (never filled in).

A patient without an LCN2 measurement is scored on the features they have: each component's density is the
marginal of the observed features (the sub-vector of the mean and the sub-block of the covariance), which is exact
for a Gaussian or a multivariate t mixture when values are missing at random (a marginal of a multivariate t is a
t with the same degrees of freedom). Filling a missing value with the training median instead puts a point mass at
the median, which a mixture then spends a component on (the round-1 model chose K = 5 for 4 planted subtypes that
way).

``dof`` selects the component family: None (or infinity) for Gaussian components, a finite value for multivariate
t components with that many degrees of freedom and ``covariances`` as their scale matrices (McLachlan & Peel 2000,
"Finite Mixture Models", ch. 7).

Used by the bundle (serving) and by the training code's EM fit, so the two compute the same densities.
"""

from __future__ import annotations

from typing import TypeGuard

import numpy as np
from scipy.special import gammaln, logsumexp

LOG_2PI = float(np.log(2 * np.pi))


def is_t(dof: float | None) -> TypeGuard[float]:
    """True when ``dof`` asks for Student-t components (finite), False for Gaussian ones (None or infinite)."""
    return dof is not None and bool(np.isfinite(dof))


def log_kernel(delta: np.ndarray, n_observed: int, dof: float | None) -> np.ndarray:
    """Log density of a standard (identity-scale) Gaussian or multivariate t at squared Mahalanobis ``delta``.

    Parameters
    ----------
    delta : ndarray
        Squared Mahalanobis distances (dimensionless) in ``n_observed`` dimensions.
    n_observed : int
        Dimensions the distance was computed in.
    dof : float or None
        t degrees of freedom; None or infinite for the Gaussian.

    Returns
    -------
    ndarray
        Same shape as ``delta``; add ``-ln det(chol)`` of the scale matrix for the density.
    """
    if is_t(dof):
        const = gammaln((dof + n_observed) / 2) - gammaln(dof / 2) - 0.5 * n_observed * np.log(dof * np.pi)
        return np.asarray(const - 0.5 * (dof + n_observed) * np.log1p(delta / dof))
    return -0.5 * n_observed * LOG_2PI - 0.5 * delta


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
                            patterns: list[tuple[np.ndarray, np.ndarray]] | None = None, *,
                            dof: float | None = None) -> np.ndarray:
    """``ln w_k + ln f(x_obs | mean_k,obs, cov_k,obs)`` for every row and component, shape (n, K).

    ``f`` is the Gaussian density, or the multivariate t density with ``dof`` degrees of freedom.

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
    dof : float, optional
        Degrees of freedom of t components; None (default) or infinite: Gaussian components.

    Returns
    -------
    ndarray of shape (n, K)
    """
    return log_densities_and_distances(x, weights, means, covariances, patterns, dof=dof)[0]


def log_densities_and_distances(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                                patterns: list[tuple[np.ndarray, np.ndarray]] | None = None, *,
                                dof: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`component_log_densities`, with each row's squared Mahalanobis distance to each component on its
    observed features and the number of observed features (what the t mixture's EM weights need).

    Returns
    -------
    (log_p, delta, n_observed)
        Shapes (n, K), (n, K) and (n,).
    """
    n, k = len(x), len(weights)
    out = np.empty((n, k))
    delta = np.zeros((n, k))
    n_observed = np.zeros(n, dtype=int)
    log_w = np.log(weights)
    for observed, rows in (missing_patterns(x) if patterns is None else patterns):
        idx = np.flatnonzero(observed)
        n_observed[rows] = idx.size
        if idx.size == 0:
            out[rows] = log_w
            continue
        # all components at once: (K, |o|, |o|) sub-covariances, (K, |o|, rows) whitened residuals
        chol = np.linalg.cholesky(covariances[:, idx][:, :, idx])
        diff = x[np.ix_(rows, idx)][None, :, :] - means[:, idx][:, None, :]
        r = np.linalg.solve(chol, np.transpose(diff, (0, 2, 1)))
        log_det = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        d = (r * r).sum(axis=1).T
        delta[rows] = d
        out[rows] = (log_w - log_det)[None, :] + log_kernel(d, idx.size, dof)
    return out, delta, n_observed


def memberships(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, *,
                dof: float | None = None) -> np.ndarray:
    """Posterior membership probabilities, shape (n, K); rows sum to 1 (missing features marginalised out)."""
    log_p = component_log_densities(x, weights, means, covariances, dof=dof)
    return np.asarray(np.exp(log_p - logsumexp(log_p, axis=1, keepdims=True)))
