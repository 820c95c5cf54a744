"""Render a run comparison (:func:`training.audit.compare.compare_runs`) as one self-contained HTML page.

The page is a pure function of the comparison dict (so the HTML and ``--json`` cannot disagree), rendered by the
template ``compare.html`` with the stylesheet and block macros the model card uses too: inline CSS, plots rendered
here with matplotlib and embedded as base64 PNG, a Content-Security-Policy that forbids loading anything from
elsewhere, and every value escaped. It opens offline in any browser. The page opens with a one-paragraph verdict
(:func:`verdict`) and a table of contents; rows that differ between the runs are highlighted and listed first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from training.evaluation.sample_size import MIN_SUBGROUP_PATIENTS, subgroup_flag
from training.reports.document import Block, Bullets, Figure, Para, Section, Subheading, render, table
from training.reports.figures import figure_png, new_figure
from training.reports.formatting import DIGITS, Estimate, Interval, number, signed

SECTIONS = ("What differs", "Data", "Code and environment", "Configuration", "Metrics", "Subgroups", "Calibration",
            "Models", "Lineage")
"""Section headings of every report, in order."""

COLOR_A, COLOR_B = "tab:blue", "tab:orange"


def _excludes_zero(row: dict[str, Any]) -> bool:
    """True when a paired difference's interval (``low``, ``high``) lies wholly above or below 0."""
    lo, hi = row.get("low"), row.get("high")
    return lo is not None and hi is not None and (lo > 0 or hi < 0)


def _b_is_better(row: dict[str, Any]) -> bool | None:
    """Whether run B is better on a paired row by the metric's direction (None when it cannot be said)."""
    diff, better = row.get("difference"), str(row.get("better", ""))
    if diff is None:
        return None
    if better == "higher":
        return bool(diff > 0)
    if better == "lower":
        return bool(diff < 0)
    if better.startswith("closer to ") and row.get("a") is not None and row.get("b") is not None:
        target = float(better.removeprefix("closer to "))
        return bool(abs(row["b"] - target) < abs(row["a"] - target))
    return None


def _figure(png: bytes | None, caption: str) -> list[Block]:
    return [Figure(caption, png)] if png else []


# ----------------------------------------------------------------------------------------------------------------
# Figures (from the report's aggregates only)
# ----------------------------------------------------------------------------------------------------------------
def calibration_figure(cal: dict[str, Any]) -> bytes | None:
    """Slope (binned) and 24-month survival calibration of both runs on one pair of axes each."""
    slope, surv = cal.get("slope", {}), cal.get("survival_24m", {})
    if not any(slope.get(t) for t in "ab") and not any(surv.get(t) for t in "ab"):
        return None
    fig = new_figure(11.0, 4.8)
    ax1, ax2 = fig.subplots(1, 2)
    values = [r[k] for t in "ab" for r in slope.get(t, []) for k in ("pred_mean", "obs_mean")
              if r.get(k) is not None]
    lo, hi = (min(values), max(values)) if values else (-2.0, 0.0)
    ax1.plot([lo, hi], [lo, hi], color="grey", linestyle="--", label="identity")
    for tag, color in (("a", COLOR_A), ("b", COLOR_B)):
        rows = slope.get(tag, [])
        if rows:
            ax1.plot([r["pred_mean"] for r in rows], [r["obs_mean"] for r in rows], "o-", color=color,
                     label=f"run {tag.upper()}")
    ax1.set_xlabel("Mean predicted ALSFRS-R slope (points/month)")
    ax1.set_ylabel("Mean observed slope, days 91-365 (points/month)")
    ax1.set_title("Slope calibration (bins of predicted median)")
    ax1.legend(loc="upper left", fontsize="small")
    ax2.plot([0, 1], [0, 1], color="grey", linestyle="--", label="identity")
    for tag, color in (("a", COLOR_A), ("b", COLOR_B)):
        rows = [r for r in surv.get(tag, []) if r.get("obs_surv") is not None and r.get("pred_surv") is not None]
        if rows:
            ax2.plot([r["pred_surv"] for r in rows], [r["obs_surv"] for r in rows], "o-", color=color,
                     label=f"run {tag.upper()}")
    ax2.set_xlim(0, 1)
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("Mean predicted event-free survival at 24 months")
    ax2.set_ylabel("Kaplan-Meier observed survival at 24 months")
    ax2.set_title("Survival calibration at 24 months (5 risk groups)")
    ax2.legend(loc="upper left", fontsize="small")
    return figure_png(fig, dpi=90)


