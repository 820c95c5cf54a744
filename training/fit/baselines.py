"""Baselines trained and evaluated on the same split as the models.

* Slope: linear regression on the ΔFRS pre-slope, (scale max - ALSFRS-R) / months since onset (Kimura 2006;
  Labra 2016) — what a clinician can compute at the bedside.
* Survival: a Cox model on the ENCALS predictors only (Westeneng et al., Lancet Neurol 2018), with the ENCALS
  non-linear transforms (coefficients refitted here, not copied): age at onset, diagnostic delay, ΔFRS, FVC,
  bulbar onset, definite El Escorial, FTD, C9orf72. No biomarkers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

ENCALS_PREDICTORS = ("t_age", "t_delay", "t_slope", "t_fvc", "bulbar", "definite_el_escorial", "ftd", "c9orf72")


def delta_frs(frame: pd.DataFrame, scale_max: int) -> np.ndarray:
    """ΔFRS pre-slope, points/month: (scale max - ALSFRS-R total) / months since onset (NaN when undefined)."""
    months = frame["months_since_onset"].to_numpy(dtype=float)
    total = frame["alsfrs_r_total"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (scale_max - total) / months
    return np.where(months > 0, out, np.nan)


@dataclass
class SlopeBaseline:
    """Linear regression of the slope on the ΔFRS pre-slope (missing ΔFRS imputed with the training median)."""

    scale_max: int
    model: Pipeline | None = None

    def fit(self, frame: pd.DataFrame, y: np.ndarray) -> SlopeBaseline:
        x = delta_frs(frame, self.scale_max).reshape(-1, 1)
        self.model = make_pipeline(SimpleImputer(strategy="median"), LinearRegression()).fit(x, y)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.model is not None, "fit first"
        return np.asarray(self.model.predict(delta_frs(frame, self.scale_max).reshape(-1, 1)))


def encals_predictors(frame: pd.DataFrame, scale_max: int) -> pd.DataFrame:
    """The ENCALS transformed predictors (Westeneng 2018; transforms as in the published linear predictor).

    tAGE = (age/100)^-2; tDX = (delay/10)^-0.5 + ln(delay/10); tSL = (ΔFRS + 0.1)^-0.5 with ΔFRS rescaled to
    the 0-48 scale; tVC = (FVC/100)^-1 + (FVC/100)^-0.5. Missing inputs stay missing (imputed by the model).
    """
    age = frame["age_at_onset_years"].to_numpy(dtype=float)
    delay = np.clip(frame["diagnostic_delay_months"].to_numpy(dtype=float), 0.1, None)
    dfrs = np.clip(delta_frs(frame, scale_max) * 48.0 / scale_max, 0.0, None)
    fvc = np.clip(frame["fvc_pct_pred"].to_numpy(dtype=float), 5.0, None)
    return pd.DataFrame({
        "t_age": (age / 100) ** -2,
        "t_delay": (delay / 10) ** -0.5 + np.log(delay / 10),
        "t_slope": (dfrs + 0.1) ** -0.5,
        "t_fvc": (fvc / 100) ** -1 + (fvc / 100) ** -0.5,
        "bulbar": (frame["onset_site"] == "bulbar").astype(float).to_numpy(),
        "definite_el_escorial": _flag(frame["el_escorial"], "definite"),
        "ftd": _flag(frame["ftd"], "yes"),
        "c9orf72": _flag(frame["c9orf72"], "positive"),
    }, index=frame.index)


def _flag(series: pd.Series, positive: str) -> np.ndarray:
    """1 for the positive category, 0 for any other known value, NaN when missing or 'unknown'."""
    values = series.astype("string")
    out = np.where(values == positive, 1.0, 0.0)
    unknown = values.isna() | (values == "unknown")
    return np.where(unknown.to_numpy(dtype=bool), np.nan, out)


@dataclass
class SurvivalBaseline:
    """Cox proportional hazards on the ENCALS predictors (median-imputed, standardised, light ridge penalty)."""

    scale_max: int
    model: Pipeline | None = None

    def fit(self, frame: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> SurvivalBaseline:
        x = encals_predictors(frame, self.scale_max)
        # keep_empty_features: a predictor unknown for everyone (e.g. C9orf72 in PRO-ACT) stays a constant column
        self.model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                                   CoxPHSurvivalAnalysis(alpha=1e-2))
        self.model.fit(x.to_numpy(), Surv.from_arrays(event=event, time=time))
        return self

    def risk(self, frame: pd.DataFrame) -> np.ndarray:
        assert self.model is not None, "fit first"
        return np.asarray(self.model.predict(encals_predictors(frame, self.scale_max).to_numpy()))
