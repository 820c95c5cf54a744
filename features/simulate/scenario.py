"""Scenario configuration of the cohort simulator: typed, validated, loaded from YAML.

A scenario is every number the generative model in :mod:`features.simulate.generate` uses; the simulator itself
holds no clinical constants. Scenarios live in ``features/simulate/scenarios/<name>.yaml``; any YAML file with the
same keys can be passed by path. Unknown keys are refused (``extra="forbid"``), so a typo cannot silently fall
back to a default.

Every number in a scenario file is a *sourced parameter*: one mapping that holds the value together with where it
comes from (:class:`Parameter`)::

    rate_points_per_month:
      value: -0.59                      # the figure exactly as the statement quotes it
      source: clinical-facts.md §4.1, DREAM 2012 trial subset [C]
      statement: "months 3–12 slope median −0.59"
      derive: [{op: times, by: 48}, {op: divide_by, by: -40}]   # 0-40 -> 0-48 scale, loss positive

A parameter with a citation must carry the quoted ``statement``, and its ``value`` must be one of the figures
that statement quotes (checked on loading); a unit conversion, a ratio applied to another parameter or a
log/exp is an explicit ``derive`` chain that the loader applies, never a silently pre-computed number. A
parameter without a literature figure says ``source: assumption`` and gives its ``reason``; every effect of
lipocalin-2 (LCN2) in humans is an unvalidated hypothesis, and the loader refuses an LCN2 effect parameter whose
reason does not say so. Each block keeps a short ``source`` line that names its sources without quoting figures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from features import spec as S

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Source = Annotated[str, Field(min_length=3, description="Which sources the block's parameters cite (no figures).")]

ONSET_SITES = ("limb", "bulbar", "respiratory", "other")
DOMAINS = ("bulbar", "fine_motor", "gross_motor", "respiratory")
SHARE_TOLERANCE = 1e-6


class _Block(BaseModel):
    """Base of every scenario block: no unknown keys, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------------------------------
# Sourced parameters: value, source, statement and derivation in one structure
# --------------------------------------------------------------------------------------------------------------------
ASSUMPTION = "assumption"
CITATION_PATTERN = r"^clinical-facts\.md §\d+(\.\d+)*\b"
# A figure in a statement: a signed decimal not glued to a word or another number ("x1.2" and "Q10" are not
# figures), so that "0.47-1.11" reads as the range 0.47 to 1.11 and "-0.80" (or "−0.80") as negative.
FIGURE_PATTERN = re.compile(r"(?<![\w.])(?:(?<![\d.])([-−]))?(\d+(?:\.\d+)?)(?![\w.]*\d)")
FIGURE_REL_TOL = 1e-12
# Effect parameters of LCN2 (levels, subtype multipliers): no human ALS figure exists (clinical-facts.md §6, §10.7).
LCN2_EFFECT_PATTERN = re.compile(r"(^lipocalin\.)|(\.lcn2_[a-z_]*multiplier$)")

Number = int | float
ParameterValue = Number | list[Number] | dict[str, Number] | dict[str, dict[str, Number]]


def statement_figures(statement: str) -> list[float]:
    """The figures a source statement quotes, in order.

    Parameters
    ----------
    statement : str
        The quoted statement, e.g. ``"bulbar median slope -0.80 vs limb -0.55"``.

    Returns
    -------
    list of float
        The signed decimal numbers in the statement (dimensionless; the statement's own units).
    """
    return [float(m.group(2)) * (-1.0 if m.group(1) else 1.0) for m in FIGURE_PATTERN.finditer(statement)]


def _leaves(value: ParameterValue) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [float(v) for v in value]
    return [float(value)]


