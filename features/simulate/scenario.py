"""Scenario configuration of the cohort simulator: typed, validated, loaded from YAML.

A scenario is every number the generative model in :mod:`features.simulate.generate` uses. Each block carries a
``source`` string that cites ``clinical-facts.md`` (section and study) or says ``hypothesis``; the simulator
itself holds no clinical constants. Scenarios live in ``features/simulate/scenarios/<name>.yaml``; any YAML file with
the same keys can be passed by path. Unknown keys are refused (``extra="forbid"``), so a typo cannot silently
fall back to a default.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Source = Annotated[str, Field(min_length=3, description="Citation of clinical-facts.md or the word 'hypothesis'.")]

ONSET_SITES = ("limb", "bulbar", "respiratory", "other")
DOMAINS = ("bulbar", "fine_motor", "gross_motor", "respiratory")
SHARE_TOLERANCE = 1e-6


class _Block(BaseModel):
    """Base of every scenario block: no unknown keys, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_shares(shares: dict[str, float], what: str) -> None:
    total = sum(shares.values())
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise ValueError(f"{what} must sum to 1, got {total:.6g}")


class Demographics(_Block):
    """Sex and age at onset (before the subtype's age shift)."""

    source: Source
    male_share: Probability
    age_at_onset_mean_years: Annotated[float, Field(ge=20, le=90)]
    age_at_onset_sd_years: Positive
    age_at_onset_min_years: Annotated[float, Field(ge=10, le=100)]
    age_at_onset_max_years: Annotated[float, Field(ge=10, le=100)]


class OnsetSite(_Block):
    """Onset-site shares of a patient who is not bulbar-enriched; subtypes override the bulbar share."""

    source: Source
    respiratory_share: Probability
    other_share: Probability


class Subtype(_Block):
    """One planted latent subtype.

    ``rate_points_per_month`` is the subtype's median post-baseline ALSFRS-R decline (positive = loss).
    ``damage_rate_points_per_month`` is the neuro-axonal damage rate that the neurofilament level and the
    pre-baseline course (ΔFRS) reflect; a subtype whose decline after baseline is faster than its NfL and
    ΔFRS suggest has ``rate_points_per_month > damage_rate_points_per_month``.
    """

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    description: str
    source: Source
    share: Probability
    rate_points_per_month: Positive
    damage_rate_points_per_month: Positive
    bulbar_share: Probability
    age_shift_years: float
    lcn2_blood_multiplier: Positive
    lcn2_csf_multiplier: Positive
    hazard_ratio: Positive


class Progression(_Block):
    """ALSFRS-R decline: within-subtype spread, onset-site effect, pre- versus post-baseline rates, noise."""

    source: Source
    rate_reference_points_per_month: Positive
    within_subtype_log_sd: NonNegative
    bulbar_rate_ratio: Positive
    pre_post_ratio_median: Positive
    pre_post_log_sd: NonNegative
    minimum_baseline_total: Annotated[float, Field(ge=0, le=48)]
    visit_noise_sd_points: NonNegative
    visit_noise_full_at_loss_points: Positive
    visit_noise_min_fraction: Probability


class History(_Block):
    """Diagnostic delay and the interval from diagnosis to the baseline visit (day 0)."""

    source: Source
    delay_median_months: Positive
    delay_log_sd: NonNegative
    delay_rate_elasticity: float
    delay_min_months: Positive
    diagnosis_to_baseline_median_months: Positive
    diagnosis_to_baseline_log_sd: NonNegative
    diagnosed_after_baseline_share: Probability
    diagnosed_after_baseline_max_days: Annotated[int, Field(ge=1, le=365)]


class Survival(_Block):
    """Composite endpoint (death, tracheostomy, permanent NIV): Weibull proportional hazards from onset."""

    source: Source
    weibull_shape: Positive
    weibull_scale_months: Positive
    log_hazard_per_log_rate: float
    hazard_ratio_bulbar: Positive
    hazard_ratio_per_decade_age: Positive
    hazard_ratio_definite_el_escorial: Positive
    hazard_ratio_ftd: Positive
    hazard_ratio_c9orf72: Positive
    hazard_ratio_per_bmi_unit: Positive
    hazard_ratio_per_10_fvc_pct_lower: Positive
    event_type_shares: dict[str, Probability]

    @model_validator(mode="after")
    def _shares(self) -> Survival:
        expected = {"death", "tracheostomy", "permanent_niv"}
        if set(self.event_type_shares) != expected:
            raise ValueError(f"event_type_shares must have exactly the keys {sorted(expected)}")
        _check_shares(self.event_type_shares, "event_type_shares")
        return self