def psi_figure(features: list[dict[str, Any]]) -> bytes | None:
    """Population stability index per feature (largest first) with the 0.1 and 0.25 reading thresholds."""
    rows = [f for f in features if f.get("psi") is not None][:15]
    if not rows:
        return None
    fig = new_figure(7.5, max(3.0, 0.32 * len(rows) + 1.5))
    ax = fig.add_subplot()
    ax.barh(range(len(rows)), [r["psi"] for r in rows][::-1], color="tab:purple")
    ax.set_yticks(range(len(rows)), [r["feature"] for r in rows][::-1])
    for x, style in ((0.1, ":"), (0.25, "--")):
        ax.axvline(x, color="grey", linestyle=style)
    ax.set_xlabel("Population stability index of run B's cohort against run A's (unit-free)")
    ax.set_title("Distribution shift of baseline fields")
    return figure_png(fig, dpi=90)


def importance_figure(rows: list[dict[str, Any]], title: str) -> bytes | None:
    """Gain share per feature for both runs (the features whose share changed most)."""
    if not rows:
        return None
    rows = rows[:12]
    fig = new_figure(7.5, max(3.0, 0.38 * len(rows) + 1.5))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    ax.barh(y + 0.2, [r["a"] for r in rows], height=0.4, color=COLOR_A, label="run A")
    ax.barh(y - 0.2, [r["b"] for r in rows], height=0.4, color=COLOR_B, label="run B")
    ax.set_yticks(y, [r["feature"] for r in rows])
    ax.set_xlabel("Share of total split gain")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    return figure_png(fig, dpi=90)


def differences_figure(rows: list[dict[str, Any]]) -> bytes | None:
    """Paired differences B − A with 95 % intervals on the common cohort (forest plot)."""
    rows = [r for r in rows if r.get("difference") is not None]
    if not rows:
        return None
    fig = new_figure(7.5, max(3.0, 0.35 * len(rows) + 1.5))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    est = np.array([r["difference"] for r in rows], dtype=float)
    lo = np.array([r["low"] if r["low"] is not None else r["difference"] for r in rows], dtype=float)
    hi = np.array([r["high"] if r["high"] is not None else r["difference"] for r in rows], dtype=float)
    ax.errorbar(est, y, xerr=np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)]), fmt="o",
                color="black", capsize=3)
    ax.axvline(0, color="grey", linestyle="--")
    ax.set_yticks(y, [f"{r['metric']} ({r['better']} is better)" for r in rows], fontsize="small")
    ax.set_xlabel("Run B − run A on the same patients (metric units)")
    ax.set_title("Paired differences with 95 % bootstrap intervals")
    return figure_png(fig, dpi=90)


# ----------------------------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------------------------
def verdict(report: dict[str, Any]) -> str:
    """The comparison in one paragraph: data, code and configuration, then what the paired metrics say.

    Parameters
    ----------
    report : dict
        Output of :func:`training.audit.compare.compare_runs`.

    Returns
    -------
    str
        E.g. "The runs used different data, the same code and 2 differing configuration keys. On the common
        evaluation cohort (300 patients), run B is better on 1 of 9 metrics and worse on 2 (95 % intervals of the
        paired difference excluding 0); the other 6 show no clear difference. ..."
    """
    level = f"{100 * report['confidence']:g} %"
    data = "the same data" if report["data"]["hash_same"] else "different data"
    code_differs = any(r["differs"] for r in report["code"]["rows"]) or bool(report["code"]["packages_differing"])
    n_cfg = len(report["config"]["differing"])
    text = (f"The runs used {data}, {'different' if code_differs else 'the same'} code and "
            + (f"{number(n_cfg)} differing configuration key(s)." if n_cfg else "identical configurations."))
    common = report["metrics"]["common"]
    if not common["available"]:
        return (f"{text} There is no paired comparison ({common['reason']}), so the runs' own test metrics, on "
                "different patients, are the only evidence; they are not a like-for-like comparison.")
    rows = common["rows"]
    decided = [_b_is_better(r) for r in rows if _excludes_zero(r)]
    better, worse = decided.count(True), decided.count(False)
    text += (f" On the common evaluation cohort ({number(common['n_patients'])} patients), run B is better on "
             f"{number(better)} of {number(len(rows))} metrics and worse on {number(worse)} ({level} interval of the "
             f"paired difference B − A excluding 0); the other {number(len(rows) - better - worse)} show no clear "
             "difference.")
    if better and not worse:
        text += " On this evidence run B is the better model on this cohort."
    elif worse and not better:
        text += " On this evidence run A (the reference) is the better model on this cohort."
    elif better and worse:
        text += " Neither run is better on every metric: weigh the metrics that matter for the intended use."
    else:
        text += " On this evidence the two models perform alike on this cohort."
    own = [t.upper() for t in "ab" if report["metrics"]["own_test"][t]["available"]
           and not report["metrics"]["own_test"][t]["matches_logged"]]
    if own:
        text += f" Warning: rescoring run {' and '.join(own)} did not reproduce its logged metrics."
    return text


