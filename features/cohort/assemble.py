"""Stage 1, assembly: validated raw tables -> the cohort table (one row per patient) at a landmark, and its report.

This module owns the as-of aggregation at the prediction landmark L (:data:`features.spec.LANDMARKS`). Only
records on or before L feed baseline fields; outcomes are counted from L (see ``docs/cohort.md``):

- history fields (onset, diagnostic delay) use patient-level days up to L;
- measurements (ALSFRS-R, FVC, weight, biomarkers) use the record nearest day 0 in the landmark's measurement
  window (screening: days [-91, 0]; lead-in: [0, 91]); series fields (baseline slopes, changes) use the
  lead-in window [0, 91] and exist only at the lead-in landmark;
- the slope outcome uses visits in the landmark's slope window (screening: [0, 365]; lead-in: (91, 365]); the
  survival outcome is the time from L to the first endpoint or, when censored, to the latest contact day in any
  table. A patient whose endpoint or censoring falls at or before L has no survival outcome at L (reported): who
  lived to a later visit must not leak into a prediction made before it.

Every patient of the ``patients`` table is kept, in its order. Every raw record is either used, counted as
lying outside the windows, or listed in the report as excluded with its reason: nothing is dropped silently.
The work is vectorised (integer patient codes and grouped reductions), never a Python loop per patient.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import spec as S
from features.cohort import targets
from features.cohort.table import Cohort, ExcludedRecord, ImportReport, cohort_dtype
from features.errors import FeatureDataError, Violation

if TYPE_CHECKING:
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

__all__ = ["ALSFRS_SCALES", "build_cohort", "nearest_to_day0"]

ALSFRS_SCALES = (40, 48)
"""ALSFRS-R (12 items, 0-48) or the legacy ALSFRS (10 items, 0-40)."""

# Reasons written into the report. Kept as constants so that the exclusion summary groups them and tests can
# refer to them without copying text.
REASON_UNKNOWN_PATIENT = "patient_id not found in patients"
REASON_NO_DAY = "day is missing"
REASON_DUPLICATE_VISIT = "duplicate visit day for this patient (ambiguous: every copy left out)"
REASON_EMPTY_VISIT = "no usable measurement (no ALSFRS-R total or complete items, no FVC, no weight)"
REASON_NO_FIELD = "no cohort field for this analyte and matrix"
REASON_UNKNOWN_ANALYTE = "unknown analyte or matrix"
REASON_UNKNOWN_UNIT = "unknown unit for this analyte"
REASON_BAD_VALUE = "value missing or not positive"
REASON_EVENT_BEFORE_DAY0 = "endpoint before day 0"
REASON_SURVIVAL_AT_LANDMARK = "endpoint or censoring at or before the landmark: no survival outcome"
REASON_UNKNOWN_EVENT = "not an endpoint of the composite (death, tracheostomy, permanent_niv)"


def nearest_to_day0(groups: NDArray[np.intp], days: NDArray[np.float64], n_groups: int) -> NDArray[np.float64]:
    """The day nearest to day 0 per group (ties between -d and +d go to the earlier day, -d).

    Parameters
    ----------
    groups : ndarray of int, shape (n_records,)
        Group code of each record, in ``[0, n_groups)``.
    days : ndarray of float, shape (n_records,)
        Whole days relative to day 0 (no missing values).
    n_groups : int
        Number of groups.

    Returns
    -------
    ndarray of float, shape (n_groups,)
        The chosen day per group, NaN for a group without records.

    Examples
    --------
    >>> nearest_to_day0(np.array([0, 0, 0, 1]), np.array([5.0, -3.0, 3.0, 40.0]), 3)
    array([-3., 40., nan])
    """
    # One sortable integer key per record: 2|d| orders by distance, +1 for d > 0 makes the earlier day win ties.
    key = 2 * np.abs(days) + (days > 0)
    best = np.full(n_groups, np.inf)
    np.minimum.at(best, groups, key)
    found = np.isfinite(best)
    distance = np.floor(best[found] / 2)
    out = np.full(n_groups, np.nan)
    out[found] = np.where(best[found] % 2 == 1, distance, -distance)
    return out


def build_cohort(
    tables: Mapping[str, pd.DataFrame],
    *,
    source: str,
    report: ImportReport | None = None,
    alsfrs_scale: int = 48,
    landmark: str = S.DEFAULT_LANDMARK,
) -> Cohort:
    """Assemble the cohort table (one row per patient) from typed, validated raw tables.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        ``patients``, ``visits``, ``biomarkers`` and ``events`` as returned by
        :func:`features.contracts.validate_tables` (an optional ``truth`` table is ignored here).
    source : str
        Dataset source name recorded with the cohort (``native``, ``synthetic``, ``proact`` ...).
    report : ImportReport, optional
        An importer's report to extend (e.g. PRO-ACT mapping exclusions); a new one is made otherwise.
    alsfrs_scale : {48, 40}, default 48
        ALSFRS-R (0-48) or legacy ALSFRS (0-40). Totals are taken as given; a total above the scale is an error.
    landmark : {"screening", "lead-in"}, default "screening"
        The prediction time L (:data:`features.spec.LANDMARKS`): what the baseline fields may use and where the
        outcomes start.

    Returns
    -------
    Cohort
        ``table`` has one row per patient in ``patients`` order and exactly the columns of
        :data:`features.spec.COHORT_FIELDS` with the dtypes of :func:`features.cohort.table.cohort_dtype`.
        ``report`` carries the counts (keys described in ``docs/cohort.md``), every excluded record with its
        reason, and notes.

    Raises
    ------
    ValueError
        For an ``alsfrs_scale`` other than 40 or 48, or an unknown landmark.
    FeatureDataError
        When a table or column is missing, ``patient_id`` is not unique in ``patients``, or an ALSFRS total
        exceeds ``alsfrs_scale`` (every violation listed).
    """
    if alsfrs_scale not in ALSFRS_SCALES:
        raise ValueError(f"alsfrs_scale must be one of {ALSFRS_SCALES}, got {alsfrs_scale!r}")
    at = S.landmark(landmark)
    _check_inputs(tables)
    if report is None:
        report = ImportReport(source=source)
    builder = _Assembly(tables, report, alsfrs_scale, at)
    table = builder.run()
    return Cohort(table=table, source=source, alsfrs_scale=alsfrs_scale, report=report, landmark=at.name)


def _check_inputs(tables: Mapping[str, pd.DataFrame]) -> None:
    violations: list[Violation] = []
    for name, tspec in S.RAW_TABLES.items():
        if name not in tables:
            violations.append(Violation(name, None, None, "required table is missing"))
            continue
        for column in tspec.names:
            if column not in tables[name].columns:
                violations.append(Violation(name, None, column, "required column is missing"))
    if not violations:
        # Assembly reads typed tables; text columns where numbers belong mean the contract was skipped.
        for name, tspec in S.RAW_TABLES.items():
            for f in tspec.fields:
                dtype = tables[name][f.name].dtype
                if f.kind in ("numeric", "integer") and not pd.api.types.is_numeric_dtype(dtype):
                    violations.append(Violation(name, None, f.name, f"must have a numeric dtype, got {dtype}"))
    if not violations:
        pid = tables["patients"]["patient_id"]
        for idx in np.flatnonzero((pid.duplicated(keep=False) | pid.isna()).to_numpy()):
            rule = "required value is missing" if pd.isna(pid.iloc[idx]) else "duplicate patient_id"
            violations.append(Violation("patients", int(idx) + 1, "patient_id", rule, pid.iloc[idx]))
    if violations:
        raise FeatureDataError(violations, context="cohort assembly (validate the raw tables first)")


def _floats(series: pd.Series) -> NDArray[np.float64]:
    return series.to_numpy(dtype="float64", na_value=np.nan)


class _Assembly:
    """One assembly run: holds the patient index, the output columns and the report while it is built."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], report: ImportReport, alsfrs_scale: int,
                 landmark: S.Landmark) -> None:
        self.landmark = landmark
        self.patients = tables["patients"].reset_index(drop=True)
        self.visits = tables["visits"].reset_index(drop=True)
        self.biomarkers = tables["biomarkers"].reset_index(drop=True)
        self.events = tables["events"].reset_index(drop=True)
        self.has_truth = "truth" in tables
        self.report = report
        self.alsfrs_scale = alsfrs_scale
        self.ids = pd.Index(self.patients["patient_id"].astype("string").to_numpy(dtype=object))
        self.n = len(self.patients)
        self.height_cm = _floats(self.patients["height_cm"])
        # Integer patient code (-1 = unknown patient) and day of every record, computed once per table.
        self.codes = {
            name: self._codes(frame["patient_id"])
            for name, frame in (("visits", self.visits), ("biomarkers", self.biomarkers), ("events", self.events))
        }
        self.days = {
            name: _floats(frame["day"])
            for name, frame in (("visits", self.visits), ("biomarkers", self.biomarkers), ("events", self.events))
        }
        self.out: dict[str, Any] = {}  # column name -> ndarray or Series
        self.counts: dict[str, int] = {}
        self.excluded: list[ExcludedRecord] = []
        # Every (patient code, day) that shows the patient was in contact: the censoring day is their maximum.
        self.contact_codes: list[NDArray[np.intp]] = []
        self.contact_days: list[NDArray[np.float64]] = []

    # ---------------------------------------------------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        self.counts["patients_read"] = self.n
        self._history()
        v_ok, v_codes, v_days, v_total = self._visits()
        self._biomarkers()
        self._events_and_survival()
        self._slope_outcome(v_ok, v_codes, v_days, v_total)
        self._check_bounds()
        table = self._frame()
        self.counts["patients_in_cohort"] = len(table)
        self._finish_report()
        return table

    def _codes(self, pid: pd.Series) -> NDArray[np.intp]:
        """Row of each record's patient in ``patients`` (-1 for an unknown or missing patient_id)."""
        # Factorise first so the hash lookup runs once per distinct patient, not once per record.
        codes, uniques = _factorize(pid)
        lookup = np.append(self.ids.get_indexer(uniques), -1).astype(np.intp)
        return lookup[codes]

    def _exclude(self, table: str, mask: NDArray[np.bool_], pid: pd.Series, reason: str) -> None:
        rows = np.flatnonzero(mask)
        if rows.size == 0:
            return
        ids = pid.iloc[rows]
        missing = ids.isna().to_numpy()
        self.excluded.extend(
            ExcludedRecord(table, r + 1, None if m else str(p), reason)
            for r, p, m in zip(rows.tolist(), ids.to_numpy(dtype=object).tolist(), missing.tolist(), strict=True)
        )

    # ---------------------------------------------------------------------------------------------------------
    def _history(self) -> None:
        p = self.patients
        # Patient-level fields are copied as recorded (the contract already checked their values).
        for name in ("age_at_onset_years", "sex", "onset_site", "c9orf72", "el_escorial", "ftd", "riluzole"):
            self.out[name] = p[name]
        onset = _floats(p["onset_day"])
        diagnosis = _floats(p["diagnosis_day"])
        # History fields may only use what is known at the landmark: a diagnosis recorded after L would leak
        # follow-up into a baseline field, so the delay is left missing.
        late = diagnosis > self.landmark.day
        self.counts["patients_diagnosis_after_landmark"] = int(late.sum())
        diagnosis = np.where(late, np.nan, diagnosis)
        self.out["months_since_onset"] = (0.0 - onset) / S.DAYS_PER_MONTH
        self.out["diagnostic_delay_months"] = (diagnosis - onset) / S.DAYS_PER_MONTH
        self.contact_codes.append(np.arange(self.n, dtype=np.intp))
        self.contact_days.append(_floats(p["last_contact_day"]))

    # ---------------------------------------------------------------------------------------------------------
    def _visits(self) -> tuple[NDArray[np.bool_], NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
        v = self.visits
        n = self.n
        pid = v["patient_id"]
        codes, days = self.codes["visits"], self.days["visits"]
        total = _floats(v["alsfrs_r_total"])
        items = v[list(S.ALSFRS_ITEMS)].to_numpy(dtype="float64", na_value=np.nan)
        # The total is the recorded one, or the item sum when it is absent and all 12 items are present.
        complete_items = ~np.isnan(items).any(axis=1)
        derived = np.isnan(total) & complete_items
        total = np.where(derived, items.sum(axis=1), total)
        fvc = _floats(v["fvc_pct_pred"])
        weight = _floats(v["weight_kg"])
        has_total, has_fvc, has_weight = ~np.isnan(total), ~np.isnan(fvc), ~np.isnan(weight)

        over = has_total & (total > self.alsfrs_scale)
        if over.any():
            raise FeatureDataError(
                [
                    Violation(
                        "visits",
                        int(i) + 1,
                        "alsfrs_r_total",
                        f"must be within [0, {self.alsfrs_scale}] for an ALSFRS scale of {self.alsfrs_scale}",
                        float(total[i]),
                    )
                    for i in np.flatnonzero(over)
                ],
                context="cohort assembly",
            )

        unknown = codes < 0
        no_day = ~unknown & np.isnan(days)
        placed = ~unknown & ~no_day
        # Visits are keyed by (patient, day); two rows for one day cannot be told apart, so neither is used.
        key = pd.DataFrame({"c": codes, "d": days})
        duplicate = placed & key.duplicated(keep=False).to_numpy()
        empty = placed & ~duplicate & ~(has_total | has_fvc | has_weight)
        for mask, reason in (
            (unknown, REASON_UNKNOWN_PATIENT),
            (no_day, REASON_NO_DAY),
            (duplicate, REASON_DUPLICATE_VISIT),
            (empty, REASON_EMPTY_VISIT),
        ):
            self._exclude("visits", mask, pid, reason)
        ok = placed & ~duplicate & ~empty
        # Any placed visit shows the patient was seen that day, even one that feeds no field.
        self.contact_codes.append(codes[placed])
        self.contact_days.append(days[placed])

        first, last = self.landmark.measurement_window
        base = ok & (days >= first) & (days <= last)
        series_first, series_last = self.landmark.series_window or (first, last)
        at_or_before = ok & (days >= min(first, series_first)) & (days <= self.landmark.day)
        self.counts.update(
            {
                "visits_read": len(v),
                "visits_excluded": int((unknown | no_day | duplicate | empty).sum()),
                "visits_before_window": int((ok & (days < min(first, series_first))).sum()),
                "visits_used_baseline": int(at_or_before.sum()),
                "visits_after_landmark": int((ok & (days > self.landmark.day)).sum()),
                "visits_total_from_items": int((derived & ok).sum()),
                "visits_items_incomplete_without_total": int(
                    (ok & np.isnan(total) & ~np.isnan(items).all(axis=1)).sum()
                ),
            }
        )

        # ALSFRS-R: total and items from the one visit nearest day 0 that has a total.
        sel = base & has_total
        row = self._nearest_row(codes, days, sel)
        found = row >= 0
        alsfrs_total = np.full(n, np.nan)
        alsfrs_total[found] = total[row[found]]
        self.out["alsfrs_r_total"] = alsfrs_total
        for j, item in enumerate(S.ALSFRS_ITEMS):
            column = np.full(n, np.nan)
            column[found] = items[row[found], j]
            self.out[item] = column
        self.out["fvc_pct_pred"] = self._nearest_value(codes, days, fvc, base & has_fvc)
        baseline_weight = self._nearest_value(codes, days, weight, base & has_weight)
        self.out["bmi"] = baseline_weight / (self.height_cm / 100.0) ** 2

        # Series fields need several visits of a lead-in window; a landmark without one (screening) has none.
        for name in ("alsfrs_r_slope_baseline", "fvc_slope_baseline", "fvc_change_pct", "weight_slope_baseline",
                     "weight_change_pct"):
            self.out[name] = np.full(n, np.nan)
        if self.landmark.series_window is not None:
            series = ok & (days >= series_first) & (days <= series_last)
            sel = series & has_total
            self.out["alsfrs_r_slope_baseline"] = targets.grouped_ols_slope_per_month(
                codes[sel], days[sel], total[sel], n)
            sel = series & has_fvc
            self.out["fvc_slope_baseline"] = targets.grouped_ols_slope_per_month(codes[sel], days[sel], fvc[sel], n)
            # relative change, so sources that record FVC in litres (DREAM-2012) give the same quantity
            self.out["fvc_change_pct"] = _change_pct(codes[sel], days[sel], fvc[sel], n)
            sel = series & has_weight
            self.out["weight_slope_baseline"] = targets.grouped_ols_slope_per_month(
                codes[sel], days[sel], weight[sel], n)
            self.out["weight_change_pct"] = _change_pct(codes[sel], days[sel], weight[sel], n)
        return ok, codes, days, total

    def _nearest_row(
        self, codes: NDArray[np.intp], days: NDArray[np.float64], sel: NDArray[np.bool_]
    ) -> NDArray[np.intp]:
        """Row index of the selected record nearest day 0 per patient (-1 when none); days unique per patient."""
        best = nearest_to_day0(codes[sel], days[sel], self.n)
        rows = np.flatnonzero(sel)
        chosen = rows[days[rows] == best[codes[rows]]]
        out = np.full(self.n, -1, dtype=np.intp)
        out[codes[chosen]] = chosen
        return out

    def _nearest_value(
        self, codes: NDArray[np.intp], days: NDArray[np.float64], values: NDArray[np.float64], sel: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        row = self._nearest_row(codes, days, sel)
        out = np.full(self.n, np.nan)
        out[row >= 0] = values[row[row >= 0]]
        return out

    # ---------------------------------------------------------------------------------------------------------
    def _biomarkers(self) -> None:
        b = self.biomarkers
        n = self.n
        pid = b["patient_id"]
        codes, days = self.codes["biomarkers"], self.days["biomarkers"]
        value = _floats(b["value"])
        a_code = _vocabulary_codes(b["analyte"], S.ANALYTES)
        m_code = _vocabulary_codes(b["matrix"], S.MATRICES)

        fields = list(S.BIOMARKER_FIELDS)
        lookup = np.full((len(S.ANALYTES), len(S.MATRICES)), -1, dtype=np.intp)
        for k, f in enumerate(fields):
            lookup[S.ANALYTES.index(str(f.analyte)), S.MATRICES.index(str(f.matrix))] = k
        known_pair = (a_code >= 0) & (m_code >= 0)
        field = np.where(known_pair, lookup[np.maximum(a_code, 0), np.maximum(m_code, 0)], -1)
        factor = _unit_factors(a_code, b["unit"])

        unknown = codes < 0
        no_day = ~unknown & np.isnan(days)
        placed = ~unknown & ~no_day
        bad_pair = placed & ~known_pair
        no_field = placed & known_pair & (field < 0)
        bad_unit = placed & (field >= 0) & np.isnan(factor)
        bad_value = placed & (field >= 0) & ~bad_unit & ~(value > 0)
        for mask, reason in (
            (unknown, REASON_UNKNOWN_PATIENT),
            (no_day, REASON_NO_DAY),
            (bad_pair, REASON_UNKNOWN_ANALYTE),
            (no_field, REASON_NO_FIELD),
            (bad_unit, REASON_UNKNOWN_UNIT),
            (bad_value, REASON_BAD_VALUE),
        ):
            self._exclude("biomarkers", mask, pid, reason)
        if no_field.any():
            distinct = np.unique(a_code[no_field] * len(S.MATRICES) + m_code[no_field])
            pairs = [f"{S.ANALYTES[k // len(S.MATRICES)]}/{S.MATRICES[k % len(S.MATRICES)]}" for k in distinct]
            self.report.notes.append(
                f"biomarkers: {int(no_field.sum())} rows of analyte/matrix pairs without a "
                f"cohort field were left out: {', '.join(pairs)}"
            )
        self.contact_codes.append(codes[placed])
        self.contact_days.append(days[placed])
        ok = placed & ~(bad_pair | no_field | bad_unit | bad_value)

        canonical = value * factor
        first, last = self.landmark.measurement_window
        in_window = ok & (days >= first) & (days <= last)
        n_fields = len(fields)
        group = codes * n_fields + field
        rows = np.flatnonzero(in_window)
        best = nearest_to_day0(group[rows], days[rows], n * n_fields)
        # Same-day replicates of the chosen sample (e.g. a re-run, or two assays) are averaged after unit
        # conversion rather than picking one by file order, so the result does not depend on row order.
        chosen = rows[days[rows] == best[group[rows]]]
        total = np.bincount(group[chosen], weights=canonical[chosen], minlength=n * n_fields)
        count = np.bincount(group[chosen], minlength=n * n_fields)
        means = np.divide(total, count, out=np.full(n * n_fields, np.nan), where=count > 0).reshape(n, n_fields)
        for k, f in enumerate(fields):
            self.out[f.name] = means[:, k]

        self.counts.update(
            {
                "biomarkers_read": len(b),
                "biomarkers_excluded": int((~placed | bad_pair | no_field | bad_unit | bad_value).sum()),
                "biomarkers_before_window": int((ok & (days < first)).sum()),
                "biomarkers_used": int(chosen.size),
                "biomarkers_window_not_nearest": int(rows.size - chosen.size),
                "biomarkers_after_window": int((ok & (days > last)).sum()),
                "biomarkers_used_same_day_replicates": int((count[group[chosen]] > 1).sum()),
            }
        )
        self.report.notes.append(
            "biomarkers: the assay column is provenance only; values of one analyte and "
            "matrix are combined across assays after conversion to the canonical unit"
        )

    # ---------------------------------------------------------------------------------------------------------
    def _events_and_survival(self) -> None:
        e = self.events
        pid = e["patient_id"]
        codes, days = self.codes["events"], self.days["events"]
        unknown = codes < 0
        no_day = ~unknown & np.isnan(days)
        not_endpoint = ~unknown & ~no_day & ~e["event"].isin(S.EVENTS).to_numpy(dtype=bool)
        early = ~unknown & ~no_day & ~not_endpoint & (days < 0)
        for mask, reason in (
            (unknown, REASON_UNKNOWN_PATIENT),
            (no_day, REASON_NO_DAY),
            (not_endpoint, REASON_UNKNOWN_EVENT),
            (early, REASON_EVENT_BEFORE_DAY0),
        ):
            self._exclude("events", mask, pid, reason)
        ok = ~unknown & ~no_day & ~not_endpoint & ~early
        self.contact_codes.append(codes[ok])
        self.contact_days.append(days[ok])

        outcome = targets.survival_outcome(
            self.n, codes[ok], days[ok], np.concatenate(self.contact_codes), np.concatenate(self.contact_days)
        )
        first_day = np.where(outcome.event_observed, outcome.time_months * S.DAYS_PER_MONTH, np.nan)
        # Counted from the landmark; an endpoint or censoring at or before it gives no outcome at this landmark.
        time_days = outcome.time_months * S.DAYS_PER_MONTH
        gone = ~(time_days > self.landmark.day)
        self._exclude("cohort", gone, self.patients["patient_id"], REASON_SURVIVAL_AT_LANDMARK)
        self.out["time_to_event_months"] = np.where(gone, np.nan, (time_days - self.landmark.day) / S.DAYS_PER_MONTH)
        observed = pd.array(outcome.event_observed, dtype="boolean")
        observed[gone] = pd.NA
        self.out["event_observed"] = observed
        # Endpoints on the first endpoint day define the time; later ones (e.g. death after tracheostomy) do not.
        rows = np.flatnonzero(ok)
        used = np.isclose(days[rows], first_day[codes[rows]], rtol=0, atol=1e-6)
        censored = ~outcome.event_observed
        self.counts.update(
            {
                "events_read": len(e),
                "events_excluded": int((~ok).sum()),
                "events_used": int(used.sum()),
                "events_after_first_endpoint": int((~used).sum()),
                "patients_with_endpoint": int((outcome.event_observed & ~gone).sum()),
                "patients_censored": int((censored & ~gone).sum()),
                "patients_endpoint_at_or_before_landmark": int((outcome.event_observed & gone).sum()),
                "patients_censored_at_or_before_landmark": int((censored & gone).sum()),
            }
        )
        self._note_records_after_death(codes[ok], days[ok], e["event"].to_numpy(dtype=object)[ok])

    def _note_records_after_death(
        self, codes: NDArray[np.intp], days: NDArray[np.float64], event: NDArray[Any]
    ) -> None:
        """Count (not drop) visits and samples dated after death: a data-quality flag for the source."""
        death = np.full(self.n, np.inf)
        is_death = event == "death"
        np.minimum.at(death, codes[is_death], days[is_death])
        after = 0
        for table in ("visits", "biomarkers"):
            c, d = self.codes[table], self.days[table]
            placed = (c >= 0) & ~np.isnan(d)
            after += int((d[placed] > death[c[placed]]).sum())
        self.counts["records_after_death"] = after
        if after:
            self.report.notes.append(
                f"{after} visit or biomarker records are dated after the patient's death "
                "(kept as recorded; check the source)"
            )

    # ---------------------------------------------------------------------------------------------------------
    def _slope_outcome(
        self, ok: NDArray[np.bool_], codes: NDArray[np.intp], days: NDArray[np.float64], total: NDArray[np.float64]
    ) -> None:
        rows = np.flatnonzero(ok)
        after = self.landmark.slope_after_day
        outcome = targets.slope_outcome(codes[rows], days[rows], total[rows], self.n, after_day=after)
        self.out["alsfrs_r_slope_3_12"] = outcome.slope
        window = np.zeros(ok.shape[0], dtype=bool)
        window[rows] = (days[rows] > after) & (days[rows] <= S.SLOPE_WINDOW_END_DAY)
        in_window = np.zeros(ok.shape[0], dtype=bool)
        in_window[rows] = outcome.rows_in_window
        used = np.zeros(ok.shape[0], dtype=bool)
        used[rows] = outcome.rows_used
        self.counts.update(
            {
                "visits_used_outcome": int(used.sum()),
                "visits_outcome_window_insufficient": int((in_window & ~used).sum()),
                "visits_outcome_window_without_alsfrs": int((window & ~in_window).sum()),
                "visits_after_outcome_window": int((ok & (days > S.SLOPE_WINDOW_END_DAY)).sum()),
                "patients_with_slope_outcome": int(np.isfinite(outcome.slope).sum()),
            }
        )

    # ---------------------------------------------------------------------------------------------------------
    def _check_bounds(self) -> None:
        """A derived value outside its spec bounds is left missing and reported (e.g. a slope over 2 days)."""
        pid = self.patients["patient_id"]
        total = 0
        for f in S.COHORT_FIELDS:
            if f.kind not in ("numeric", "integer") or f.name not in self.out:
                continue
            values = np.asarray(self.out[f.name], dtype="float64")
            lower = -np.inf if f.lower is None else f.lower
            upper = np.inf if f.upper is None else f.upper
            bad = ~np.isnan(values) & ((values < lower) | (values > upper))
            if bad.any():
                reason = f"{f.name} not {f.bounds_text()}: left missing"
                self._exclude("cohort", bad, pid, reason)
                values = np.where(bad, np.nan, values)
                self.out[f.name] = values
                total += int(bad.sum())
        self.counts["cohort_values_out_of_bounds"] = total

    def _frame(self) -> pd.DataFrame:
        columns: dict[str, pd.Series] = {
            "patient_id": self.patients["patient_id"].astype(cohort_dtype(S.COHORT_ID)).reset_index(drop=True),
        }
        for f in S.COHORT_FIELDS[1:]:
            values = self.out[f.name]
            if isinstance(values, pd.Series):
                columns[f.name] = values.astype(cohort_dtype(f)).reset_index(drop=True)
            else:
                columns[f.name] = pd.Series(values, dtype=cohort_dtype(f))
        return pd.DataFrame(columns)

    def _finish_report(self) -> None:
        c = self.counts
        partitions = {
            # Visits: by day relative to the windows (a screening visit on day 0 feeds the baseline fields and also
            # starts the slope outcome, so outcome use is reported beside this partition, not inside it).
            "visits": ("visits_read", ["visits_excluded", "visits_before_window", "visits_used_baseline",
                                       "visits_after_landmark"]),
            "biomarkers": (
                "biomarkers_read",
                [
                    "biomarkers_excluded",
                    "biomarkers_before_window",
                    "biomarkers_used",
                    "biomarkers_window_not_nearest",
                    "biomarkers_after_window",
                ],
            ),
            "events": ("events_read", ["events_excluded", "events_used", "events_after_first_endpoint"]),
        }
        for table, (read, parts) in partitions.items():
            # Every record is in exactly one bucket; a mismatch is a bug here, not a data problem.
            if sum(c[p] for p in parts) != c[read]:  # pragma: no cover - guarded by tests
                raise RuntimeError(
                    f"cohort assembly lost {table} records: {c[read]} read, { {p: c[p] for p in parts} }"
                )
        clashes = sorted(k for k in c if k in self.report.counts and self.report.counts[k] != c[k])
        if clashes:
            self.report.notes.append(f"assembly counts replaced importer counts of the same name: {clashes}")
        self.report.counts.update(c)
        self.report.excluded.extend(self.excluded)
        lm = self.landmark
        if c["patients_diagnosis_after_landmark"]:
            self.report.notes.append(
                f"{c['patients_diagnosis_after_landmark']} patients have a diagnosis after the landmark (day "
                f"{lm.day}): diagnostic_delay_months left missing (not known at the landmark)"
            )
        gone = c["patients_endpoint_at_or_before_landmark"] + c["patients_censored_at_or_before_landmark"]
        if gone:
            self.report.notes.append(
                f"{gone} patients have no survival outcome at the {lm.name} landmark (day {lm.day}): "
                f"{c['patients_endpoint_at_or_before_landmark']} had the endpoint and "
                f"{c['patients_censored_at_or_before_landmark']} their last contact at or before it"
            )
        if self.has_truth:
            self.report.notes.append("truth table present: not used by assembly")
        series = f"[{lm.series_window[0]}, {lm.series_window[1]}]" if lm.series_window else "none"
        self.report.notes.append(
            f"landmark {lm.name} (L = day {lm.day}): history days <= {lm.day}; measurements nearest day 0 in days "
            f"[{lm.measurement_window[0]}, {lm.measurement_window[1]}]; series fields days {series}; slope outcome "
            f"days {lm.slope_window_text()}; survival {lm.time_origin}; months = days / {S.DAYS_PER_MONTH}"
        )


def _change_pct(
    codes: NDArray[np.intp], days: NDArray[np.float64], values: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    """100 * (last - first) / first per patient, first and last by day; NaN with fewer than 2 distinct days."""
    first_day = np.full(n, np.inf)
    last_day = np.full(n, -np.inf)
    np.minimum.at(first_day, codes, days)
    np.maximum.at(last_day, codes, days)
    first = np.full(n, np.nan)
    last = np.full(n, np.nan)
    at_first = days == first_day[codes]
    at_last = days == last_day[codes]
    first[codes[at_first]] = values[at_first]
    last[codes[at_last]] = values[at_last]
    ok = last_day > first_day
    return np.divide(100.0 * (last - first), first, out=np.full(n, np.nan), where=ok)


def _factorize(values: pd.Series) -> tuple[NDArray[np.intp], NDArray[Any]]:
    """Codes (-1 for missing mapped to the last slot by the caller) and distinct values as Python objects."""
    codes, uniques = pd.factorize(values.astype("string"))
    codes = np.where(codes < 0, len(uniques), codes).astype(np.intp)
    return codes, np.asarray(uniques, dtype=object)


def _vocabulary_codes(values: pd.Series, vocabulary: tuple[str, ...]) -> NDArray[np.intp]:
    """Index of each value in ``vocabulary`` (-1 for a value outside it or missing)."""
    codes, uniques = _factorize(values)
    lookup = np.array([vocabulary.index(u) if u in vocabulary else -1 for u in uniques] + [-1], dtype=np.intp)
    return lookup[codes]


def _unit_factors(a_code: NDArray[np.intp], unit: pd.Series) -> NDArray[np.float64]:
    """:func:`features.spec.unit_factors` computed once per distinct (analyte, unit) pair, then broadcast.

    ``a_code`` indexes :data:`features.spec.ANALYTES` (-1 unknown); the result is NaN for an unknown analyte or
    unit, or a missing unit.
    """
    u_code, uniques = pd.factorize(unit.astype("string"))
    n_units = len(uniques)
    analytes = pd.Series(np.repeat(np.array(S.ANALYTES, dtype=object), n_units), dtype="string")
    units = pd.Series(np.tile(np.asarray(uniques, dtype=object), len(S.ANALYTES)), dtype="string")
    table = S.unit_factors(analytes, units).to_numpy(dtype="float64", na_value=np.nan)
    out = np.full(len(u_code), np.nan)
    known = (a_code >= 0) & (u_code >= 0)
    out[known] = table[a_code[known] * n_units + u_code[known]]
    return out
