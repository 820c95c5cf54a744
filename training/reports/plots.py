"""Evaluation figures for the training job: calibration, Kaplan–Meier curves, subtype profiles, importances.

Every function builds its figure with :func:`training.reports.figures.new_figure` (its own Agg canvas, no pyplot
state, no backend change), so importing this module has no side effects and the functions are safe to call from a
headless training job or from tests. Save with :func:`figure_png` or hand the figure to ``mlflow.log_figure``.

Units: ALSFRS-R slope in points/month; time in months from the model's time origin (its landmark); probabilities
in [0, 1]. Kaplan–Meier curves are drawn by lifelines, with confidence bands and numbers at risk.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from training.evaluation.metrics import MISSING_LABEL, linear_calibration
from training.reports.figures import figure_png as figure_png  # re-exported: callers save figures from here
from training.reports.figures import new_figure

_SURV_COLUMNS = ("pred_surv", "obs_surv", "obs_lower", "obs_upper", "n")


LEGEND_WRAP = 40
"""Characters per line of a legend entry (long subtype names wrap instead of widening the figure)."""


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


def km_plot(time: Any, event: Any, groups: pd.Series, title: str, *,
            time_origin: str = "months from day 0") -> Figure:
    """Kaplan–Meier curves of event-free survival per group, with 95 % confidence bands and numbers at risk.

    The estimates come from lifelines' ``KaplanMeierFitter``: the survival function and its pointwise 95 %
    confidence band (exponential Greenwood), drawn as a step line with a shaded band and censoring ticks. Drawing
    is done here on the figure's own axes rather than by ``plot_survival_function``, because lifelines' plotting
    imports pyplot (these figures never touch pyplot's global state, see :mod:`training.reports.figures`). The
    numbers at risk (patients still followed at each time tick, ``time >= tick``) are written in a row per group
    under the time axis; ``lifelines.plotting.add_at_risk_counts`` would draw them too, but besides pyplot it
    converts a one-element array with ``int()``, which numpy 2.4 refuses (TypeError). The legend sits to the right
    of the axes, so it never covers a curve.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up (months from the time origin).
    event : array-like of shape (n,)
        True if the composite endpoint (death, tracheostomy, permanent NIV) was observed.
    groups : Series of length n
        Group label per patient (by position); missing labels form a ``"missing"`` group.
    title : str
        Axes title.
    time_origin : str, default "months from day 0"
        The time axis in words, e.g. the model's landmark ``"months from the scoring visit (day 0)"``.

    Returns
    -------
    Figure
        Two axes: the survival curves (one curve and band per group; legend entries give each group's patients and
        events) and, below, the numbers at risk per group at the time ticks.
    """
    from lifelines import KaplanMeierFitter

    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    labels = groups.astype(object).where(groups.notna(), MISSING_LABEL).map(str).to_numpy(dtype=object)
    if not len(t) == len(e) == len(labels):
        raise ValueError(f"time, event and groups must have the same length, got {len(t)}, {len(e)}, {len(labels)}")
    names = sorted(set(labels), key=lambda v: (v == MISSING_LABEL, v))
    # Group names can be long (subtype names with markers and, where decline and survival disagree, both ranks):
    # the legend wraps them, and the figure widens a little for them rather than squeezing the axes.
    longest = min(max((len(v) for v in names), default=0), LEGEND_WRAP)
    fig = new_figure(max(9.0, 6.0 + 0.075 * (longest + 24)), 4.8 + 0.3 * len(names))
    grid = fig.add_gridspec(2, 1, height_ratios=[4.0, 0.3 * len(names) + 0.4])
    ax = fig.add_subplot(grid[0])
    at_risk = fig.add_subplot(grid[1])
    for label in names:
        mask = labels == label
        kmf = KaplanMeierFitter(label="km").fit(t[mask], e[mask], alpha=0.05)
        times = kmf.survival_function_.index.to_numpy(dtype=float)
        surv = kmf.survival_function_["km"].to_numpy(dtype=float)
        band = kmf.confidence_interval_survival_function_
        (line,) = ax.step(times, surv, where="post",
                          label=textwrap.fill(f"{label} (n={int(mask.sum())}, events={int(e[mask].sum())})",
                                              LEGEND_WRAP))
        ax.fill_between(times, band["km_lower_0.95"].to_numpy(dtype=float),
                        band["km_upper_0.95"].to_numpy(dtype=float), step="post", alpha=0.2,
                        color=line.get_color(), linewidth=0)
        censored = t[mask & ~e]
        ax.plot(censored, kmf.survival_function_at_times(censored).to_numpy(dtype=float), linestyle="none",
                marker="|", markersize=5, color=line.get_color())
    t_max = float(t.max()) if t.size else 1.0
    ax.set_xlim(0, t_max * 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"Time ({time_origin})")
    ax.set_ylabel("Event-free survival (probability)")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small",
              title="group (shaded: 95 % CI)", title_fontsize="small")
    ticks = [float(x) for x in ax.get_xticks() if 0 <= x <= t_max]
    for row, label in enumerate(names):
        followed = t[labels == label]
        for tick in ticks:
            at_risk.text(tick, row, f"{int((followed >= tick).sum()):,}", ha="center", va="center",
                         fontsize="small")
    at_risk.set_xlim(ax.get_xlim())
    at_risk.set_yticks(range(len(names)), names, fontsize="small")
    at_risk.set_ylim(len(names) - 0.5, -0.5)
    at_risk.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    at_risk.tick_params(axis="y", length=0, pad=18)  # clear of the counts at time 0
    for spine in at_risk.spines.values():
        spine.set_visible(False)
    at_risk.set_title("Number at risk", loc="left", fontsize="small")
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
        One heatmap axes (a row per feature, a column per subtype) plus its colour bar (two axes).
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
    # Features run down the rows and subtypes across the columns: a card lists 15-20 features, and as columns
    # they made the figure wider than the page (shrunk to unreadable text). The size follows the table's shape,
    # capped at 9.5 inches wide (about the width of the report's text column at 120 dpi); long subtype names are
    # wrapped under their column.
    fig = new_figure(min(9.5, 4.5 + 1.4 * n_sub), max(3.0, 0.36 * n_feat + 2.0))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(colour.T), cmap="RdBu_r", aspect="auto",
                      vmin=-2 if standardise else None, vmax=2 if standardise else None)
    units = units or {}
    ax.set_yticks(range(n_feat), [f"{c} ({units[c]})" if c in units else str(c) for c in profile.columns],
                  fontsize="small")
    ax.set_xticks(range(n_sub), [textwrap.fill(str(i), 24) for i in profile.index], rotation=20, ha="right",
                  fontsize="small")
    for i in range(n_sub):
        for j in range(n_feat):
            v = values[i, j]
            text = f"{v:.3g}" if np.isfinite(v) else ("not reached" if v == np.inf else "n/a")
            ax.text(i, j, text, ha="center", va="center", fontsize="x-small")
    ax.set_ylabel("Feature (median per subtype, canonical unit)")
    ax.set_xlabel("Subtype")
    ax.set_title("Subtype profiles (cells: median; colour: standardised)", fontsize="medium")
    fig.colorbar(image, ax=ax, shrink=0.8,
                 label="Standardised median (SD units across subtypes)" if standardise else "Median (feature unit)")
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