def _runs_header(report: dict[str, Any]) -> Block:
    a, b = report["runs"]["a"], report["runs"]["b"]
    rows = []
    for item in ("run_id", "experiment", "run_name", "start_utc", "data_hash", "source", "n_patients", "git_commit"):
        rows.append([item.replace("_", " "), a.get(item), b.get(item)])
    versions = [", ".join(f"v{v['version']}" + (f" [{', '.join(v['aliases'])}]" if v["aliases"] else "")
                          for v in r["versions"]) or "not registered" for r in (a, b)]
    rows.append(["registered versions", *versions])
    return table("The two runs", ["", "run A (reference)", "run B"], rows, [r[1] != r[2] for r in rows])


def _item_table(title: str, rows: Sequence[dict[str, Any]], key: str = "item") -> Block:
    """A run A / run B table of ``{key, a, b, differs}`` rows (data facts, code facts)."""
    return table(title, [key, "run A", "run B"], [[r[key], r["a"], r["b"]] for r in rows],
                 [bool(r.get("differs", True)) for r in rows])


def _data(report: dict[str, Any]) -> list[Block]:
    d = report["data"]
    body: list[Block] = [Para("Data content hash: " + ("SAME for both runs." if d["hash_same"] else "DIFFERENT."),
                              "" if d["hash_same"] else "na"),
                         _item_table("Data of the two runs", d["rows"]),
                         Para(f"Run A data: {d['rebuilt']['a']}. Run B data: {d['rebuilt']['b']}.", "note"),
                         Subheading("Distribution shift of key features")]
    shift = d["shift"]
    body.append(Para(shift["reason"], "" if shift["available"] else "na"))
    if shift["features"]:
        rows = [[f["feature"], f["unit"], f["psi"], f["level"], f["missing_a"], f["missing_b"], f["summary_a"],
                 f["summary_b"]] for f in shift["features"]]
        body.append(table("Population stability index of run B's cohort against run A's, per baseline field",
                          ["feature", "unit", "PSI", "shift", "missing A", "missing B", "run A", "run B"], rows,
                          [f["level"] in ("moderate", "major") for f in shift["features"]],
                          [False, False, True, False, True, True, False, False]))
        body += _figure(psi_figure(shift["features"]), "Population stability index per baseline field")
    return body


def _code(report: dict[str, Any]) -> list[Block]:
    c = report["code"]
    body = [_item_table("Code of the two runs", c["rows"])]
    if c["packages_differing"]:
        body.append(_item_table("Package versions that differ", c["packages_differing"], "package"))
    body.append(Para(f"{number(len(c['packages_differing']))} package version(s) differ; "
                     f"{number(c['n_packages_same'])} are the same (only differences are listed).", "note"))
    return body


def _config(report: dict[str, Any]) -> list[Block]:
    c = report["config"]
    if not c["differing"]:
        return [Para(f"The configurations are identical ({number(c['n_same'])} keys).")]
    return [_item_table("Configuration keys that differ", c["differing"], "key"),
            Para(f"Only the {number(len(c['differing']))} differing keys are listed; {number(c['n_same'])} keys are "
                 "the same.", "note")]


