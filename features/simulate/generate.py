"""The literature-grounded cohort simulator: planted subtypes -> the native raw tables plus a ``truth`` table.

Generative model (every number comes from the scenario YAML, which cites its sources; see ``docs/simulator.md``):

1. Each patient belongs to one latent subtype (slow / typical / fast bulbar-enriched / inflammatory in the
   ``default`` scenario). The subtype sets the median post-baseline ALSFRS-R decline rate, the rate the
   neurofilament level reflects, the bulbar-onset share, an age shift, the LCN2 multipliers and an extra
   hazard ratio.
2. The patient's post-baseline rate is log-normal around the subtype median (bulbar onset faster); the
   pre-baseline rate (ΔFRS) is a noisy fraction of it; the diagnostic delay is shorter for fast progressors.
3. ALSFRS-R is piecewise linear: 48 at onset, falling at the pre-baseline rate to day 0, then at the
   post-baseline rate. The observed total is the expected total plus visit noise, rounded and clipped to
   0–48; the loss is shared among the 12 items by onset-site domain weights (ceiling 4 per item), so that
   items always sum to the total. FVC and weight decline with the ALSFRS-R loss.
4. The composite endpoint (death, tracheostomy, permanent NIV) follows a Weibull proportional-hazards model
   in time since onset, conditioned on being alive at day 0 (patients are enrolled alive); the hazard
   multiplier rises with the progression rate, age, bulbar onset, FTD, C9orf72, low BMI, low FVC and the
   subtype's own ratio (the inflammatory subtype's excess is not carried by the rate or by NfL).
5. Biomarkers follow the damage rate (NfL, pNfH) or the subtype (LCN2), with age effects, matrix ratios,
   assay factors, assay noise, centre-specific units and assays, and missingness.

Everything is vectorised over patients and generated in fixed-size chunks, each with its own child
generator spawned from ``np.random.default_rng(seed)``: the same seed gives identical tables, and a
patient's data depend only on the seed and the patient's position, never on global random state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from features import spec as S
from features.simulate.scenario import DOMAINS, ONSET_SITES, Scenario, available_scenarios, load_scenario

__all__ = ["CHUNK_SIZE", "Scenario", "available_scenarios", "load_scenario", "simulate_cohort"]

CHUNK_SIZE = 1000
"""Patients per generation chunk. Fixed (not tuned to the machine), so that results never depend on it."""

STRING = pd.StringDtype(na_value=np.nan)
DPM = S.DAYS_PER_MONTH
EL_ESCORIAL = S.EL_ESCORIAL
ITEMS_PER_DOMAIN = 3
ITEM_MAX = 4
TOTAL_MAX = 48
# Within-domain item shares: equal, so that the domain weights in the scenario carry the onset-site pattern.
ITEM_WEIGHTS_IN_DOMAIN = np.full(ITEMS_PER_DOMAIN, 1.0 / ITEMS_PER_DOMAIN)
# CSF measurements: the ELISA kits commonly used for CSF neurofilaments; units fixed per analyte.
CSF_ASSAY = "elisa"


@dataclass
class _Chunk:
    """Everything generated for one chunk of patients (patient-level arrays and long-table arrays)."""

    patients: dict[str, np.ndarray]
    visits: dict[str, np.ndarray]
    biomarkers: dict[str, np.ndarray]
    events: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]


def simulate_cohort(
    *,
    n_patients: int,
    seed: int,
    scenario: Scenario,
    progress: Callable[[int], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Simulate a synthetic ALS cohort: the native raw tables plus the planted truth.

    Parameters
    ----------
    n_patients : int
        Number of patients (>= 1).
    seed : int
        Seed of ``np.random.default_rng``; the same seed and scenario give identical tables.
    scenario : Scenario
        Parameters of the generative model (see :func:`load_scenario`).
    progress : callable, optional
        Called with the number of patients finished after each chunk of :data:`CHUNK_SIZE` patients.

    Returns
    -------
    dict of str to DataFrame
        ``patients``, ``visits``, ``biomarkers``, ``events`` and ``truth``, with exactly the columns of
        :data:`features.spec.SYNTHETIC_TABLES` in spec order and the dtypes that
        :func:`features.contracts.validate_tables` produces. Days are relative to the baseline visit (day 0);
        biomarker values are in the raw ``unit`` of each row (mixed units on purpose); ALSFRS-R items 0–4
        and totals 0–48 (higher is better); FVC % predicted; weight kg; height cm.

    Raises
    ------
    ValueError
        If ``n_patients`` < 1.
    """
    if n_patients < 1:
        raise ValueError(f"n_patients must be >= 1, got {n_patients}")
    n_chunks = -(-n_patients // CHUNK_SIZE)
    children = np.random.default_rng(seed).spawn(n_chunks)
    chunks: list[_Chunk] = []
    for k, gen in enumerate(children):
        start = k * CHUNK_SIZE
        size = min(CHUNK_SIZE, n_patients - start)
        chunks.append(_simulate_chunk(gen, size, start, scenario))
        if progress is not None:
            progress(size)
    return _assemble(chunks, n_patients, scenario)


# --------------------------------------------------------------------------------------------------------------------
# One chunk
# --------------------------------------------------------------------------------------------------------------------
def _truncated_normal(gen: np.random.Generator, mean: np.ndarray, sd: float, lo: float, hi: float) -> np.ndarray:
    """Normal(mean, sd) truncated to [lo, hi] by inverse CDF (no pile-up at the bounds, one draw per value)."""
    a = ndtr((lo - mean) / sd)
    b = ndtr((hi - mean) / sd)
    u = gen.random(mean.shape)
    return np.asarray(mean + sd * ndtri(a + u * (b - a)))


def _categorical(gen: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category index per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = gen.random((probs.shape[0], 1))
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _simulate_chunk(gen: np.random.Generator, n: int, offset: int, sc: Scenario) -> _Chunk:
    # Every draw below has a shape that depends on n only (never on parameter values), so two scenarios that
    # differ in one block (e.g. ``default`` vs ``null-lcn2``) share every other random quantity for a seed.
    subtypes = sc.subtypes
    shares = np.array([s.share for s in subtypes])
    subtype = _categorical(gen, np.tile(shares, (n, 1)))
    st_rate = np.array([s.rate_points_per_month for s in subtypes])[subtype]
    st_damage_rate = np.array([s.damage_rate_points_per_month for s in subtypes])[subtype]
    st_bulbar = np.array([s.bulbar_share for s in subtypes])[subtype]
    st_age = np.array([s.age_shift_years for s in subtypes])[subtype]
    st_lcn2_blood = np.array([s.lcn2_blood_multiplier for s in subtypes])[subtype]
    st_lcn2_csf = np.array([s.lcn2_csf_multiplier for s in subtypes])[subtype]
    st_hr = np.array([s.hazard_ratio for s in subtypes])[subtype]

    # Demographics and onset site.
    dem = sc.demographics
    male = gen.random(n) < dem.male_share
    age_onset = _truncated_normal(gen, dem.age_at_onset_mean_years + st_age, dem.age_at_onset_sd_years,
                                  dem.age_at_onset_min_years, dem.age_at_onset_max_years)
    site_probs = np.column_stack([
        1.0 - st_bulbar - sc.onset_site.respiratory_share - sc.onset_site.other_share,
        st_bulbar,
        np.full(n, sc.onset_site.respiratory_share),
        np.full(n, sc.onset_site.other_share),
    ])
    site = _categorical(gen, site_probs)  # index into ONSET_SITES = (limb, bulbar, respiratory, other)
    bulbar = site == ONSET_SITES.index("bulbar")

    # Progression rates (points/month, positive = loss).
    pr = sc.progression
    z_rate = gen.standard_normal(n)
    rate_factor = np.exp(pr.within_subtype_log_sd * z_rate) * np.where(bulbar, pr.bulbar_rate_ratio, 1.0)
    rate_post = st_rate * rate_factor
    # The damage rate is what neurofilaments and the course since onset (ΔFRS) reflect; a subtype with
    # rate > damage rate (inflammatory) declines after baseline faster than both suggest.
    rate_damage = st_damage_rate * rate_factor
    rate_pre = rate_damage * pr.pre_post_ratio_median * np.exp(pr.pre_post_log_sd * gen.standard_normal(n))
    log_rate_rel = np.log(rate_post / pr.rate_reference_points_per_month)

    # History: diagnostic delay (shorter for fast progressors) and diagnosis -> baseline interval.
    hi = sc.history
    delay_months = np.maximum(
        hi.delay_median_months * np.exp(hi.delay_rate_elasticity * log_rate_rel + hi.delay_log_sd
                                        * gen.standard_normal(n)),
        hi.delay_min_months)
    dx_to_bl_months = hi.diagnosis_to_baseline_median_months * np.exp(
        hi.diagnosis_to_baseline_log_sd * gen.standard_normal(n))
    after = gen.random(n) < hi.diagnosed_after_baseline_share
    after_days = gen.integers(1, hi.diagnosed_after_baseline_max_days + 1, size=n)
    delay_days = np.rint(delay_months * DPM).astype(np.int64)
    diagnosis_day = np.where(after, after_days, -np.rint(dx_to_bl_months * DPM).astype(np.int64))
    # At least one month of symptoms before the baseline visit; the delay is kept, the diagnosis day follows.
    onset_day = np.minimum(diagnosis_day - delay_days, -31)
    diagnosis_day = onset_day + delay_days
    months_onset = -onset_day / DPM

    # Baseline function and its latent trajectory.
    a0 = np.maximum(TOTAL_MAX - rate_pre * months_onset, pr.minimum_baseline_total)

    # Clinical covariates.
    cl = sc.clinical
    ee_keys = list(EL_ESCORIAL)
    ee = _categorical(gen, np.tile([cl.el_escorial_shares[k] for k in ee_keys], (n, 1)))
    c9_true = gen.random(n) < cl.c9orf72_positive_share
    c9_unknown = gen.random(n) < cl.c9orf72_unknown_share
    ftd_true = gen.random(n) < np.where(c9_true, cl.ftd_share_c9orf72_positive, cl.ftd_share)
    ftd_unknown = gen.random(n) < cl.ftd_unknown_share
    riluzole = gen.random(n) < cl.riluzole_share
    riluzole_missing = gen.random(n) < cl.riluzole_missing_share
    diagnosis_missing = gen.random(n) < cl.diagnosis_day_missing_share

    an = sc.anthropometrics
    height = np.where(male, an.height_male_mean_cm, an.height_female_mean_cm) + an.height_sd_cm * gen.standard_normal(n)
    height = np.clip(height, 130.0, 215.0)
    height_missing = gen.random(n) < an.height_missing_share
    bmi = np.clip(an.bmi_mean + an.bmi_sd * gen.standard_normal(n), 15.0, 50.0)
    weight0 = bmi * (height / 100.0) ** 2

    rs = sc.respiratory
    fvc0 = (rs.fvc_mean_pct + rs.fvc_sd_pct * gen.standard_normal(n)
            - rs.fvc_loss_pct_per_point_before_baseline * (TOTAL_MAX - a0))
    fvc0 = np.clip(fvc0, 15.0, 150.0)

    # Hazard multiplier relative to a reference patient (reference rate, mean age/BMI/FVC, limb onset, ...).
    sv = sc.survival
    log_hm = (sv.log_hazard_per_log_rate * log_rate_rel + np.log(st_hr)
              + np.log(sv.hazard_ratio_bulbar) * bulbar
              + np.log(sv.hazard_ratio_per_decade_age) * (age_onset - dem.age_at_onset_mean_years) / 10.0
              + np.log(sv.hazard_ratio_definite_el_escorial) * (ee == ee_keys.index("definite"))
              + np.log(sv.hazard_ratio_ftd) * ftd_true
              + np.log(sv.hazard_ratio_c9orf72) * c9_true
              + np.log(sv.hazard_ratio_per_bmi_unit) * (bmi - an.bmi_mean)
              + np.log(sv.hazard_ratio_per_10_fvc_pct_lower) * (rs.fvc_mean_pct - fvc0) / 10.0)
    hazard_multiplier = np.exp(log_hm)
    # Weibull PH in months since onset, left-truncated at the baseline visit: solve H(T) - H(d) = E.
    k, lam = sv.weibull_shape, sv.weibull_scale_months
    e = gen.standard_exponential(n)
    t_event_months = lam * ((months_onset / lam) ** k + e / hazard_multiplier) ** (1.0 / k)
    event_day = np.maximum(np.ceil((t_event_months - months_onset) * DPM), 1).astype(np.int64)
    event_type = _categorical(gen, np.tile([sv.event_type_shares[x] for x in S.EVENTS], (n, 1)))

    # Follow-up: administrative end, drop-out, the first endpoint.
    fu = sc.follow_up
    followup_day = np.rint(gen.uniform(fu.followup_min_months, fu.followup_max_months, n) * DPM).astype(np.int64)
    if fu.dropout_rate_per_year > 0:
        dropout_day = np.rint(gen.standard_exponential(n) / fu.dropout_rate_per_year * 365.25).astype(np.int64)
    else:
        gen.standard_exponential(n)  # keep the draw sequence identical across scenarios
        dropout_day = np.full(n, np.iinfo(np.int64).max // 4)
    observed = event_day <= np.minimum(followup_day, dropout_day)
    visit_horizon = np.minimum(np.minimum(followup_day, dropout_day), event_day - 1)

    # Visit schedule: day 0, an optional second baseline-window visit, then every ~3 months.
    n_regular = fu.last_visit_day // fu.visit_interval_days
    extra = gen.random(n) < fu.extra_baseline_visit_share
    extra_day = gen.integers(fu.extra_baseline_visit_days[0], fu.extra_baseline_visit_days[1] + 1, size=n)
    jitter = gen.integers(-fu.visit_jitter_days, fu.visit_jitter_days + 1, size=(n, n_regular))
    regular = fu.visit_interval_days * np.arange(1, n_regular + 1)[None, :] + jitter
    attend = gen.random((n, n_regular)) < fu.visit_attendance
    days = np.column_stack([np.zeros(n, np.int64), extra_day, regular]).astype(np.int64)
    keep = np.column_stack([np.ones(n, bool), extra, attend]) & (days <= visit_horizon[:, None])
    keep[:, 0] = True  # everyone is seen at day 0 (enrolled alive, event day >= 1)
    last_visit = np.where(keep, days, -1).max(axis=1)

    last_contact = np.where(observed, event_day, np.where(dropout_day < followup_day, last_visit, followup_day))
    last_contact = np.maximum(last_contact, last_visit)

    # Long visit table.
    vi_pat, vi_slot = np.nonzero(keep)
    vi_day = days[vi_pat, vi_slot]
    nv = vi_pat.size
    months = vi_day / DPM
    expected = np.maximum(a0[vi_pat] - rate_post[vi_pat] * months, 0.0)
    # Items still at 4 are rated reliably (ceiling), so visit-to-visit noise grows with the loss until it
    # reaches its full size; this keeps near-normal patients from scattering onto 48.
    noise_sd = pr.visit_noise_sd_points * np.clip(np.sqrt((TOTAL_MAX - expected) / pr.visit_noise_full_at_loss_points),
                                                  pr.visit_noise_min_fraction, 1.0)
    total = np.clip(np.rint(expected + noise_sd * gen.standard_normal(nv)), 0, TOTAL_MAX)
    items = _allocate_items(gen, total.astype(np.int64), site[vi_pat], vi_pat, n, sc)
    al = sc.alsfrs_items
    items_missing = gen.random(nv) < al.items_missing_share
    total_missing = (gen.random(nv) < al.total_missing_share) & ~items_missing
    loss_since_bl = a0[vi_pat] - expected
    fvc = np.clip(fvc0[vi_pat] - rs.fvc_loss_pct_per_point_after_baseline * loss_since_bl
                  + rs.fvc_noise_sd_pct * gen.standard_normal(nv), 5.0, 150.0)
    fvc_missing = gen.random(nv) < rs.fvc_missing_share
    weight = np.clip(weight0[vi_pat] * (1.0 - an.weight_loss_pct_per_point * loss_since_bl / 100.0)
                     + an.weight_noise_sd_kg * gen.standard_normal(nv), 30.0, 240.0)
    weight_missing = gen.random(nv) < an.weight_missing_share

    biomarkers = _biomarkers(gen, n, sc, subtype_arrays=(st_lcn2_blood, st_lcn2_csf, st_damage_rate),
                             rate_factor=rate_factor, age_baseline=age_onset + months_onset / 12.0, keep=keep,
                             days=days)

    pid = offset + np.arange(n)
    return _Chunk(
        patients={
            "pid": pid, "male": male, "age": np.round(age_onset, 1), "site": site, "onset_day": onset_day,
            "diagnosis_day": diagnosis_day, "diagnosis_missing": diagnosis_missing, "ee": ee,
            "c9": np.where(c9_unknown, 2, np.where(c9_true, 0, 1)),
            "ftd": np.where(ftd_unknown, 2, np.where(ftd_true, 0, 1)),
            "riluzole": riluzole, "riluzole_missing": riluzole_missing,
            "height": np.round(height, 1), "height_missing": height_missing, "last_contact": last_contact,
        },
        visits={
            "pid": pid[vi_pat], "day": vi_day, "total": total.astype(np.int64), "total_missing": total_missing,
            "items": items, "items_missing": items_missing, "fvc": np.round(fvc, 1), "fvc_missing": fvc_missing,
            "weight": np.round(weight, 1), "weight_missing": weight_missing,
        },
        biomarkers={**biomarkers, "pid": pid[biomarkers["patient"]]},
        events={"pid": pid[observed], "event": event_type[observed], "day": event_day[observed]},
        truth={"pid": pid, "subtype": subtype, "slope": -rate_post, "hm": hazard_multiplier},
    )


def _water_fill(loss: np.ndarray, weights: np.ndarray, cap: float) -> np.ndarray:
    """Share ``loss`` (per row) among columns in proportion to ``weights``, none above ``cap``.

    Overflow from capped columns is re-shared among the others, so each row's allocation sums to its loss
    whenever the loss is at most ``cap`` times the number of columns.
    """
    alloc = np.zeros_like(weights)
    active = np.ones(weights.shape, dtype=bool)
    for _ in range(weights.shape[1]):
        remaining = loss - alloc.sum(axis=1)
        if not (remaining > 1e-9).any():
            break
        w = np.where(active, weights, 0.0)
        wsum = w.sum(axis=1, keepdims=True)
        share = np.divide(w, wsum, out=np.zeros_like(w), where=wsum > 0)
        alloc = np.minimum(alloc + share * np.maximum(remaining, 0.0)[:, None], cap)
        active &= alloc < cap - 1e-12
    return alloc


def _allocate_items(gen: np.random.Generator, total: np.ndarray, site: np.ndarray, vi_pat: np.ndarray, n: int,
                    sc: Scenario) -> np.ndarray:
    """Integer ALSFRS-R items (0–4) per visit that sum exactly to ``total``, declining by onset-site domain."""
    al = sc.alsfrs_items
    site_weights = np.array([[al.domain_weights[s][d] for d in DOMAINS] for s in ONSET_SITES])
    # Patient-level variation of the domain pattern (e.g. a limb-onset patient with early dysarthria).
    patient_dom = site_weights[site] * np.exp(al.patient_domain_log_sd * gen.standard_normal((n, len(DOMAINS))))[
        vi_pat]
    item_w = np.repeat(patient_dom, ITEMS_PER_DOMAIN, axis=1) * np.tile(ITEM_WEIGHTS_IN_DOMAIN, len(DOMAINS))
    item_w = item_w * np.exp(al.visit_item_log_sd * gen.standard_normal(item_w.shape))
    loss = (TOTAL_MAX - total).astype(np.float64)
    alloc = _water_fill(loss, item_w, float(ITEM_MAX))
    # Largest-remainder rounding: integer losses per item with the exact row sum, none above 4.
    floor = np.floor(alloc + 1e-9)
    remainder = (loss - floor.sum(axis=1)).astype(np.int64)
    frac = np.where(floor >= ITEM_MAX, -1.0, alloc - floor)
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :].repeat(order.shape[0], axis=0), axis=1)
    item_loss = floor + (rank < remainder[:, None])
    return (ITEM_MAX - item_loss).astype(np.int64)


def _biomarkers(gen: np.random.Generator, n: int, sc: Scenario, *,
                subtype_arrays: tuple[np.ndarray, np.ndarray, np.ndarray], rate_factor: np.ndarray,
                age_baseline: np.ndarray, keep: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray]:
    """Long biomarker rows (canonical values converted to each row's raw unit) for one chunk."""
    nf, lc, sa = sc.neurofilament, sc.lipocalin, sc.sampling
    lcn2_blood_mult, lcn2_csf_mult, subtype_damage_rate = subtype_arrays
    centres = sa.centres
    centre = _categorical(gen, np.tile([c.share for c in centres], (n, 1)))

    log_subtype_rate = np.log(subtype_damage_rate / sc.progression.rate_reference_points_per_month)
    log_patient_dev = np.log(rate_factor)
    # Serum NfL = the age-dependent level of a healthy person + the disease release. The release follows the
    # subtype's damage rate closely and the patient's own deviation from it only loosely, so NfL marks the
    # subtype while the correlation with an individual's slope stays moderate (as published).
    healthy = nf.healthy_serum_nfl_median_pg_ml * np.exp(
        nf.healthy_log_per_year_age * (age_baseline - nf.healthy_reference_age_years)
        + nf.healthy_log_sd * gen.standard_normal(n))
    disease = nf.disease_serum_nfl_median_pg_ml * np.exp(nf.nfl_log_per_log_subtype_rate * log_subtype_rate
                                                         + nf.nfl_log_per_log_patient_rate * log_patient_dev
                                                         + nf.disease_log_sd * gen.standard_normal(n))
    log_serum_nfl = np.log(healthy + disease)
    log_csf_nfl = log_serum_nfl + np.log(nf.csf_to_serum_ratio) + nf.csf_extra_log_sd * gen.standard_normal(n)
    log_csf_pnfh = (np.log(nf.csf_pnfh_median_pg_ml) + nf.pnfh_log_per_log_subtype_rate * log_subtype_rate
                    + nf.pnfh_log_sd * gen.standard_normal(n))
    z_lcn2 = gen.standard_normal(n)
    log_plasma_lcn2 = np.log(lc.plasma_median_ng_ml * lcn2_blood_mult) + lc.biological_log_sd * z_lcn2
    log_csf_lcn2 = (np.log(lc.csf_median_ng_ml * lcn2_csf_mult) + lc.biological_log_sd * z_lcn2
                    + lc.csf_extra_log_sd * gen.standard_normal(n))

    # Who is sampled, and when (blood at day 0 or at the second baseline-window visit; CSF at day 0).
    blood = gen.random(n) >= sa.baseline_blood_missing_share
    second_in_window = keep[:, 1]
    blood_day = np.where(second_in_window & (gen.random(n) >= sa.blood_sample_at_day0_share), days[:, 1], 0)
    lcn2_measured = blood & (gen.random(n) < np.array([c.lcn2_measured_share for c in centres])[centre])
    csf = gen.random(n) < np.array([c.csf_share for c in centres])[centre]
    csf_lcn2 = csf & (gen.random(n) < np.array([c.csf_lcn2_share for c in centres])[centre])
    repeat = blood & (gen.random(n) < sa.repeat_blood_share)
    later = keep & (days > S.BASELINE_WINDOW_END_DAY) & (gen.random(keep.shape) < sa.repeat_visit_share)
    later &= repeat[:, None]
    later[:, :2] = False
    rep_pat, rep_slot = np.nonzero(later)
    within_nfl = nf.within_patient_log_sd * gen.standard_normal(rep_pat.size)
    within_lcn2 = lc.within_patient_log_sd * gen.standard_normal(rep_pat.size)

    nfl_matrix = np.array([c.nfl_matrix for c in centres])[centre]
    nfl_matrix_factor = np.where(nfl_matrix == "plasma", nf.plasma_to_serum_ratio, 1.0)
    nfl_assay_factor = np.array([c.nfl_assay_factor for c in centres])[centre]
    lcn2_matrix = np.array([c.lcn2_matrix for c in centres])[centre]
    lcn2_matrix_factor = np.where(lcn2_matrix == "serum", lc.serum_to_plasma_ratio, 1.0)
    nfl_unit = np.array([c.nfl_unit for c in centres])[centre]
    lcn2_unit = np.array([c.lcn2_unit for c in centres])[centre]
    nfl_assay = np.array([c.nfl_assay for c in centres])[centre]
    lcn2_assay = np.array([c.lcn2_assay for c in centres])[centre]

    parts: list[dict[str, np.ndarray]] = []

    def add(rows: np.ndarray, day: np.ndarray, analyte: str, matrix: np.ndarray | str, log_value: np.ndarray,
            unit: np.ndarray | str, assay: np.ndarray | str) -> None:
        m = rows.size
        parts.append({
            "patient": rows, "day": day.astype(np.int64), "analyte": np.full(m, analyte, dtype=object),
            "matrix": np.broadcast_to(np.asarray(matrix, dtype=object), (m,)).copy(),
            "log_value": log_value, "unit": np.broadcast_to(np.asarray(unit, dtype=object), (m,)).copy(),
            "assay": np.broadcast_to(np.asarray(assay, dtype=object), (m,)).copy(),
        })

    b = np.flatnonzero(blood)
    add(b, blood_day[b], "nfl", nfl_matrix[b], log_serum_nfl[b] + np.log(nfl_matrix_factor[b] * nfl_assay_factor[b]),
        nfl_unit[b], nfl_assay[b])
    lm = np.flatnonzero(lcn2_measured)
    add(lm, blood_day[lm], "lcn2", lcn2_matrix[lm], log_plasma_lcn2[lm] + np.log(lcn2_matrix_factor[lm]),
        lcn2_unit[lm], lcn2_assay[lm])
    r = rep_pat
    add(r, days[r, rep_slot], "nfl", nfl_matrix[r],
        log_serum_nfl[r] + np.log(nfl_matrix_factor[r] * nfl_assay_factor[r]) + within_nfl, nfl_unit[r], nfl_assay[r])
    rl = lcn2_measured[r]
    add(r[rl], days[r[rl], rep_slot[rl]], "lcn2", lcn2_matrix[r[rl]],
        log_plasma_lcn2[r[rl]] + np.log(lcn2_matrix_factor[r[rl]]) + within_lcn2[rl], lcn2_unit[r[rl]],
        lcn2_assay[r[rl]])
    c = np.flatnonzero(csf)
    add(c, np.zeros(c.size), "nfl", "csf", log_csf_nfl[c], "pg/mL", CSF_ASSAY)
    add(c, np.zeros(c.size), "pnfh", "csf", log_csf_pnfh[c], "pg/mL", CSF_ASSAY)
    cl = np.flatnonzero(csf_lcn2)
    add(cl, np.zeros(cl.size), "lcn2", "csf", log_csf_lcn2[cl], "ng/mL", CSF_ASSAY)

    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    m = out["patient"].size
    # Assay noise (log-normal with SD = CV), then the lab's reporting floor (values below are reported at it).
    canonical = np.exp(out["log_value"] + sa.assay_cv * gen.standard_normal(m))
    floor = np.where(out["analyte"] == "lcn2", sa.llod_lcn2_ng_ml, sa.llod_nfl_pg_ml)
    canonical = np.maximum(canonical, floor)
    factor = np.array([S.unit_factor(a, u) for a, u in zip(out["analyte"], out["unit"], strict=True)]) if m else \
        np.zeros(0)
    out["value"] = _round_significant(canonical / factor, 4)
    out["assay_missing"] = gen.random(m) < sa.assay_missing_share
    del out["log_value"]
    return out


def _round_significant(x: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant figures (how labs report concentrations)."""
    mag = np.floor(np.log10(np.abs(x)))
    scale = 10.0 ** (digits - 1 - mag)
    return np.asarray(np.round(x * scale) / scale)


# --------------------------------------------------------------------------------------------------------------------
# Assembly into typed tables
# --------------------------------------------------------------------------------------------------------------------
def _cat(chunks: list[_Chunk], table: str, key: str) -> np.ndarray:
    return np.concatenate([getattr(c, table)[key] for c in chunks])


def _ids(pid: np.ndarray, width: int) -> pd.Series:
    """Patient identifiers ``P000001``... (1-based position in the cohort; nothing identifying)."""
    digits = (pid.astype(np.int64) + 1).astype(str) if pid.size else np.zeros(0, dtype="<U1")
    return pd.Series(np.char.add("P", np.char.zfill(digits, width)), dtype=STRING)


def _text(values: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    s = pd.Series(values, dtype=STRING)
    return s.mask(pd.Series(missing)) if missing is not None else s


def _int(values: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    mask = np.zeros(values.shape, bool) if missing is None else missing
    return pd.Series(pd.arrays.IntegerArray(values.astype(np.int64), mask.astype(bool)))


def _float(values: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    out = values.astype(np.float64)
    if missing is not None:
        out = np.where(missing, np.nan, out)
    return pd.Series(out, dtype="float64")


def _assemble(chunks: list[_Chunk], n_patients: int, sc: Scenario) -> dict[str, pd.DataFrame]:
    width = max(6, len(str(n_patients)))
    sex = np.array(S.SEX)
    sites = np.array(ONSET_SITES)
    ee = np.array(EL_ESCORIAL)
    c9 = np.array(S.C9ORF72)
    ftd = np.array(S.FTD)
    p = {k: _cat(chunks, "patients", k) for k in chunks[0].patients}
    patients = pd.DataFrame({
        "patient_id": _ids(p["pid"], width),
        "sex": _text(sex[p["male"].astype(int)]),
        "age_at_onset_years": _float(p["age"]),
        "onset_site": _text(sites[p["site"]]),
        "onset_day": _int(p["onset_day"]),
        "diagnosis_day": _int(p["diagnosis_day"], p["diagnosis_missing"]),
        "el_escorial": _text(ee[p["ee"]]),
        "c9orf72": _text(c9[p["c9"]]),
        "ftd": _text(ftd[p["ftd"]]),
        "riluzole": pd.Series(pd.arrays.BooleanArray(p["riluzole"].astype(bool), p["riluzole_missing"].astype(bool))),
        "height_cm": _float(p["height"], p["height_missing"]),
        "last_contact_day": _int(p["last_contact"]),
    })

    v = {k: _cat(chunks, "visits", k) for k in chunks[0].visits}
    visit_cols: dict[str, pd.Series] = {
        "patient_id": _ids(v["pid"], width),
        "day": _int(v["day"]),
        "alsfrs_r_total": _int(v["total"], v["total_missing"]),
    }
    for j, item in enumerate(S.ALSFRS_ITEMS):
        visit_cols[item] = _int(v["items"][:, j], v["items_missing"])
    visit_cols["fvc_pct_pred"] = _float(v["fvc"], v["fvc_missing"])
    visit_cols["weight_kg"] = _float(v["weight"], v["weight_missing"])
    visits = pd.DataFrame(visit_cols)

    b = {k: _cat(chunks, "biomarkers", k) for k in chunks[0].biomarkers}
    analyte_code = np.searchsorted(np.array(sorted(S.ANALYTES)), b["analyte"].astype(str))
    matrix_code = np.searchsorted(np.array(sorted(S.MATRICES)), b["matrix"].astype(str))
    order = np.lexsort((matrix_code, analyte_code, b["day"], b["pid"]))
    biomarkers = pd.DataFrame({
        "patient_id": _ids(b["pid"][order], width),
        "day": _int(b["day"][order]),
        "analyte": _text(b["analyte"][order].astype(str)),
        "matrix": _text(b["matrix"][order].astype(str)),
        "value": _float(b["value"][order]),
        "unit": _text(b["unit"][order].astype(str)),
        "assay": _text(b["assay"][order].astype(str), b["assay_missing"][order]),
    })

    e = {k: _cat(chunks, "events", k) for k in chunks[0].events}
    events = pd.DataFrame({
        "patient_id": _ids(e["pid"], width),
        "event": _text(np.array(S.EVENTS)[e["event"]]),
        "day": _int(e["day"]),
    })

    t = {k: _cat(chunks, "truth", k) for k in chunks[0].truth}
    names = np.array([s.name for s in sc.subtypes])
    truth = pd.DataFrame({
        "patient_id": _ids(t["pid"], width),
        "subtype": _int(t["subtype"]),
        "subtype_name": _text(names[t["subtype"]]),
        "true_slope_points_per_month": _float(np.clip(t["slope"], -20.0, 5.0)),
        "hazard_multiplier": _float(np.clip(t["hm"], 0.0, 1000.0)),
    })
    return {"patients": patients, "visits": visits, "biomarkers": biomarkers, "events": events, "truth": truth}
