"""The promotion gate: a candidate version may replace the champion only if it is non-inferior on a common cohort.

Both models are scored on one evaluation cohort (:func:`training.data.runs.common_cohort`): the patients neither
model trained on when they share their training data, or a cohort the approver names with ``--on PATH``. Each
configured criterion (``training/configs/gate.yaml``) compares a metric of the candidate with the champion's, up to
a margin; the same is done within every subgroup (sex, onset site, age band) large enough to evaluate. The gate
passes when no criterion fails.

Outcomes (recorded in the promotion history with every attempt):

* ``passed`` — every evaluable criterion is non-inferior;
* ``failed`` — at least one criterion is worse than its margin allows;
* ``no-champion`` — there is no champion yet, so nothing to compare with (passes trivially, recorded as such);
* ``already-champion`` — the candidate already holds the alias (passes trivially);
* ``not-evaluable`` — no common cohort (different training data and no ``--on``, data not rebuildable, or too few
  patients). Fail-closed: the promotion is refused unless forced.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.evaluation import bootstrap as B
from training.evaluation import scoring as SC
from training.evaluation.outcomes import Outcomes

GATE_CONFIG = "gate.yaml"
PASSING = frozenset({"passed", "no-champion", "already-champion"})
# "adopted": not a gate verdict but an explicit, recorded acceptance of an alias moved outside the history.
GateStatus = Literal["passed", "failed", "no-champion", "already-champion", "not-evaluable", "adopted"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateCriterion(_Strict):
    """One non-inferiority criterion: the candidate's loss may exceed the champion's by at most ``margin``.

    The loss is ``-value`` for ``better: higher``, ``value`` for ``better: lower`` and ``|value - target|`` for
    ``better: closer``; ``margin`` is in the metric's unit (e.g. points/month for ``slope_rmse``).
    """

    metric: str
    better: Literal["higher", "lower", "closer"]
    margin: float = Field(ge=0)
    target: float | None = None

    @model_validator(mode="after")
    def _target(self) -> GateCriterion:
        if self.better == "closer" and self.target is None:
            raise ValueError(f"criterion {self.metric!r}: better: closer needs a target")
        if self.better != "closer" and self.target is not None:
            raise ValueError(f"criterion {self.metric!r}: target is only used with better: closer")
        return self

    def loss(self, value: np.ndarray) -> np.ndarray:
        v = np.asarray(value, dtype=float)
        if self.better == "higher":
            return -v
        if self.better == "lower":
            return v
        assert self.target is not None
        return np.abs(v - self.target)

    def rule(self) -> str:
        """The criterion in words, e.g. ``candidate >= champion - 0.02``."""
        if self.better == "higher":
            return f"candidate >= champion - {self.margin:g}"
        if self.better == "lower":
            return f"candidate <= champion + {self.margin:g}"
        return f"|candidate - {self.target:g}| <= |champion - {self.target:g}| + {self.margin:g}"


class SubgroupGate(_Strict):
    """Criteria applied within every subgroup of at least ``min_size`` patients with the outcome."""

    factors: tuple[Literal["sex", "onset_site", "age_band"], ...] = ("sex", "onset_site", "age_band")
    min_size: int = Field(20, ge=5)
    criteria: tuple[GateCriterion, ...] = ()

    @model_validator(mode="after")
    def _metrics(self) -> SubgroupGate:
        bad = [c.metric for c in self.criteria if c.metric not in SC.SUBGROUP_BASE_METRICS]
        if bad:
            raise ValueError(f"subgroup criteria support {list(SC.SUBGROUP_BASE_METRICS)}, got {bad}")
        return self


class GateConfig(_Strict):
    """The gate's criteria and margins (``training/configs/gate.yaml``; unknown keys refused)."""

    decision: Literal["estimate", "lower_bound"] = "estimate"
    n_bootstrap: int = Field(200, ge=50, le=10_000)
    seed: int = 42
    min_patients: int = Field(40, ge=10)
    criteria: tuple[GateCriterion, ...] = Field(min_length=1)
    subgroups: SubgroupGate = Field(default_factory=lambda: SubgroupGate.model_validate({}))

    @model_validator(mode="after")
    def _metrics(self) -> GateConfig:
        bad = [c.metric for c in self.criteria if c.metric not in SC.COHORT_METRICS]
        if bad:
            raise ValueError(f"unknown gate metric(s) {bad}; choose from {list(SC.COHORT_METRICS)}")
        return self


def load_gate_config(path: str | Path | None = None) -> GateConfig:
    """Load and validate the gate config; ``None`` loads ``training/configs/gate.yaml``.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    pydantic.ValidationError
        For unknown keys, unknown metrics or out-of-range values (the message names the key).
    """
    if path is None:
        text = resources.files("training.configs").joinpath(GATE_CONFIG).read_text()
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"gate config file not found: {p}")
        text = p.read_text()
    return GateConfig.model_validate(yaml.safe_load(text) or {})


