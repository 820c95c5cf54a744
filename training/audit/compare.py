"""Compare two training runs for an auditor: data, code, configuration, metrics, subgroups, calibration, models,
lineage — what differs first.
 :func:`compare_runs` returns one JSON-ready dict (``alsstrat runs compare --json``);
:mod:`training.reports.compare_html` renders the same dict as a self-contained HTML page. Every number is an aggregate:
metrics, intervals, bin means,
counts, population stability indices; no patient-level value is included.

Where the numbers come from
---------------------------
* Logged facts (tags, params, metrics, ``config.yaml``, ``environment.json``, ``counts.json``, aggregate tables)
  are always available.
* Bootstrap intervals of each run's test metrics need its held-out patients: the data are rebuilt from the logged
  config (simulator settings, or an input path that still exists), accepted only when the content hash matches,
  and re-split with the logged seed. Rescoring the saved model on them must give back the logged metrics; the
  report says whether it did.
* Paired differences, calibration overlays and subtype agreement need one cohort both models can be scored on:
  the patients both runs held out (same data hash) or the cohort named with ``--on``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.data import runs as AD
from training.evaluation import bootstrap as B
from training.evaluation import scoring as SC
from training.evaluation import shift as SH
from training.evaluation.outcomes import Outcomes

if TYPE_CHECKING:
    from features.model.bundle import StratifierModel

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

Stage = Callable[[str], None]
REPORT_KIND = "alsstrat run comparison"
REPORT_VERSION = 1
SHIFT_KEY_FEATURES = 12
IMPORTANCE_ROWS = 15
TARGETS = {"slope_interval_coverage_80": 0.8, "slope_calibration_slope": 1.0, "slope_calibration_intercept": 0.0,
           "survival_calibration_slope_24m": 1.0, "survival_calibration_intercept_24m": 0.0}


def better_direction(metric: str) -> str:
    """How to read a metric: ``higher``, ``lower`` or ``closer to <target>`` is better."""
    base = metric.removeprefix("test_").split(".", 1)[0]
    if base in TARGETS:
        return f"closer to {TARGETS[base]:g}"
    if base in SC.LOWER_IS_BETTER or base.endswith("_rmse") or base.endswith("_ibs"):
        return "lower"
    return "higher"


def _f(v: Any) -> float | None:
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _count(v: Any) -> int | None:
    x = _f(v)
    return None if x is None else int(round(x))


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return not (a == b or (math.isnan(a) and math.isnan(b)))
    return a != b


def _identity(run: AD.RunFacts) -> dict[str, Any]:
    return {"run_id": run.run_id, "experiment": run.experiment, "run_name": run.run_name,
            "start_utc": run.start_utc, "status": run.status, "data_hash": run.data_hash, "source": run.source,
            "n_patients": run.n_patients, "git_commit": run.git_commit, "git_dirty": run.git_dirty,
            "versions": [v.to_dict() for v in run.versions],
            # Sample-size warnings the run was tagged with at training (e.g. too few events per predictor).
            "warnings": [v for k, v in sorted(run.tags.items()) if k.startswith("warning.")]}


# ----------------------------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------------------------
def _availability(run: AD.RunFacts) -> dict[str, float | None]:
    c, n = run.counts, run.n_patients or 0
    if not c or not n:
        return {}

    def share(key: str) -> float | None:
        total = c.get(f"n_train_{key}", 0) + c.get(f"n_test_{key}", 0)
        return total / n if n else None

    return {"share with slope outcome": share("with_slope"), "share with survival follow-up": share("with_followup"),
            "share with endpoint observed": share("events")}


def data_section(a: AD.RunFacts, b: AD.RunFacts, rebuilt_a: AD.RunData, rebuilt_b: AD.RunData) -> dict[str, Any]:
    same = a.data_hash == b.data_hash
    rows: list[dict[str, Any]] = [
        {"item": "data content hash", "a": a.data_hash, "b": b.data_hash},
        {"item": "source", "a": a.source, "b": b.source},
        {"item": "patients", "a": a.n_patients, "b": b.n_patients},
        {"item": "ALSFRS scale maximum", "a": a.tags.get("alsfrs_scale"), "b": b.tags.get("alsfrs_scale")},
        {"item": "data description", "a": a.tags.get("data_description"), "b": b.tags.get("data_description")},
        {"item": "feature spec hash", "a": a.tags.get("spec_hash"), "b": b.tags.get("spec_hash")},
    ]
    for key in ("n_train", "n_test", "n_test_with_slope", "n_test_with_followup", "n_test_events"):
        rows.append({"item": key.replace("_", " "), "a": a.counts.get(key), "b": b.counts.get(key)})
    av_a, av_b = _availability(a), _availability(b)
    for key in dict.fromkeys([*av_a, *av_b]):
        va, vb = av_a.get(key), av_b.get(key)
        rows.append({"item": key, "a": None if va is None else round(va, 4), "b": None if vb is None else round(vb, 4)})
    for row in rows:
        row["differs"] = _differs(row["a"], row["b"])
    shift: dict[str, Any]
    if same:
        shift = {"available": True, "reason": "identical data (same content hash): no distribution shift",
                 "features": []}
    elif rebuilt_a.available and rebuilt_b.available:
        features = SH.distribution_shift(rebuilt_a.table, rebuilt_b.table)
        shift = {"available": True, "reason": "PSI of run B's cohort against run A's (deciles of A; missing values "
                                              "are a bin of their own): <0.1 none, 0.1-0.25 moderate, >=0.25 major",
                 "features": features}
    else:
        why = "; ".join(f"run {tag}: {r.reason}" for tag, r in (("A", rebuilt_a), ("B", rebuilt_b))
                        if not r.available)
        shift = {"available": False, "reason": f"not available: {why}", "features": []}
    return {"hash_same": same, "rows": _diff_first(rows), "rebuilt": {"a": rebuilt_a.reason, "b": rebuilt_b.reason},
            "shift": shift}


def _diff_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: not r.get("differs", False))


def code_section(a: AD.RunFacts, b: AD.RunFacts) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [{"item": "git commit", "a": a.git_commit, "b": b.git_commit},
                                  {"item": "uncommitted changes (git dirty)", "a": a.git_dirty, "b": b.git_dirty}]
    for row in rows:
        row["differs"] = _differs(row["a"], row["b"])
    env_a, env_b = a.environment, b.environment
    packages = [{"package": k, "a": env_a.get(k, "not recorded"), "b": env_b.get(k, "not recorded")}
                for k in sorted(set(env_a) | set(env_b)) if env_a.get(k) != env_b.get(k)]
    same = sum(1 for k in set(env_a) & set(env_b) if env_a[k] == env_b[k])
    return {"rows": _diff_first(rows), "packages_differing": packages, "n_packages_same": same,
            "recorded": {"a": bool(env_a), "b": bool(env_b)}}


def config_section(a: AD.RunFacts, b: AD.RunFacts) -> dict[str, Any]:
    from training.tracking import flatten

    def flat(run: AD.RunFacts) -> tuple[dict[str, str], str]:
        if run.config is not None:
            return {k: str(v) for k, v in flatten("", run.config).items()}, "config.yaml"
        return dict(run.params), "params"

    fa, src_a = flat(a)
    fb, src_b = flat(b)
    keys = sorted(set(fa) | set(fb))
    differing = [{"key": k, "a": fa.get(k, "(absent)"), "b": fb.get(k, "(absent)")} for k in keys
                 if fa.get(k) != fb.get(k)]
    return {"differing": differing, "n_same": len(keys) - len(differing), "source": {"a": src_a, "b": src_b}}


def _own_test(run: AD.RunFacts, rebuilt: AD.RunData, model: StratifierModel | None, *, n_bootstrap: int, seed: int,
              confidence: float) -> dict[str, Any]:
    """Bootstrap intervals of a run's test metrics on its own held-out patients (rebuilt), checked against the log."""
    if not rebuilt.available or model is None:
        why = rebuilt.reason if not rebuilt.available else "the run's model cannot be loaded"
        return {"available": False, "reason": f"intervals not available: {why}", "metrics": {}}
    assert rebuilt.data is not None
    test, train = rebuilt.rows("test"), rebuilt.rows("train")
    # The scoring the training job logged its test metrics with, so the estimates must equal the logged values.
    pred = SC.predict_cohort(model, test)
    out = Outcomes.from_table(test, rebuilt.data.truth)
    train_followup = Outcomes.from_table(train).followup()
    boot = B.resample(lambda idx: SC.cohort_metrics(pred, out, idx, train_followup=train_followup), out.n,
                      n_resamples=n_bootstrap, seed=seed, confidence=confidence)
    metrics: dict[str, Any] = {}
    mismatched = []
    for key in boot.estimates:
        interval = boot.interval(key).to_dict()
        logged = _f(run.metrics.get(f"test_{key}"))
        interval["logged"] = logged
        est = interval["estimate"]
        if (logged is None) != (est is None) or (logged is not None and est is not None
                                                 and not math.isclose(logged, est, rel_tol=1e-9, abs_tol=1e-12)):
            mismatched.append(key)
        metrics[f"test_{key}"] = interval
    return {"available": True, "n_patients": out.n, **out.counts(), "metrics": metrics,
            "matches_logged": not mismatched, "mismatched": [f"test_{k}" for k in mismatched],
            "reason": "held-out patients rebuilt from the logged config and split seed"}


