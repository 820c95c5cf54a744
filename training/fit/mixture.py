"""Maximum-likelihood Gaussian or Student-t mixtures on data with missing values (EM, missing features marginalised).

The E-step scores each patient on the features they have (:func:`features.model.mixture.component_log_densities`);
the M-step uses each component's conditional expectation of the missing features and adds their conditional
covariance (Ghahramani & Jordan 1994, "Supervised learning from incomplete data via an EM approach"). With no
missing value and Gaussian components this is the ordinary EM of ``sklearn.mixture.GaussianMixture`` (full
covariances).

With ``dof`` finite the components are multivariate t with fixed degrees of freedom (the ECM of Peel & McLachlan
2000, "Robust mixture modelling using the t distribution", with missing values as in Liu & Rubin 1995): each
patient's contribution to a component's mean and scale matrix is further weighted by
``u = (dof + p) / (dof + delta)`` (p observed features, delta their squared Mahalanobis distance), so patients far
out in a component's tail pull it less. The conditional covariance of the missing features given ``u`` is the
Gaussian one divided by ``u``, so it enters the scale matrix unweighted.

The result is returned as a fitted ``GaussianMixture`` holding the weights, means and covariances (for t
components: the scale matrices) and precision Cholesky factors, so the bundle keeps one parameter container; the
component family travels beside it (``SubtypeComponent.dof``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp
from sklearn.cluster import kmeans_plusplus
from sklearn.mixture import GaussianMixture

from features.model.mixture import is_t, log_densities_and_distances, missing_patterns


@dataclass(frozen=True)
class MixtureFit:
    """A fitted mixture and its fit statistics on the data it was fitted to."""

    gmm: GaussianMixture
    log_likelihood: float
    bic: float
    iterations: int
    dof: float | None = None
    """Degrees of freedom of t components (fixed, not estimated); None: Gaussian components."""


def n_parameters(k: int, n_features: int) -> int:
    """Free parameters of a K-component full-covariance mixture in F dimensions."""
    return (k - 1) + k * n_features + k * n_features * (n_features + 1) // 2


def _m_step(x: np.ndarray, resp: np.ndarray, means: np.ndarray, covs: np.ndarray,
            patterns: list[tuple[np.ndarray, np.ndarray]], reg_covar: float,
            u: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Weights, means and covariances (scale matrices) from responsibilities ``resp`` and, for t components,
    the E-step's tail weights ``u`` (None: all 1, the Gaussian M-step)."""
    n, f = x.shape
    k = resp.shape[1]
    nk = resp.sum(axis=0) + 10 * np.finfo(float).eps
    ru = resp if u is None else resp * u
    filled = np.repeat(x[None, :, :], k, axis=0)  # (K, n, F): each component's expectation of the missing values
    extra = np.zeros((k, f, f))  # responsibility-weighted conditional covariances of the missing values
    for observed, rows in patterns:
        mi, oi = np.flatnonzero(~observed), np.flatnonzero(observed)
        if mi.size == 0:
            continue
        weight = resp[rows].sum(axis=0)[:, None, None]
        s_mm = covs[:, mi][:, :, mi]
        if oi.size == 0:
            filled[:, rows[:, None], mi[None, :]] = means[:, None, mi]
            extra[:, mi[:, None], mi[None, :]] += weight * s_mm
            continue
        s_oo = covs[:, oi][:, :, oi]
        s_mo = covs[:, mi][:, :, oi]
        gain = np.transpose(np.linalg.solve(s_oo, np.transpose(s_mo, (0, 2, 1))), (0, 2, 1))  # (K, |m|, |o|)
        centred = x[np.ix_(rows, oi)][None, :, :] - means[:, None, oi]  # (K, rows, |o|)
        filled[:, rows[:, None], mi[None, :]] = means[:, None, mi] + centred @ np.transpose(gain, (0, 2, 1))
        extra[:, mi[:, None], mi[None, :]] += weight * (s_mm - gain @ np.transpose(s_mo, (0, 2, 1)))
    nku = nk if u is None else ru.sum(axis=0) + 10 * np.finfo(float).eps
    new_means = np.einsum("nk,knf->kf", ru, filled) / nku[:, None]
    d = filled - new_means[:, None, :]
    new_covs = np.einsum("nk,kni,knj->kij", ru, d, d) / nk[:, None, None] + extra / nk[:, None, None]
    new_covs += reg_covar * np.eye(f)[None]
    return nk / n, new_means, new_covs