class Step(BaseModel):
    """One step of a declared derivation, applied in order to the quoted figure.

    ``times``, ``divide_by`` and ``plus`` take ``by``: a number, or the path of another parameter (e.g.
    ``"subtypes.typical.rate_points_per_month"``) whose derived value is used; ``exp`` and ``log`` take none.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: Literal["times", "divide_by", "plus", "exp", "log"]
    by: float | str | None = None

    @model_validator(mode="after")
    def _operand(self) -> Step:
        unary = self.op in ("exp", "log")
        if unary and self.by is not None:
            raise ValueError(f"derivation step {self.op!r} takes no 'by'")
        if not unary and self.by is None:
            raise ValueError(f"derivation step {self.op!r} needs 'by' (a number or a parameter path)")
        return self


_OPS: dict[str, Callable[[float, float], float]] = {
    "times": lambda x, b: x * b,
    "divide_by": lambda x, b: x / b,
    "plus": lambda x, b: x + b,
    "exp": lambda x, _: math.exp(x),
    "log": lambda x, _: math.log(x),
}


class Parameter(BaseModel):
    """One scenario number with its provenance.

    ``value`` is the figure as its source states it (a number, or a list/mapping of numbers for shares and
    ranges). With a citation (``source`` = ``"clinical-facts.md §<section>, <study>"``) the quoted ``statement``
    is required and must contain every figure of ``value``. With ``source: assumption`` a ``reason`` is
    required (a ``statement`` is optional and, when present, checked the same way). ``derive`` turns the
    figure into the number the simulator uses (scalars only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: ParameterValue
    source: Annotated[str, Field(min_length=3)]
    statement: str | None = None
    reason: str | None = None
    derive: list[Step] = Field(default_factory=list)

    @property
    def is_assumption(self) -> bool:
        """Whether the parameter is a modelling assumption (no literature figure)."""
        return self.source == ASSUMPTION

    @model_validator(mode="after")
    def _provenance(self) -> Parameter:
        if self.is_assumption:
            if not self.reason or len(self.reason.strip()) < 10:
                raise ValueError("an assumption needs a 'reason' (why this value, what it is chosen against)")
        else:
            if not re.match(CITATION_PATTERN, self.source):
                raise ValueError(f"source must be {ASSUMPTION!r} or cite 'clinical-facts.md §<section>, <study>', "
                                 f"got {self.source!r}")
            if not self.statement:
                raise ValueError("a cited parameter needs the quoted 'statement' its value comes from")
        if self.statement is not None:
            quoted = statement_figures(self.statement)
            missing = [x for x in _leaves(self.value)
                       if not any(math.isclose(x, q, rel_tol=FIGURE_REL_TOL, abs_tol=0.0) for q in quoted)]
            if missing:
                raise ValueError(f"value {self.value!r} disagrees with its statement {self.statement!r} "
                                 f"(figures {missing} are not quoted there; quoted: {quoted})")
        if self.derive and not isinstance(self.value, int | float):
            raise ValueError("only a single number can be derived")
        return self


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _error(loc: tuple[str | int, ...], kind: str, message: str, node: object) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, "{message}", {"message": message}), loc=loc, input=node)


def _item_key(item: object, index: int) -> str | int:
    # List items with a name (subtypes, centres) are addressed by it, so that a path survives reordering.
    return item["name"] if isinstance(item, dict) and isinstance(item.get("name"), str) else index


def _collect(node: Any, loc: tuple[str | int, ...], params: dict[str, Parameter],
             errors: list[InitErrorDetails]) -> None:
    path = ".".join(str(p) for p in loc)
    if isinstance(node, dict) and "value" in node:
        try:
            params[path] = Parameter.model_validate(node)
        except ValidationError as exc:
            for e in exc.errors():
                errors.append(_error(loc + tuple(e["loc"]), "invalid_parameter", e["msg"], node))
            return
        if LCN2_EFFECT_PATTERN.search(path):
            reason = params[path].reason or ""
            if not params[path].is_assumption or "hypothesis" not in reason.lower():
                errors.append(_error(loc, "unflagged_lcn2_hypothesis",
                                     "an LCN2 effect is an unvalidated hypothesis in humans: it must be "
                                     "'source: assumption' with a reason that says 'hypothesis'", node))
    elif isinstance(node, dict):
        for key, child in node.items():
            _collect(child, loc + (key,), params, errors)
    elif isinstance(node, list):
        if node and all(_is_number(x) for x in node):
            errors.append(_error(loc, "unsourced_parameter",
                                 "bare numbers: every parameter is a mapping with 'value' and 'source'", node))
        else:
            for i, child in enumerate(node):
                _collect(child, loc + (_item_key(child, i),), params, errors)
    elif _is_number(node):
        errors.append(_error(loc, "unsourced_parameter",
                             "a bare number: every parameter is a mapping with 'value' and 'source'", node))