def _metric_rows(a: AD.RunFacts, b: AD.RunFacts, own_a: dict[str, Any], own_b: dict[str, Any]) -> list[dict[str, Any]]:
    def keys(run: AD.RunFacts) -> list[str]:
        return [k for k in run.metrics if "." not in k and not k.endswith(("_ci_low", "_ci_high"))
                and k.startswith(("test_", "baseline_", "lcn2_added_", "oracle_"))]

    rows = []
    for key in sorted(set(keys(a)) | set(keys(b)), key=lambda k: (not k.startswith("test_"), k)):
        row: dict[str, Any] = {"metric": key, "better": better_direction(key)}
        for tag, run, own in (("a", a, own_a), ("b", b, own_b)):
            row[tag] = _f(run.metrics.get(key))
            lo, hi = _f(run.metrics.get(f"{key}_ci_low")), _f(run.metrics.get(f"{key}_ci_high"))
            if lo is None and key in own.get("metrics", {}):
                lo, hi = own["metrics"][key]["low"], own["metrics"][key]["high"]
            row[f"{tag}_low"], row[f"{tag}_high"] = lo, hi
        # Two runs' estimates nearly always differ; highlight the rows whose intervals do not even overlap (or,
        # without intervals, whose values differ).
        if None not in (row["a_low"], row["a_high"], row["b_low"], row["b_high"]):
            row["differs"] = row["a_high"] < row["b_low"] or row["b_high"] < row["a_low"]
        else:
            row["differs"] = _differs(row["a"], row["b"])
        rows.append(row)
    return rows


