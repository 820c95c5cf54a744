"""Distribution shift between two cohorts: the population stability index of each baseline field.

Run comparison (:mod:`training.audit.compare`) reports it beside the metrics, so that a change in a metric can be
read against a change in the patients. Everything returned is an aggregate (an index, a share, a quantile
summary); no patient-level value leaves this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features import spec as S
from training.evaluation.bootstrap import json_float

SHIFT_FIELDS: tuple[str, ...] = tuple(n for n in S.BASELINE_NAMES if n not in S.ALSFRS_ITEMS)
"""Baseline fields whose distribution shift is reported (the 12 ALSFRS-R items are summarised by the total)."""


PSI_EPSILON = 1e-4
"""Floor of a bin's share in the PSI (an empty bin would make the logarithm infinite)."""


def psi_level(value: float) -> str:
    """Conventional reading of the population stability index: <0.1 none, 0.1-0.25 moderate, >=0.25 major."""
    if not math.isfinite(value):
        return "n/a"
    return "none" if value < 0.1 else ("moderate" if value < 0.25 else "major")


def population_stability_index(a: pd.Series, b: pd.Series, *, numeric: bool, bins: int = 10) -> float:
    """PSI of ``b`` against the reference ``a``: sum over bins of (q - p) * ln(q / p).

    Numeric fields are binned at the deciles of ``a`` (ties merged); categories are their own bins. Missing values
    form a bin of their own in both cases, so a change in missingness counts as shift.
    """
    if numeric:
        xa, xb = a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
        seen = xa[~np.isnan(xa)]
        edges = np.unique(np.quantile(seen, np.linspace(0, 1, bins + 1)[1:-1])) if seen.size else np.empty(0)

        def codes(x: np.ndarray) -> np.ndarray:
            c = np.searchsorted(edges, x, side="right").astype(float)
            c[np.isnan(x)] = -1
            return c
        ca, cb = codes(xa), codes(xb)
    else:
        ca = a.astype(object).where(a.notna(), "<missing>").map(str).to_numpy(dtype=object)
        cb = b.astype(object).where(b.notna(), "<missing>").map(str).to_numpy(dtype=object)
    levels = sorted(set(ca.tolist()) | set(cb.tolist()), key=str)
    if not levels or len(ca) == 0 or len(cb) == 0:
        return math.nan
    p = np.array([(ca == v).mean() for v in levels])
    q = np.array([(cb == v).mean() for v in levels])
    p, q = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def _summary(series: pd.Series, numeric: bool) -> str:
    if numeric:
        x = series.to_numpy(dtype=float, na_value=np.nan)
        x = x[~np.isnan(x)]
        if x.size == 0:
            return "all missing"
        q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
        return f"median {med:.3g} (IQR {q1:.3g}-{q3:.3g})"
    shares = series.astype(object).where(series.notna(), "missing").map(str).value_counts(normalize=True)
    return ", ".join(f"{k} {100 * v:.0f} %" for k, v in shares.head(4).items())


def distribution_shift(table_a: pd.DataFrame, table_b: pd.DataFrame,
                       fields: Sequence[str] = SHIFT_FIELDS) -> list[dict[str, Any]]:
    """PSI (B against A), missing shares and a summary per baseline field, largest shift first."""
    rows = []
    for name in fields:
        if name not in table_a.columns or name not in table_b.columns:
            continue
        f = S.baseline_field(name)
        numeric = f.kind in ("numeric", "integer")
        a, b = table_a[name], table_b[name]
        if f.kind == "boolean":
            a, b = a.astype("boolean").astype(object), b.astype("boolean").astype(object)
        value = population_stability_index(a, b, numeric=numeric)
        rows.append({"feature": name, "unit": f.unit or "", "psi": json_float(value), "level": psi_level(value),
                     "missing_a": float(a.isna().mean()), "missing_b": float(b.isna().mean()),
                     "summary_a": _summary(a, numeric), "summary_b": _summary(b, numeric)})
    return sorted(rows, key=lambda r: -(r["psi"] if r["psi"] is not None else -1.0))