class FollowUp(_Block):
    """Visit schedule, missed visits, drop-out and administrative censoring."""

    source: Source
    extra_baseline_visit_share: Probability
    extra_baseline_visit_days: tuple[int, int]
    visit_interval_days: Annotated[int, Field(ge=7)]
    visit_jitter_days: Annotated[int, Field(ge=0)]
    last_visit_day: Annotated[int, Field(ge=91)]
    visit_attendance: Probability
    dropout_rate_per_year: NonNegative
    followup_min_months: Positive
    followup_max_months: Positive

    @model_validator(mode="after")
    def _ranges(self) -> FollowUp:
        lo, hi = self.extra_baseline_visit_days
        if not 0 < lo <= hi < self.visit_interval_days - self.visit_jitter_days:
            raise ValueError("extra_baseline_visit_days must lie after day 0 and before the first regular visit")
        if self.visit_jitter_days * 2 >= self.visit_interval_days:
            raise ValueError("visit_jitter_days must be less than half of visit_interval_days")
        if self.followup_min_months > self.followup_max_months:
            raise ValueError("followup_min_months must not exceed followup_max_months")
        return self


class AlsfrsItems(_Block):
    """How the ALSFRS-R total loss is shared among the 12 items, by onset site, and what is missing."""

    source: Source
    domain_weights: dict[str, dict[str, Positive]]
    patient_domain_log_sd: NonNegative
    visit_item_log_sd: NonNegative
    items_missing_share: Probability
    total_missing_share: Probability

    @model_validator(mode="after")
    def _domains(self) -> AlsfrsItems:
        if set(self.domain_weights) != set(ONSET_SITES):
            raise ValueError(f"domain_weights must have exactly the onset sites {list(ONSET_SITES)}")
        for site, weights in self.domain_weights.items():
            if set(weights) != set(DOMAINS):
                raise ValueError(f"domain_weights[{site!r}] must have exactly the domains {list(DOMAINS)}")
        return self


class Respiratory(_Block):
    """FVC % predicted: level at baseline, decline tied to the ALSFRS-R rate, noise, missingness."""

    source: Source
    fvc_mean_pct: Positive
    fvc_sd_pct: NonNegative
    fvc_loss_pct_per_point_before_baseline: NonNegative
    fvc_loss_pct_per_point_after_baseline: NonNegative
    fvc_noise_sd_pct: NonNegative
    fvc_missing_share: Probability


class Anthropometrics(_Block):
    """Height, BMI at baseline and weight loss with functional decline."""

    source: Source
    height_male_mean_cm: Positive
    height_female_mean_cm: Positive
    height_sd_cm: NonNegative
    bmi_mean: Positive
    bmi_sd: NonNegative
    weight_loss_pct_per_point: NonNegative
    weight_noise_sd_kg: NonNegative
    weight_missing_share: Probability
    height_missing_share: Probability


class Clinical(_Block):
    """El Escorial category, genetics, FTD and riluzole."""

    source: Source
    el_escorial_shares: dict[str, Probability]
    c9orf72_positive_share: Probability
    c9orf72_unknown_share: Probability
    ftd_share: Probability
    ftd_share_c9orf72_positive: Probability
    ftd_unknown_share: Probability
    riluzole_share: Probability
    riluzole_missing_share: Probability
    diagnosis_day_missing_share: Probability

    @model_validator(mode="after")
    def _shares(self) -> Clinical:
        expected = {"definite", "probable", "probable_lab", "possible", "unknown"}
        if set(self.el_escorial_shares) != expected:
            raise ValueError(f"el_escorial_shares must have exactly the keys {sorted(expected)}")
        _check_shares(self.el_escorial_shares, "el_escorial_shares")
        return self


class Neurofilament(_Block):
    """Blood and CSF neurofilament levels (canonical pg/mL): age-dependent background plus a disease part."""

    source: Source
    healthy_serum_nfl_median_pg_ml: Positive
    healthy_reference_age_years: Positive
    healthy_log_per_year_age: float
    healthy_log_sd: NonNegative
    disease_serum_nfl_median_pg_ml: Positive
    nfl_log_per_log_subtype_rate: float
    nfl_log_per_log_patient_rate: float
    disease_log_sd: NonNegative
    plasma_to_serum_ratio: Positive
    csf_to_serum_ratio: Positive
    csf_extra_log_sd: NonNegative
    csf_pnfh_median_pg_ml: Positive
    pnfh_log_per_log_subtype_rate: float
    pnfh_log_sd: NonNegative
    within_patient_log_sd: NonNegative