def _metrics(report: dict[str, Any]) -> list[Block]:
    m = report["metrics"]
    level = f"{100 * report['confidence']:g} %"
    body: list[Block] = [Subheading("Each run on its own held-out patients")]
    for tag in ("a", "b"):
        own = m["own_test"][tag]
        if own["available"]:
            check = ("rescored metrics equal the logged ones" if own["matches_logged"]
                     else f"WARNING: rescored metrics differ from the logged ones: {own['mismatched']}")
            body.append(Para(f"Run {tag.upper()}: {number(own['n_patients'])} held-out patients ({own['reason']}); "
                             f"{check}.", "note"))
        else:
            body.append(Para(f"Run {tag.upper()}: {own['reason']}.", "na"))
    rows = [[r["metric"], r["better"], Estimate(r["a"], r["a_low"], r["a_high"]),
             Estimate(r["b"], r["b_low"], r["b_high"])] for r in m["rows"]]
    body.append(table(f"Test metrics of each run, estimate [{level} CI]",
                      ["metric", "better", "run A", "run B"], rows, [r["differs"] for r in m["rows"]],
                      [False, False, True, True]))
    body.append(Para(f"Test metrics with {level} intervals as each run logged them at training (percentile "
                     "bootstrap over its held-out patients, model held fixed; Wilson score intervals for the "
                     "interval coverages); for a run that logged none, percentile-bootstrap intervals computed here "
                     f"({number(report['n_bootstrap'])} resamples). These rows are on different patients when the "
                     "data differ, so they are not a paired comparison.", "note"))
    body.append(Subheading("Both models on one common evaluation cohort (paired)"))
    common = m["common"]
    if not common["available"]:
        body.append(Para(common["reason"], "na"))
        return body
    body.append(Para(f"Cohort: {common['description']}. Patients: {number(common['n_patients'])} "
                     f"({number(common['n_with_slope'])} with a slope outcome, {number(common['n_with_followup'])} "
                     f"with follow-up, {number(common['n_events'])} endpoints)."))
    rows = [[r["metric"], r["better"], r["a"], r["b"], Estimate(r["difference"], r["low"], r["high"])]
            for r in common["rows"]]
    body.append(table(f"Paired differences B − A on the common cohort, estimate [{level} CI]",
                      ["metric", "better", "run A", "run B", "B − A"], rows,
                      [_excludes_zero(r) for r in common["rows"]], [False, False, True, True, True]))
    body += _figure(differences_figure(common["rows"]), "Paired differences on the common cohort")
    return body


def _subgroups(report: dict[str, Any]) -> list[Block]:
    s = report["subgroups"]
    body: list[Block] = [Subheading("As logged by training (each run on its own test patients)")]
    if s["logged"]:
        rows = [[r["metric"], r["factor"], r["group"], r["a"], r["n_a"], r["b"], r["n_b"], signed(r["difference"]),
                 _size_flag([r["n_a"], r["n_b"]], s["min_size"])] for r in s["logged"]]
        body.append(table("Subgroup metrics as logged by each run",
                          ["metric", "factor", "group", "run A", "n A", "run B", "n B", "B − A", "size caution"],
                          rows, [r["a"] != r["b"] for r in s["logged"]],
                          [False, False, False, True, True, True, True, True, False]))
    else:
        body.append(Para("No subgroup metrics were logged.", "na"))
    body.append(Subheading("On the common evaluation cohort (paired)"))
    if not s["common"]:
        body.append(Para("Not available: no common evaluation cohort.", "na"))
        return body
    level = f"{100 * report['confidence']:g} %"
    rows = [[r["metric"], r["factor"], r["group"], r["n"], r["a"], r["b"],
             Estimate(r["difference"], r["low"], r["high"]), _size_flag([r["n"]], s["min_size"])]
            for r in s["common"]]
    flagged = [_excludes_zero(r) for r in s["common"]]
    body.append(table(f"Paired subgroup differences B − A on the common cohort, estimate [{level} CI]",
                      ["metric", "factor", "group", "n", "run A", "run B", "B − A", "size caution"], rows, flagged,
                      [False, False, False, True, True, True, True, False]))
    body.append(Para(multiple_comparisons_note(len(flagged), sum(flagged), report["confidence"]), "note"))
    body.append(Para(f"Subgroups with fewer than {number(s['min_size'])} patients with the outcome are not "
                     f"evaluated; rows with fewer than {MIN_SUBGROUP_PATIENTS} are flagged 'small' in the size "
                     "caution column (too uncertain to read on their own).", "note"))
    return body


