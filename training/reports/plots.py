"""Evaluation figures for the training job: calibration, Kaplan–Meier curves, subtype profiles, importances.

Every function builds its figure with :func:`training.reports.figures.new_figure` (its own Agg canvas, no pyplot
state, no backend change), so importing this module has no side effects and the functions are safe to call from a
headless training job or from tests. Save with :func:`figure_png` or hand the figure to ``mlflow.log_figure``.

Units: ALSFRS-R slope in points/month; time in months from day 0; probabilities in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sksurv.nonparametric import kaplan_meier_estimator

from training.evaluation.metrics import MISSING_LABEL, linear_calibration
from training.reports.figures import figure_png as figure_png  # re-exported: callers save figures from here
from training.reports.figures import new_figure

_SURV_COLUMNS = ("pred_surv", "obs_surv", "obs_lower", "obs_upper", "n")


def slope_calibration_plot(pred: Any, obs: Any) -> Figure:
    """Observed versus predicted ALSFRS-R slope with the identity and the least-squares calibration line.

    Parameters
    ----------
    pred : array-like of shape (n,)
        Predicted median slope (points/month).
    obs : array-like of shape (n,)
        Observed slope over days (91, 365] (points/month).

    Returns
    -------
    Figure
        One axes: the scatter, the identity line (perfect calibration) and the fitted calibration line (two lines).
    """
    x = np.asarray(pred, dtype=float)
    y = np.asarray(obs, dtype=float)
    fig = new_figure()
    ax = fig.add_subplot()
    ax.scatter(x, y, s=10, alpha=0.5, color="tab:blue", label="patients")
    finite = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)]])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 0.0)
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", label="identity (perfect calibration)")
    ok = np.isfinite(x) & np.isfinite(y)
    b, a = linear_calibration(x[ok], y[ok]) if ok.sum() >= 2 else (np.nan, np.nan)
    line = np.array([lo, hi])
    ax.plot(line, a + b * line, color="tab:red", label=f"calibration line: slope {b:.2f}, intercept {a:.2f}")
    ax.set_xlabel("Predicted ALSFRS-R slope (points/month)")
    ax.set_ylabel("Observed ALSFRS-R slope, days 91-365 (points/month)")
    ax.set_title("Slope calibration (test set)")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def survival_calibration_plot(table: pd.DataFrame, t: float) -> Figure:
    """Kaplan–Meier observed versus mean predicted survival at ``t`` months, per risk group.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`training.evaluation.metrics.survival_calibration` (columns ``pred_surv``, ``obs_surv``,
        ``obs_lower``, ``obs_upper``, ``n``).
    t : float
        The calibration time (months) the table was computed at.

    Returns
    -------
    Figure
        One axes: points with 95 % Kaplan–Meier intervals per group and the identity line.

    Raises
    ------
    ValueError
        If a required column is absent.
    """
    absent = [c for c in _SURV_COLUMNS if c not in table.columns]
    if absent:
        raise ValueError(f"{len(absent)} columns are missing from the calibration table: {absent}")
    fig = new_figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="identity (perfect calibration)")
    pred = table["pred_surv"].to_numpy(dtype=float)
    obs = table["obs_surv"].to_numpy(dtype=float)
    err = np.vstack([obs - table["obs_lower"].to_numpy(dtype=float), table["obs_upper"].to_numpy(dtype=float) - obs])
    ax.errorbar(pred, obs, yerr=np.clip(err, 0, None), fmt="o", color="tab:blue", capsize=3,
                label="risk group (Kaplan-Meier, 95 % CI)")
    for p, o, n in zip(pred, obs, table["n"], strict=True):
        if np.isfinite(o):
            ax.annotate(f"n={int(n)}", (p, o), textcoords="offset points", xytext=(5, -10), fontsize="x-small")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"Predicted event-free survival at {t:g} months (probability)")
    ax.set_ylabel(f"Observed (Kaplan-Meier) event-free survival at {t:g} months (probability)")
    ax.set_title(f"Survival calibration at {t:g} months (test set)")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def km_plot(time: Any, event: Any, groups: pd.Series, title: str) -> Figure:
    """Kaplan–Meier curves of event-free survival, one per group.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up (months).
    event : array-like of shape (n,)
        True if the composite endpoint (death, tracheostomy, permanent NIV) was observed.
    groups : Series of length n
        Group label per patient (by position); missing labels form a ``"missing"`` group.
    title : str
        Axes title.

    Returns
    -------
    Figure
        One axes with one step line per group; the legend gives each group's number at risk at time 0 and its
        number of events.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    labels = groups.astype(object).where(groups.notna(), MISSING_LABEL).map(str).to_numpy(dtype=object)
    if not len(t) == len(e) == len(labels):
        raise ValueError(f"time, event and groups must have the same length, got {len(t)}, {len(e)}, {len(labels)}")
    # room for the legend: group names (e.g. subtype names with markers and ranks) can be long
    longest = max((len(str(v)) for v in set(labels)), default=0)
    fig = new_figure(max(7.0, 2.5 + 0.09 * (longest + 32)), 5.0)
    ax = fig.add_subplot()
    for label in sorted(set(labels), key=lambda v: (v == MISSING_LABEL, v)):
        mask = labels == label
        times, surv = kaplan_meier_estimator(e[mask], t[mask])
        # Start every curve at (0, 1) so that groups whose first event is late are drawn correctly.
        ax.step(np.r_[0.0, times], np.r_[1.0, surv], where="post",
                label=f"{label} (n at risk={int(mask.sum())}, events={int(e[mask].sum())})")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_xlabel("Time from baseline (months)")
    ax.set_ylabel("Event-free survival (probability)")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize="small")
    return fig