def _initial(x: np.ndarray, k: int, seed: int, reg_covar: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-means++ seeds on mean-filled data, hard assignment to the nearest seed, then moments of each group."""
    filled = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
    centres, _ = kmeans_plusplus(filled, k, random_state=seed)
    nearest = np.argmin(((filled[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    f = x.shape[1]
    weights, means, covs = np.empty(k), np.empty((k, f)), np.empty((k, f, f))
    for j in range(k):
        members = filled[nearest == j]
        weights[j] = max(len(members), 1) / len(x)
        means[j] = members.mean(axis=0) if len(members) else centres[j]
        covs[j] = (np.cov(members.T) if len(members) > f else np.eye(f)) + reg_covar * np.eye(f)
    return weights / weights.sum(), means, covs


def _em(x: np.ndarray, start: tuple[np.ndarray, np.ndarray, np.ndarray], reg_covar: float, max_iter: int,
        tol: float, dof: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
    """EM (ECM for t components) from the parameters ``start`` = (weights, means, covariances or scale matrices)."""
    patterns = missing_patterns(x)
    weights, means, covs = start
    previous = -np.inf
    total = -np.inf
    it = 0
    while it < max_iter:
        it += 1
        log_p, delta, n_observed = log_densities_and_distances(x, weights, means, covs, patterns, dof=dof)
        row = logsumexp(log_p, axis=1)
        total = float(row.sum())
        resp = np.exp(log_p - row[:, None])
        # sklearn's criterion: change of the mean log-likelihood per row
        if abs(total - previous) / len(x) < tol:
            break
        previous = total
        # t components: the expected latent precision of each patient under each component (Peel & McLachlan 2000)
        u = (dof + n_observed[:, None]) / (dof + delta) if is_t(dof) else None
        weights, means, covs = _m_step(x, resp, means, covs, patterns, reg_covar, u)
    return weights, means, covs, total, it


def fit_mixture(x: np.ndarray, k: int, *, seed: int, n_init: int, reg_covar: float, max_iter: int = 300,
                tol: float = 1e-4, dof: float | None = None) -> MixtureFit:
    """Fit a K-component full-covariance Gaussian (or Student-t) mixture by EM, missing values (NaN) marginalised out.

    Parameters
    ----------
    x : ndarray of shape (n, F)
        Standardised clustering features; NaN where missing.
    k : int
        Number of components.
    seed : int
        Seed of the k-means++ initialisations.
    n_init : int
        Initialisations; the one with the highest log-likelihood is kept.
    reg_covar : float
        Added to each covariance's diagonal (units of the standardised features).
    max_iter : int, default 300
    tol : float, default 1e-4
        Convergence threshold on the change of the mean log-likelihood per patient.
    dof : float, optional
        Degrees of freedom of multivariate t components, fixed (not estimated, so not counted in the BIC's
        parameters); None (default): Gaussian components.

    Returns
    -------
    MixtureFit
        ``gmm`` is a fitted ``sklearn.mixture.GaussianMixture`` (full covariances; for t components its
        covariances are the scale matrices and only :mod:`features.model.mixture` with ``dof`` scores it right).
    """
    rng = np.random.default_rng(seed)
    best: tuple[np.ndarray, np.ndarray, np.ndarray, float, int] | None = None
    for _ in range(n_init):
        fitted = _em(x, _initial(x, k, int(rng.integers(0, 2**31 - 1)), reg_covar), reg_covar, max_iter, tol, dof)
        if best is None or fitted[3] > best[3]:
            best = fitted
    assert best is not None
    return _as_fit(x, best, reg_covar=reg_covar, seed=seed, dof=dof)


def refine_mixture(x: np.ndarray, fit: MixtureFit, *, dof: float | None, reg_covar: float, max_iter: int = 300,
                   tol: float = 1e-4) -> MixtureFit:
    """Re-run EM from a fitted mixture's parameters with components of another family (``dof``).

    The subtype model chooses K and its starting partition with heavy-tailed t components (3 degrees of freedom),
    which keep a few stragglers from capturing a component of their own; their tails are then heavier than the
    strata's, and the largest component takes in the near edge of a smaller neighbour. Continuing the EM from
    that solution with lighter tails (e.g. 6 degrees of freedom) moves the boundaries back while staying in the
    same basin (docs/training.md, "Subtype recovery").

    Parameters
    ----------
    x : ndarray of shape (n, F)
        The standardised clustering features the mixture was fitted to; NaN where missing.
    fit : MixtureFit
        The starting mixture (its weights, means and covariances or scale matrices).
    dof : float or None
        Degrees of freedom of the refined t components; None for Gaussian components.
    reg_covar, max_iter, tol
        As :func:`fit_mixture`.

    Returns
    -------
    MixtureFit
        The refined mixture; its BIC counts the same parameters as ``fit``'s.
    """
    gmm = fit.gmm
    refined = _em(x, (gmm.weights_, gmm.means_, gmm.covariances_), reg_covar, max_iter, tol, dof)
    return _as_fit(x, refined, reg_covar=reg_covar, seed=int(gmm.random_state or 0), dof=dof)


def _as_fit(x: np.ndarray, result: tuple[np.ndarray, np.ndarray, np.ndarray, float, int], *, reg_covar: float,
            seed: int, dof: float | None) -> MixtureFit:
    weights, means, covs, log_likelihood, iterations = result
    gmm = as_gaussian_mixture(weights, means, covs, reg_covar=reg_covar, seed=seed)
    bic = -2.0 * log_likelihood + n_parameters(len(weights), x.shape[1]) * np.log(len(x))
    return MixtureFit(gmm=gmm, log_likelihood=log_likelihood, bic=float(bic), iterations=iterations,
                      dof=dof if is_t(dof) else None)


def as_gaussian_mixture(weights: np.ndarray, means: np.ndarray, covariances: np.ndarray, *, reg_covar: float = 1e-6,
                        seed: int = 0) -> GaussianMixture:
    """A fitted ``GaussianMixture`` (full covariances) with the given parameters."""
    k = len(weights)
    gmm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=reg_covar, random_state=seed)
    gmm.weights_ = np.asarray(weights, dtype=float)
    gmm.means_ = np.asarray(means, dtype=float)
    gmm.covariances_ = np.asarray(covariances, dtype=float)
    # precision Cholesky factor: inverse of the covariance's lower Cholesky factor, transposed (sklearn's layout)
    chol = np.linalg.cholesky(gmm.covariances_)
    eye = np.eye(gmm.means_.shape[1])
    gmm.precisions_cholesky_ = np.stack([np.linalg.solve(c, eye).T for c in chol])
    gmm.precisions_ = np.matmul(gmm.precisions_cholesky_, np.transpose(gmm.precisions_cholesky_, (0, 2, 1)))
    gmm.converged_ = True
    gmm.n_iter_ = 0
    gmm.lower_bound_ = -np.inf
    gmm.n_features_in_ = gmm.means_.shape[1]
    return gmm