def _size_flag(sizes: Sequence[Any], min_size: Any) -> str:
    """The size caution of a subgroup row: from its smallest known patient count (see ``subgroup_flag``)."""
    known = [n for n in sizes if n is not None]
    return subgroup_flag(min(known) if known else None, min_evaluated=int(min_size or 0))


def multiple_comparisons_note(n_rows: int, n_excluding_zero: int, confidence: float = 0.95) -> str:
    """Say how many subgroup comparisons were made and how many would exclude 0 by chance alone.

    Parameters
    ----------
    n_rows : int
        Rows compared (each with its own interval).
    n_excluding_zero : int
        Of those, rows whose interval excludes 0.
    confidence : float, default 0.95
        Confidence level of each interval.

    Returns
    -------
    str
        E.g. "24 subgroup rows were compared, each with its own 95 % interval and no correction for multiple
        comparisons: even with no real difference, about 1 in 20 (here about 1.2 rows) is expected to exclude 0 by
        chance. 2 rows do; read them as leads to check, not as findings."
    """
    alpha = 1.0 - confidence
    one_in = f"1 in {round(1 / alpha):g}" if alpha > 0 else "none"
    return (f"{number(n_rows)} subgroup rows were compared, each with its own {100 * confidence:g} % interval and no "
            f"correction for multiple comparisons: even with no real difference, about {one_in} (here about "
            f"{number(alpha * n_rows, 1)} rows) is expected to exclude 0 by chance. {number(n_excluding_zero)} "
            f"row{'s do' if n_excluding_zero != 1 else ' does'}; read them as leads to check, not as findings.")


def _calibration(report: dict[str, Any]) -> list[Block]:
    cal = report["calibration"]
    body: list[Block] = [Para(f"Basis: {cal['basis']}.")]
    png = calibration_figure(cal)
    body += _figure(png, "Calibration overlay: run A (blue) and run B (orange)")
    for tag in ("a", "b"):
        rows = cal["survival_24m"].get(tag) or []
        if rows:
            body.append(table(f"Survival calibration at 24 months, run {tag.upper()}",
                              ["group", "n", "events by 24 m", "predicted", "observed (KM)", "KM 95 % CI"],
                              [[r.get("group"), r.get("n"), r.get("n_events"), r.get("pred_surv"), r.get("obs_surv"),
                                Interval(r.get("obs_lower"), r.get("obs_upper"))] for r in rows],
                              numeric=[True, True, True, True, True, False]))
    if not png:
        body.append(Para("Not available: no calibration data for either run.", "na"))
    return body


def _models(report: dict[str, Any]) -> list[Block]:
    m = report["models"]
    if m.get("reason"):
        return [Para(m["reason"], "na")]
    body: list[Block] = []
    for part, title in (("slope", "slope median model"), ("survival", "survival model")):
        rows = m["importance"].get(part, [])
        body.append(table(f"Feature importance, {title} (largest changes first)",
                          ["feature", "share A", "share B", "change", "rank A", "rank B"],
                          [[r["feature"], r["a"], r["b"], signed(r["change"]), r["rank_a"], r["rank_b"]]
                           for r in rows],
                          [abs(r["change"]) >= 0.02 for r in rows], [False, True, True, True, True, True]))
        body += _figure(importance_figure(rows, f"Gain share, {title}"), f"Feature importance of the {title}, "
                        "both runs")
    body.append(Subheading("Subtypes"))
    for tag in ("a", "b"):
        subs = m["subtypes"].get(tag, [])
        body.append(Para(f"Run {tag.upper()}: " + "; ".join(f"{s['name']} (label {s['label']}, "
                                                           f"{number(s['n_train'])} training patients)"
                                                           for s in subs)))
    agreement = m.get("agreement")
    if agreement:
        body.append(Para(f"Agreement on the common cohort: adjusted Rand index {number(agreement['ari'])} (1 = the "
                         "same partition, 0 = chance)."))
        rows = [[name, *counts] for name, counts in zip(agreement["rows"], agreement["counts"], strict=True)]
        body.append(table("Patients of the common cohort by subtype in run A (rows) and run B (columns)",
                          ["run A subtype \\ run B subtype", *agreement["columns"]], rows,
                          numeric=[False] + [True] * len(agreement["columns"])))
    else:
        body.append(Para(m.get("agreement_reason", "Subtype agreement not available."), "na"))
    for tag, match in (m.get("champion_match") or {}).items():
        if match:
            body.append(Para(champion_match_line(tag, match) + "."))
    return body