def _common_rows(paired: B.Paired, keys: list[str]) -> list[dict[str, Any]]:
    rows = []
    for key in keys:
        diff = paired.difference(key)
        rows.append({"metric": key, "better": better_direction(key), "a": _f(paired.a.estimates.get(key)),
                     "b": _f(paired.b.estimates.get(key)), "difference": _f(diff.estimate), "low": _f(diff.ci_low),
                     "high": _f(diff.ci_high), "n_valid_resamples": diff.n_valid})
    return rows


def _logged_subgroups(a: AD.RunFacts, b: AD.RunFacts) -> list[dict[str, Any]]:
    rows = []
    keys = {k for run in (a, b) for k in run.metrics if k.count(".") == 2 and "_n." not in k}
    for key in sorted(keys):
        metric, factor, group = key.split(".", 2)
        size_key = f"{metric}_n.{factor}.{group}"
        va, vb = _f(a.metrics.get(key)), _f(b.metrics.get(key))
        rows.append({"metric": metric, "factor": factor, "group": group, "better": better_direction(metric),
                     "a": va, "b": vb, "n_a": _count(a.metrics.get(size_key)), "n_b": _count(b.metrics.get(size_key)),
                     "difference": None if va is None or vb is None else vb - va})
    return rows


def _load(run: AD.RunFacts) -> tuple[StratifierModel | None, str]:
    try:
        return AD.load_model(run), ""
    except Exception as exc:  # noqa: BLE001 - a missing artifact is reported in the comparison, not fatal
        logger.debug("loading the model of run %s failed", run.run_id, exc_info=True)
        return None, f"{type(exc).__name__}: {exc}"