@dataclass(frozen=True)
class CriterionResult:
    """One criterion evaluated: both values, the loss difference (candidate − champion) and the verdict."""

    name: str
    better: str
    margin: float
    target: float | None
    champion: float
    candidate: float
    loss_difference: float
    upper_bound: float | None
    status: Literal["passed", "failed", "not evaluated"]
    note: str = ""

    def line(self) -> str:
        """One readable line with both values, e.g. for the terminal."""
        def f(v: float) -> str:
            return "n/a" if not math.isfinite(v) else f"{v:.4f}"

        text = f"{self.name}: candidate {f(self.candidate)} vs champion {f(self.champion)}"
        if self.target is not None:
            text += f" (target {self.target:g})"
        if math.isfinite(self.loss_difference):
            worse = self.loss_difference
            text += (f"; worse by {worse:.4f}" if worse > 0 else f"; better by {-worse:.4f}" if worse < 0
                     else "; equal")
            if self.upper_bound is not None:
                text += f" (95 % upper bound {self.upper_bound:.4f})"
            text += f", allowed {self.margin:g}"
        if self.note:
            text += f" [{self.note}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("champion", "candidate", "loss_difference", "upper_bound"):
            v = d[k]
            d[k] = None if v is None or not math.isfinite(v) else float(v)
        return d


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict for one promotion attempt."""

    status: GateStatus
    candidate: str
    champion: str | None
    reason: str = ""
    decision: str = "estimate"
    cohort: dict[str, Any] | None = None
    criteria: tuple[CriterionResult, ...] = field(default_factory=tuple)
    subtype_agreement: dict[str, float] | None = None
    """Information, not a criterion: the share of the gate cohort both models put in the same subtype label
    (``same_label_share``; labels carry over between matched versions) and the adjusted Rand index (``ari``)."""

    @property
    def passed(self) -> bool:
        return self.status in PASSING

    @property
    def failures(self) -> list[CriterionResult]:
        return [c for c in self.criteria if c.status == "failed"]

    def summary(self) -> str:
        """A one-paragraph account stored as an immutable param of the promotion record."""
        if self.status == "no-champion":
            return "no champion yet: nothing to compare with, the gate passes trivially"
        if self.status == "already-champion":
            return f"version {self.candidate} already is the champion"
        if self.status == "not-evaluable":
            return f"gate not evaluable: {self.reason}"
        if self.status == "adopted":
            return f"gate not run: {self.reason}"
        checked = [c for c in self.criteria if c.status != "not evaluated"]
        head = (f"{self.status}: {len(checked) - len(self.failures)} of {len(checked)} checks non-inferior "
                f"({self.decision}) on {self.cohort.get('n_patients') if self.cohort else '?'} patients")
        return "; ".join([head, *(c.line() for c in self.failures)])

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "candidate": self.candidate, "champion": self.champion,
                "reason": self.reason, "decision": self.decision, "cohort": self.cohort,
                "criteria": [c.to_dict() for c in self.criteria], "subtype_agreement": self.subtype_agreement}


def _judge(name: str, crit: GateCriterion, champion: float, candidate: float,
           upper: float | None) -> CriterionResult:
    loss_c = float(crit.loss(np.array([candidate]))[0])
    loss_p = float(crit.loss(np.array([champion]))[0])
    diff = loss_c - loss_p

    def result(status: Literal["passed", "failed", "not evaluated"], note: str = "") -> CriterionResult:
        return CriterionResult(name=name, better=crit.better, margin=crit.margin, target=crit.target,
                               champion=champion, candidate=candidate, loss_difference=diff, upper_bound=upper,
                               status=status, note=note)

    if not math.isfinite(candidate) and not math.isfinite(champion):
        return result("not evaluated", "undefined for both models on this cohort")
    if not math.isfinite(candidate):
        # Fail closed: a metric the champion achieves but the candidate cannot is not evidence of non-inferiority.
        return result("failed", "undefined for the candidate")
    if not math.isfinite(champion):
        return result("passed", "undefined for the champion")
    # The tolerance only absorbs floating-point noise: two identical models must pass with margin 0.
    tested = upper if upper is not None and math.isfinite(upper) else diff
    return result("failed" if tested > crit.margin + 1e-12 else "passed")


def judge(cfg: GateConfig, champion: dict[str, float], candidate: dict[str, float],
          sizes: dict[str, int], paired: B.Paired | None = None) -> list[CriterionResult]:
    """Apply every criterion to two models' metrics on the same cohort (``cohort_metrics`` dictionaries)."""
    results = []
    for crit in cfg.criteria:
        upper = None
        if paired is not None:
            upper = paired.loss_difference(crit.metric, crit.loss).ci_high
        results.append(_judge(crit.metric, crit, champion.get(crit.metric, math.nan),
                              candidate.get(crit.metric, math.nan), upper))
    for crit in cfg.subgroups.criteria:
        for key, n in sizes.items():
            metric, factor, _ = key.split(".", 2)
            if metric != crit.metric or factor not in cfg.subgroups.factors:
                continue
            if n < cfg.subgroups.min_size:
                results.append(CriterionResult(
                    name=key, better=crit.better, margin=crit.margin, target=crit.target, champion=math.nan,
                    candidate=math.nan, loss_difference=math.nan, upper_bound=None, status="not evaluated",
                    note=f"{n} patients < {cfg.subgroups.min_size}"))
                continue
            results.append(_judge(key, crit, champion.get(key, math.nan), candidate.get(key, math.nan), None))
    return results