def _lineage(report: dict[str, Any]) -> list[Block]:
    body: list[Block] = []
    for tag in ("a", "b"):
        lin = report["lineage"][tag]
        body.append(Subheading(f"Run {tag.upper()}"))
        if lin["versions"]:
            body.append(table(f"Registered versions of run {tag.upper()}",
                              ["model", "version", "aliases now", "registered (UTC)"],
                              [[v["model_name"], v["version"], ", ".join(v["aliases"]) or None, v["created_utc"]]
                               for v in lin["versions"]]))
        else:
            body.append(Para("No registered version.", "na"))
        if lin["history"]:
            body.append(table(f"Promotion attempts for the versions of run {tag.upper()}",
                              ["time (UTC)", "version", "previous champion", "gate", "forced", "moved", "approver",
                               "reason"],
                              [[h["time_utc"], h["version"], h["previous_champion"] or None, h["gate"], h["forced"],
                                h["moved"], h["approver"], h["reason"]] for h in lin["history"]]))
        else:
            body.append(Para("No promotion attempt recorded for its versions.", "note"))
    return body


def render_html(report: dict[str, Any]) -> str:
    """The comparison as one self-contained HTML page (no external resources; figures as data: URIs).

    Parameters
    ----------
    report : dict
        The comparison dict (JSON-ready), as built by the audit room's ``compare_runs``.

    Returns
    -------
    str
        The page, top to bottom: the verdict paragraph, a table of contents, how to read the numbers, the two runs
        side by side, then one section per entry of :data:`SECTIONS`.
    """
    a, b = report["runs"]["a"]["run_id"], report["runs"]["b"]["run_id"]
    title = f"Run comparison: {a} (A) vs {b} (B)"
    intro: list[Block] = [
        Para(f"Generated {report['generated_utc']} by alsstrat runs compare. Run A is the reference: differences read "
             f"B − A. Highlighted rows differ. Numbers are rounded to {DIGITS} decimals; intervals read "
             "estimate [low, high]; — marks a missing value.", "note"),
        _runs_header(report),
        *(Para(f"Run {tag.upper()}: {w}", "strong") for tag in ("a", "b")
          for w in report["runs"][tag].get("warnings", []))]
    body: dict[str, list[Block]] = {
        "What differs": [Bullets(tuple(report["differences"]))],
        "Data": _data(report), "Code and environment": _code(report), "Configuration": _config(report),
        "Metrics": _metrics(report), "Subgroups": _subgroups(report), "Calibration": _calibration(report),
        "Models": _models(report), "Lineage": _lineage(report),
    }
    sections = [Section(name, tuple(body[name])) for name in SECTIONS]
    return render("compare.html", title=title, verdict=Para(verdict(report), "verdict"), intro=intro,
                  sections=sections)


def champion_match_line(tag: str, match: dict[str, Any]) -> str:
    """One sentence on how a run's subtypes were matched to the champion (``runs compare``, text and HTML)."""
    agreement, ari = match["agreement"], match["ari"]
    return (f"run {tag.upper()}'s subtypes were matched to champion version {match['champion_version']} when trained: "
            f"{match['matched']} of {len(match['label_map'])} kept the champion's label and name; both models put "
            + (f"{100 * agreement:.0f} %" if agreement is not None else "n/a")
            + " of its test patients in the same subtype (ARI "
            + (f"{ari:.3f}" if ari is not None else "n/a") + ")")