def subtype_profile_plot(profile: pd.DataFrame, *, standardise: bool = True,
                         units: Mapping[str, str] | None = None) -> Figure:
    """Heatmap of feature medians per subtype.

    Parameters
    ----------
    profile : DataFrame
        One row per subtype (the index holds the subtype names) and one numeric column per feature, holding the
        subtype's median in the feature's canonical unit. Infinite values (e.g. a Kaplan–Meier median that was not
        reached) are annotated "not reached" and left uncoloured; NaN as "n/a".
    standardise : bool, default True
        Colour by column-standardised medians ((median − mean over subtypes) / SD over subtypes; SD units), so that
        features in different units share one scale. Cells are always annotated with the raw median.
    units : mapping of str to str, optional
        Feature name → unit, appended to the column labels (e.g. ``"nfl_serum_pg_ml (pg/mL)"``).

    Returns
    -------
    Figure
        One heatmap axes plus its colour bar (two axes).
    """
    values = profile.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if values.size == 0:
        raise ValueError("profile is empty: need at least one subtype and one feature")
    colour = values
    if standardise:
        colour = np.full_like(values, np.nan)
        for j in range(values.shape[1]):
            col = values[:, j]
            seen = col[np.isfinite(col)]
            if seen.size:
                # A feature equal in every subtype carries no contrast: centre it and leave it at 0 SD.
                sd = float(seen.std()) if seen.size > 1 and seen.std() > 0 else 1.0
                colour[:, j] = (col - seen.mean()) / sd
    n_sub, n_feat = values.shape
    # Subtype names can be long (markers and, where decline and survival disagree, both ranks): room for them.
    longest = max((len(str(i)) for i in profile.index), default=0)
    fig = new_figure(max(6.0, 0.8 * n_feat + 2.5 + 0.075 * longest), max(3.0, 0.6 * n_sub + 2.0))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(colour), cmap="RdBu_r", aspect="auto",
                      vmin=-2 if standardise else None, vmax=2 if standardise else None)
    units = units or {}
    ax.set_xticks(range(n_feat), [f"{c} ({units[c]})" if c in units else str(c) for c in profile.columns],
                  rotation=45, ha="right")
    ax.set_yticks(range(n_sub), [str(i) for i in profile.index])
    for i in range(n_sub):
        for j in range(n_feat):
            v = values[i, j]
            text = f"{v:.3g}" if np.isfinite(v) else ("not reached" if v == np.inf else "n/a")
            ax.text(j, i, text, ha="center", va="center", fontsize="x-small")
    ax.set_xlabel("Feature (median per subtype, canonical unit)")
    ax.set_ylabel("Subtype")
    ax.set_title("Subtype profiles")
    fig.colorbar(image, ax=ax, label="Standardised median (SD across subtypes)" if standardise else "Median")
    return fig


def importance_plot(names: Sequence[str], mean_abs_contrib: Any, top: int = 15, *,
                    unit: str = "model output units") -> Figure:
    """Horizontal bar chart of the ``top`` features by mean absolute contribution.

    Parameters
    ----------
    names : sequence of str
        Feature names.
    mean_abs_contrib : array-like of shape (len(names),)
        Mean |contribution| per feature (e.g. mean |SHAP value|), in the model's output unit.
    top : int, default 15
        Number of features shown (largest first, from the top).
    unit : str, default "model output units"
        Unit of the contributions, e.g. ``"points/month"`` for the slope model or ``"log hazard"``.

    Returns
    -------
    Figure
        One axes with ``min(top, len(names))`` bars.
    """
    values = np.asarray(mean_abs_contrib, dtype=float)
    if values.ndim != 1 or len(values) != len(names):
        raise ValueError(f"mean_abs_contrib must be 1-D with one value per name ({len(names)}), got {values.shape}")
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")[:top]
    fig = new_figure(7.0, max(3.0, 0.35 * len(order) + 1.5))
    ax = fig.add_subplot()
    ax.barh(range(len(order)), values[order][::-1], color="tab:blue")
    ax.set_yticks(range(len(order)), [str(names[i]) for i in order][::-1])
    ax.set_xlabel(f"Mean |contribution| ({unit})")
    ax.set_ylabel("Feature")
    ax.set_title(f"Top {len(order)} features by mean absolute contribution")
    return fig