def evaluate_gate(model_name: str, candidate: str, champion: str | None, cfg: GateConfig, *,
                  on: Path | None = None) -> GateResult:
    """Compare a candidate version with the champion on a common cohort.

    Parameters
    ----------
    model_name : str
        Registered model name.
    candidate, champion : str
        Versions; ``champion`` None means there is no champion yet.
    cfg : GateConfig
        Criteria and margins.
    on : Path, optional
        A cohort Parquet file to evaluate on (otherwise the patients both versions held out, when they share
        their training data).

    Returns
    -------
    GateResult

    Raises
    ------
    training.data.runs.AuditError
        When a version does not exist, ``on`` is unreadable, or the cohort is on another ALSFRS scale.
    """
    from training.data import runs as AD

    if champion is None:
        return GateResult(status="no-champion", candidate=candidate, champion=None, decision=cfg.decision)
    if champion == candidate:
        return GateResult(status="already-champion", candidate=candidate, champion=champion, decision=cfg.decision)
    cand_run = AD.get_run(_run_id(AD.get_version(model_name, candidate)))
    champ_run = AD.get_run(_run_id(AD.get_version(model_name, champion)))
    cohort = AD.common_cohort(champ_run, cand_run, on)
    if isinstance(cohort, str):
        return GateResult(status="not-evaluable", candidate=candidate, champion=champion, reason=cohort,
                          decision=cfg.decision)
    out = Outcomes.from_table(cohort.table)
    counts = out.counts()
    info = {**cohort.to_dict(), **counts}
    too_few = min(counts["n_with_slope"], counts["n_with_followup"])
    if too_few < cfg.min_patients:
        return GateResult(status="not-evaluable", candidate=candidate, champion=champion, decision=cfg.decision,
                          cohort=info, reason=f"the common cohort has only {too_few} patients with outcomes "
                                              f"(< min_patients {cfg.min_patients}); name a larger one with --on")
    from features.model.pyfunc import IncompatibleModelError

    try:
        model_c = AD.load_model(cand_run)
        model_p = AD.load_model(champ_run)
    except IncompatibleModelError as exc:
        # A model this code cannot score (another feature spec) cannot be shown non-inferior or inferior.
        return GateResult(status="not-evaluable", candidate=candidate, champion=champion, decision=cfg.decision,
                          cohort=info, reason=str(exc))
    AD.check_scale(model_c, cohort, f"candidate version {candidate}")
    AD.check_scale(model_p, cohort, f"champion version {champion}")
    pred_c, pred_p = SC.predict_cohort(model_c, cohort.table), SC.predict_cohort(model_p, cohort.table)
    min_size = cfg.subgroups.min_size
    with B.quiet():
        m_c = SC.cohort_metrics(pred_c, out, subgroup_min_size=min_size)
        m_p = SC.cohort_metrics(pred_p, out, subgroup_min_size=min_size)
    paired = None
    if cfg.decision == "lower_bound":
        paired = SC.paired_cohort_metrics(pred_p, pred_c, out, n_resamples=cfg.n_bootstrap, seed=cfg.seed)
    # Both models are scored on the same patients, so either's subgroup sizes will do.
    results = judge(cfg, m_p, m_c, SC.subgroup_sizes(m_c), paired)
    status: GateStatus = "failed" if any(r.status == "failed" for r in results) else "passed"
    agreement = SC.subtype_agreement(pred_p, pred_c)
    return GateResult(status=status, candidate=candidate, champion=champion, decision=cfg.decision, cohort=info,
                      criteria=tuple(results), subtype_agreement={"same_label_share": agreement["same_label_share"],
                                                                   "ari": agreement["ari"]})


def _run_id(version: Any) -> str:
    from training.data.runs import AuditError

    if not version.run_id:
        raise AuditError(f"{version.model_name} version {version.version} records no training run")
    return str(version.run_id)