def _derived(path: str, params: dict[str, Parameter], done: dict[str, Any], visiting: set[str]) -> Any:
    if path in done:
        return done[path]
    if path in visiting:
        raise ValueError(f"derivation cycle through {path!r}")
    visiting.add(path)
    param = params[path]
    value: Any = param.value
    for step in param.derive:
        operand = 0.0
        if isinstance(step.by, str):
            if step.by not in params:
                raise ValueError(f"derivation of {path!r} refers to unknown parameter {step.by!r}")
            operand = float(_derived(step.by, params, done, visiting))
        elif step.by is not None:
            operand = step.by
        value = _OPS[step.op](float(value), operand)
    visiting.discard(path)
    done[path] = value
    return value


def _replace(node: Any, loc: tuple[str | int, ...], done: dict[str, Any]) -> Any:
    path = ".".join(str(p) for p in loc)
    if path in done and isinstance(node, dict) and "value" in node:
        return done[path]
    if isinstance(node, dict):
        return {k: _replace(v, loc + (k,), done) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, loc + (_item_key(v, i),), done) for i, v in enumerate(node)]
    return node


def resolve_parameters(data: Any) -> tuple[Any, dict[str, Parameter]]:
    """Validate the sourced parameters of raw scenario data and apply their derivations.

    Parameters
    ----------
    data : object
        The scenario as read from YAML, every number wrapped in a :class:`Parameter` mapping.

    Returns
    -------
    plain : object
        The same structure with each parameter mapping replaced by its derived value (what :class:`Scenario`
        validates).
    parameters : dict of str to Parameter
        Every parameter by its dotted path (list items by name, e.g. ``"subtypes.inflammatory.hazard_ratio"``).

    Raises
    ------
    pydantic.ValidationError
        When a number has no source, a parameter mapping is invalid (unknown keys, missing statement or
        reason, a value its statement does not quote), an LCN2 effect is not flagged as a hypothesis, or a
        derivation refers to an unknown parameter or loops; every problem is listed.
    """
    params: dict[str, Parameter] = {}
    errors: list[InitErrorDetails] = []
    _collect(data, (), params, errors)
    done: dict[str, Any] = {}
    if not errors:
        for path in params:
            try:
                _derived(path, params, done, set())
            except (ValueError, ArithmeticError) as exc:
                errors.append(_error(tuple(path.split(".")), "invalid_derivation", str(exc), params[path].value))
    if errors:
        raise ValidationError.from_exception_data("Scenario", errors)
    return _replace(data, (), done), params


def _check_shares(shares: dict[str, float], what: str, keys: tuple[str, ...] | None = None) -> None:
    """Shares must sum to 1 and, when ``keys`` is given (a vocabulary of the feature spec), cover exactly it."""
    if keys is not None and set(shares) != set(keys):
        raise ValueError(f"{what} must have exactly the keys {sorted(keys)}")
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
        _check_shares(self.event_type_shares, "event_type_shares", keys=S.EVENTS)
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
        _check_shares(self.el_escorial_shares, "el_escorial_shares", keys=S.EL_ESCORIAL)
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


def _scenario_text(name_or_path: str | Path) -> str:
    text_name = str(name_or_path)
    path = Path(text_name)
    if path.is_file() or path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"scenario file {text_name!r} does not exist")
        return path.read_text(encoding="utf-8")
    resource = _scenario_dir() / f"{text_name}.yaml"
    if not resource.is_file():
        available = ", ".join(available_scenarios()) or "none"
        raise FileNotFoundError(f"unknown scenario {text_name!r} (available: {available})")
    return str(resource.read_text(encoding="utf-8"))


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
        When the YAML has unknown keys, missing keys, values out of range, a number without its source or a
        value its source statement does not quote (every problem listed; see :func:`resolve_parameters`).
    """
    text = _scenario_text(name_or_path)
    plain, _ = resolve_parameters(yaml.safe_load(text))
    return Scenario.model_validate(plain)


def scenario_parameters(name_or_path: str | Path) -> dict[str, Parameter]:
    """The sourced parameters of a scenario (value as quoted, source, statement or reason, derivation).

    Parameters
    ----------
    name_or_path : str or path
        As for :func:`load_scenario`.

    Returns
    -------
    dict of str to Parameter
        Every parameter by its dotted path, e.g. ``"subtypes.inflammatory.lcn2_blood_multiplier"``.

    Raises
    ------
    FileNotFoundError, pydantic.ValidationError
        As for :func:`load_scenario`.
    """
    return resolve_parameters(yaml.safe_load(_scenario_text(name_or_path)))[1]