def _lineage(run: AD.RunFacts, history: list[Any]) -> dict[str, Any]:
    versions = {(v.model_name, v.version) for v in run.versions}
    records = [h.to_dict() for h in history if (h.model_name, h.version) in versions]
    return {"versions": [v.to_dict() for v in run.versions], "history": records}


# ----------------------------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------------------------
def compare_runs(run_a: str, run_b: str, *, on: Path | None = None, n_bootstrap: int = 200, seed: int = 42,
                 confidence: float = 0.95, subgroup_min_size: int = 20, stage: Stage | None = None) -> dict[str, Any]:
    """Compare two training runs; every section lists what differs first.

    Parameters
    ----------
    run_a, run_b : str
        MLflow run ids of two training runs (A is the reference: differences read B − A).
    on : Path, optional
        A cohort Parquet file (``alsstrat cohort``) to score both models on. Without it, both are scored on the
        patients they both held out when their data hashes match.
    n_bootstrap : int, default 200
        Bootstrap resamples for every interval (0: point estimates only).
    seed : int, default 42
        Seed of the resampling.
    confidence : float, default 0.95
        Two-sided level of the intervals.
    subgroup_min_size : int, default 20
        Smallest subgroup (patients with the outcome) evaluated on the common cohort.
    stage : callable, optional
        Receives a short progress message per step.

    Returns
    -------
    dict
        The comparison, JSON-ready (NaN as None).

    Raises
    ------
    training.data.runs.AuditError
        For an unknown run, a run that is not a training run, or an unusable ``--on`` file.
    """
    from training.registry.promotion import promotion_history

    say = stage or (lambda s: None)
    if on is not None and not on.is_file():  # checked first: everything else takes a while
        raise AD.AuditError(f"--on {on}: no such cohort file (write one with `alsstrat cohort ... --out FILE`)")
    say("reading runs")
    a, b = AD.get_run(run_a), AD.get_run(run_b)
    cache = AD.DataCache()
    say("rebuilding the runs' data")
    rebuilt_a = AD.rebuild_run_data(a, cache)
    rebuilt_b = AD.rebuild_run_data(b, cache)
    say("loading models")
    model_a, err_a = _load(a)
    model_b, err_b = _load(b)
    report: dict[str, Any] = {
        "kind": REPORT_KIND, "format_version": REPORT_VERSION,
        "generated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": {"a": _identity(a), "b": _identity(b)},
        "confidence": confidence, "n_bootstrap": n_bootstrap, "seed": seed,
    }
    say("data and configuration")
    report["data"] = data_section(a, b, rebuilt_a, rebuilt_b)
    report["code"] = code_section(a, b)
    report["config"] = config_section(a, b)
    say("bootstrapping each run's test metrics")
    own_a = _own_test(a, rebuilt_a, model_a, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    own_b = _own_test(b, rebuilt_b, model_b, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence)
    say("common evaluation cohort")
    cohort = AD.common_cohort(a, b, on, cache)
    common: dict[str, Any]
    pred_a = pred_b = out = None
    common_subgroups: list[dict[str, Any]] = []
    if isinstance(cohort, str) or model_a is None or model_b is None:
        why = cohort if isinstance(cohort, str) else f"a model cannot be loaded ({err_a or err_b})"
        common = {"available": False, "reason": f"not available: {why}", "rows": []}
    else:
        AD.check_scale(model_a, cohort, f"run A ({a.run_id})")
        AD.check_scale(model_b, cohort, f"run B ({b.run_id})")
        pred_a, pred_b = SC.predict_cohort(model_a, cohort.table), SC.predict_cohort(model_b, cohort.table)
        out = Outcomes.from_table(cohort.table, cohort.truth)
        paired = SC.paired_cohort_metrics(pred_a, pred_b, out, n_resamples=n_bootstrap, seed=seed,
                                          confidence=confidence, subgroup_min_size=subgroup_min_size)
        keys = [k for k in paired.a.estimates if "." not in k]
        common = {"available": True, **cohort.to_dict(), **out.counts(), "rows": _common_rows(paired, keys)}
        sizes = SC.subgroup_sizes(paired.a.estimates)
        sub_keys = [k for k in sizes if k in paired.a.estimates or k in paired.b.estimates]
        for row in _common_rows(paired, sub_keys):
            metric, factor, group = row["metric"].split(".", 2)
            common_subgroups.append({**row, "metric": metric, "factor": factor, "group": group,
                                     "n": sizes[row["metric"]]})
    report["metrics"] = {"own_test": {"a": own_a, "b": own_b}, "rows": _metric_rows(a, b, own_a, own_b),
                         "common": common}
    report["subgroups"] = {"logged": _logged_subgroups(a, b), "common": common_subgroups,
                           "min_size": subgroup_min_size}
    say("calibration and models")
    report["calibration"] = _calibration(a, b, rebuilt_a, rebuilt_b, model_a, model_b, pred_a, pred_b, out)
    report["models"] = _models(model_a, model_b, err_a, err_b, pred_a, pred_b)
    report["models"]["champion_match"] = {"a": champion_match_facts(a), "b": champion_match_facts(b)}
    history = promotion_history()
    report["lineage"] = {"a": _lineage(a, history), "b": _lineage(b, history)}
    report["differences"] = summarise(report)
    return report


def _calibration(a: AD.RunFacts, b: AD.RunFacts, rebuilt_a: AD.RunData, rebuilt_b: AD.RunData,
                 model_a: StratifierModel | None, model_b: StratifierModel | None, pred_a: SC.Predictions | None,
                 pred_b: SC.Predictions | None, out: Outcomes | None) -> dict[str, Any]:
    if pred_a is not None and pred_b is not None and out is not None:
        return {"basis": "both models on the common evaluation cohort",
                "slope": {"a": SC.slope_calibration_bins(pred_a, out), "b": SC.slope_calibration_bins(pred_b, out)},
                "survival_24m": {"a": SC.survival_calibration_rows(pred_a, out),
                                 "b": SC.survival_calibration_rows(pred_b, out)}}
    result: dict[str, Any] = {"basis": "each model on its own held-out patients (not the same patients)",
                              "slope": {}, "survival_24m": {}}
    for tag, run, rebuilt, model in (("a", a, rebuilt_a, model_a), ("b", b, rebuilt_b, model_b)):
        table = run.table("survival_calibration_24m")
        rows = [] if table is None else [{k: _f(v) for k, v in r.items()} for r in table.to_dict(orient="records")]
        result["survival_24m"][tag] = rows
        bins: list[dict[str, float]] = []
        if rebuilt.available and model is not None and rebuilt.data is not None:
            test = rebuilt.rows("test")
            bins = SC.slope_calibration_bins(SC.predict_cohort(model, test), Outcomes.from_table(test))
        result["slope"][tag] = bins
    return result


def _models(model_a: StratifierModel | None, model_b: StratifierModel | None, err_a: str, err_b: str,
            pred_a: SC.Predictions | None, pred_b: SC.Predictions | None) -> dict[str, Any]:
    section: dict[str, Any] = {"importance": {}, "subtypes": {}, "agreement": None}
    if model_a is None or model_b is None:
        section["reason"] = f"model not loadable: {err_a or err_b}"
        return section
    imp_a, imp_b = SC.booster_importance(model_a), SC.booster_importance(model_b)
    for part in ("slope", "survival"):
        names = sorted(set(imp_a[part]) | set(imp_b[part]))
        rank_a = {n: i + 1 for i, n in enumerate(sorted(names, key=lambda n: -imp_a[part].get(n, 0.0)))}
        rank_b = {n: i + 1 for i, n in enumerate(sorted(names, key=lambda n: -imp_b[part].get(n, 0.0)))}
        used = [n for n in names if imp_a[part].get(n, 0.0) > 0 or imp_b[part].get(n, 0.0) > 0]
        used.sort(key=lambda n: -abs(imp_b[part].get(n, 0.0) - imp_a[part].get(n, 0.0)))
        section["importance"][part] = [
            {"feature": n, "a": imp_a[part].get(n, 0.0), "b": imp_b[part].get(n, 0.0),
             "change": imp_b[part].get(n, 0.0) - imp_a[part].get(n, 0.0), "rank_a": rank_a[n], "rank_b": rank_b[n]}
            for n in used[:IMPORTANCE_ROWS]]
    for tag, model in (("a", model_a), ("b", model_b)):
        section["subtypes"][tag] = [{"label": s.label, "name": s.name, "n_train": _count(s.profile.get("n")),
                                     "description": s.description} for s in model.subtype.subtypes]
    if pred_a is not None and pred_b is not None:
        section["agreement"] = SC.subtype_agreement(pred_a, pred_b)
    else:
        section["agreement_reason"] = "not available: no common evaluation cohort"
    return section


def champion_match_facts(run: AD.RunFacts) -> dict[str, Any] | None:
    """How a run's subtypes were matched to the champion at training time (logged tags and metrics), or None.

    ``label_map`` maps the run's mixture components to the labels they carry (the champion's where matched);
    ``agreement`` is the share of the run's test patients both models put in the same subtype, ``ari`` their
    adjusted Rand index (:mod:`training.fit.champion_match`).
    """
    import json

    version = run.tags.get("subtype_champion_version")
    if not version:
        return None
    return {"champion_version": version, "label_map": json.loads(run.tags.get("subtype_label_map", "{}")),
            "matched": _count(run.metrics.get("subtype_champion_matched")),
            "agreement": _f(run.metrics.get("subtype_champion_agreement")),
            "ari": _f(run.metrics.get("subtype_champion_ari"))}


def summarise(report: dict[str, Any]) -> list[str]:
    """What differs between the runs, most important first, in words (the top of every report)."""
    out: list[str] = []
    data = report["data"]
    out.append("data: identical content hash" if data["hash_same"] else
               f"data: DIFFERENT content hash ({report['runs']['a']['data_hash'][:12]}… vs "
               f"{report['runs']['b']['data_hash'][:12]}…)")
    shifted = [f"{f['feature']} (PSI {f['psi']:.2f})" for f in data["shift"]["features"]
               if f["psi"] is not None and f["psi"] >= 0.1]
    if shifted:
        out.append(f"distribution shift (PSI >= 0.1): {', '.join(shifted[:SHIFT_KEY_FEATURES])}")
    for row in data["rows"]:
        if row["differs"] and row["item"] != "data content hash":
            out.append(f"{row['item']}: {row['a']} vs {row['b']}")
    for row in report["code"]["rows"]:
        if row["differs"]:
            out.append(f"code {row['item']}: {row['a']} vs {row['b']}")
    if report["code"]["packages_differing"]:
        out.append("package versions differ: " + ", ".join(
            f"{p['package']} {p['a']} vs {p['b']}" for p in report["code"]["packages_differing"]))
    n_cfg = len(report["config"]["differing"])
    if n_cfg:
        keys = ", ".join(r["key"] for r in report["config"]["differing"][:8])
        out.append(f"configuration: {n_cfg} key(s) differ ({keys}{', ...' if n_cfg > 8 else ''})")
    common = report["metrics"]["common"]
    if common["available"]:
        for row in common["rows"]:
            lo, hi = row["low"], row["high"]
            if lo is not None and hi is not None and (lo > 0 or hi < 0):
                out.append(f"{row['metric']} differs on the common cohort: B − A = {row['difference']:+.4f} "
                           f"(95 % CI {lo:+.4f} to {hi:+.4f}; better = {row['better']})")
    else:
        out.append(f"no paired comparison: {common['reason']}")
    agreement = report["models"].get("agreement")
    if agreement:
        out.append(f"subtype agreement on the common cohort: ARI {agreement['ari']:.3f}, same subtype label for "
                   f"{100 * agreement['same_label_share']:.0f} % of patients")
    for tag, match in (report["models"].get("champion_match") or {}).items():
        if match:
            from training.reports.compare_html import champion_match_line

            out.append(champion_match_line(tag, match))
    for tag in ("a", "b"):
        own = report["metrics"]["own_test"][tag]
        if own["available"] and not own["matches_logged"]:
            out.append(f"WARNING run {tag.upper()}: rescoring its held-out patients does not reproduce the logged "
                       f"metrics {own['mismatched']}")
    return out