class Lipocalin(_Block):
    """Lipocalin-2 (canonical ng/mL). Every LCN2 effect in humans is an unvalidated hypothesis."""

    source: Source
    plasma_median_ng_ml: Positive
    serum_to_plasma_ratio: Positive
    csf_median_ng_ml: Positive
    biological_log_sd: NonNegative
    csf_extra_log_sd: NonNegative
    within_patient_log_sd: NonNegative


class Centre(_Block):
    """A recruiting centre: its blood matrix, units and assays (how biomarker rows look in the raw table)."""

    name: str
    share: Probability
    nfl_matrix: str
    nfl_unit: str
    nfl_assay: str
    nfl_assay_factor: Positive
    lcn2_measured_share: Probability
    lcn2_matrix: str
    lcn2_unit: str
    lcn2_assay: str
    csf_share: Probability
    csf_lcn2_share: Probability

    @model_validator(mode="after")
    def _matrices(self) -> Centre:
        if self.nfl_matrix not in ("serum", "plasma") or self.lcn2_matrix not in ("serum", "plasma"):
            raise ValueError(f"centre {self.name!r}: blood matrices must be serum or plasma")
        return self


class Sampling(_Block):
    """Biomarker sampling: centres (matrix, units, assay), assay noise, missingness and repeat samples."""

    source: Source
    centres: list[Centre]
    assay_cv: Annotated[float, Field(ge=0, le=1)]
    baseline_blood_missing_share: Probability
    blood_sample_at_day0_share: Probability
    repeat_blood_share: Probability
    repeat_visit_share: Probability
    assay_missing_share: Probability
    llod_nfl_pg_ml: Positive
    llod_lcn2_ng_ml: Positive

    @model_validator(mode="after")
    def _shares(self) -> Sampling:
        _check_shares({c.name: c.share for c in self.centres}, "centre shares")
        return self


class Scenario(_Block):
    """A complete simulator scenario (see ``docs/simulator.md`` for the generative model)."""

    name: Annotated[str, Field(min_length=1)]
    description: str
    demographics: Demographics
    onset_site: OnsetSite
    subtypes: list[Subtype]
    progression: Progression
    history: History
    survival: Survival
    follow_up: FollowUp
    alsfrs_items: AlsfrsItems
    respiratory: Respiratory
    anthropometrics: Anthropometrics
    clinical: Clinical
    neurofilament: Neurofilament
    lipocalin: Lipocalin
    sampling: Sampling

    @model_validator(mode="after")
    def _subtypes(self) -> Scenario:
        if not self.subtypes:
            raise ValueError("at least one subtype is required")
        names = [s.name for s in self.subtypes]
        if len(set(names)) != len(names):
            raise ValueError(f"subtype names must be unique, got {names}")
        _check_shares({s.name: s.share for s in self.subtypes}, "subtype shares")
        return self


def _scenario_dir() -> Any:
    return resources.files("features.simulate") / "scenarios"


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``features/simulate/scenarios/`` (sorted)."""
    return sorted(p.name[: -len(".yaml")] for p in _scenario_dir().iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario by name (``features/simulate/scenarios/<name>.yaml``) or from a YAML file path.

    Parameters
    ----------
    name_or_path : str or path
        A shipped scenario name such as ``"default"`` or ``"null-lcn2"``, or the path of a YAML file
        (recognised by an existing file or a ``.yaml``/``.yml`` suffix).

    Returns
    -------
    Scenario
        The validated, immutable scenario.

    Raises
    ------
    FileNotFoundError
        When no shipped scenario has that name (the message lists the available ones) or the path does not exist.
    pydantic.ValidationError
        When the YAML has unknown keys, missing keys or values out of range (every problem listed).
    """
    text_name = str(name_or_path)
    path = Path(text_name)
    if path.is_file() or path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"scenario file {text_name!r} does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        resource = _scenario_dir() / f"{text_name}.yaml"
        if not resource.is_file():
            available = ", ".join(available_scenarios()) or "none"
            raise FileNotFoundError(f"unknown scenario {text_name!r} (available: {available})")
        text = resource.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return Scenario.model_validate(data)
