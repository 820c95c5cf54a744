"""Render a run comparison (:func:`training.audit.compare.compare_runs`) as one self-contained HTML page.

The page is a pure function of the comparison dict (so the HTML and ``--json`` cannot disagree): inline CSS, plots
rendered here with matplotlib and embedded as base64 PNG, a Content-Security-Policy that forbids loading anything
from elsewhere, and every value escaped. It opens offline in any browser. Rows that differ between the runs are
highlighted and listed first.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from training.reports.plots import figure_png

SECTIONS = ("What differs", "Data", "Code and environment", "Configuration", "Metrics", "Subgroups", "Calibration",
            "Models", "Lineage")
"""Section headings of every report, in order."""

COLOR_A, COLOR_B = "tab:blue", "tab:orange"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 72rem; margin: 2rem auto;
       padding: 0 1rem; color: #1b1b1b; line-height: 1.4; }
h1 { border-bottom: 2px solid #444; padding-bottom: .3rem; font-size: 1.5rem; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; font-size: 1.2rem; }
h3 { font-size: 1rem; margin-bottom: .3rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .85rem; }
th, td { border: 1px solid #bbb; padding: .2rem .45rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.differs td { background: #fff4c2; }
ul.differs li { margin: .15rem 0; }
p.note { color: #555; font-size: .85rem; }
p.na { color: #8a4b00; }
code { font-size: .85rem; }
img { max-width: 100%; border: 1px solid #ddd; }
figure { margin: .8rem 0; }
.legend-a { color: #1f77b4; font-weight: 600; } .legend-b { color: #e07000; font-weight: 600; }
"""


# ----------------------------------------------------------------------------------------------------------------
# Small HTML helpers
# ----------------------------------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.{digits}f}"
    return str(value)


def _ci(low: Any, high: Any) -> str:
    if low is None or high is None:
        return "n/a"
    return f"{_num(low)} to {_num(high)}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], differs: Sequence[bool] | None = None,
           numeric: Sequence[bool] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="differs"' if differs is not None and differs[i] else ""
        cells = []
        for j, cell in enumerate(row):
            is_num = numeric is not None and numeric[j]
            text = _num(cell) if is_num or isinstance(cell, float) else _e(cell)
            cells.append(f'<td class="num">{text}</td>' if is_num else f"<td>{text}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _para(text: str, cls: str = "") -> str:
    return f'<p class="{cls}">{_e(text)}</p>' if cls else f"<p>{_e(text)}</p>"


def _figure(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


# ----------------------------------------------------------------------------------------------------------------
# Figures (from the report's aggregates only)
# ----------------------------------------------------------------------------------------------------------------
def _new_figure(width: float, height: float) -> Figure:
    # An Agg canvas per figure: no pyplot global state, no process-wide backend change (as in training.reports.plots).
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def calibration_figure(cal: dict[str, Any]) -> bytes | None:
    """Slope (binned) and 24-month survival calibration of both runs on one pair of axes each."""
    slope, surv = cal.get("slope", {}), cal.get("survival_24m", {})
    if not any(slope.get(t) for t in "ab") and not any(surv.get(t) for t in "ab"):
        return None
    fig = _new_figure(11.0, 4.8)
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
    fig = _new_figure(7.5, max(3.0, 0.32 * len(rows) + 1.5))
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
    fig = _new_figure(7.5, max(3.0, 0.38 * len(rows) + 1.5))
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
    fig = _new_figure(7.5, max(3.0, 0.35 * len(rows) + 1.5))
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
def _section(title: str, body: list[str]) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{"".join(body)}</section>'


def _runs_header(report: dict[str, Any]) -> str:
    a, b = report["runs"]["a"], report["runs"]["b"]
    rows = []
    for item in ("run_id", "experiment", "run_name", "start_utc", "data_hash", "source", "n_patients", "git_commit"):
        rows.append([item.replace("_", " "), a.get(item), b.get(item)])
    versions = [", ".join(f"v{v['version']}" + (f" [{', '.join(v['aliases'])}]" if v["aliases"] else "")
                          for v in r["versions"]) or "not registered" for r in (a, b)]
    rows.append(["registered versions", *versions])
    return _table(["", "run A (reference)", "run B"], rows, [r[1] != r[2] for r in rows])


def _data(report: dict[str, Any]) -> list[str]:
    d = report["data"]
    body = [_para("Data content hash: " + ("SAME for both runs." if d["hash_same"] else "DIFFERENT."),
                  "" if d["hash_same"] else "na")]
    body.append(_table(["item", "run A", "run B"], [[r["item"], r["a"], r["b"]] for r in d["rows"]],
                       [r["differs"] for r in d["rows"]]))
    body.append(_para(f"Run A data: {d['rebuilt']['a']}. Run B data: {d['rebuilt']['b']}.", "note"))
    body.append("<h3>Distribution shift of key features</h3>")
    shift = d["shift"]
    body.append(_para(shift["reason"], "" if shift["available"] else "na"))
    if shift["features"]:
        rows = [[f["feature"], f["unit"], f["psi"], f["level"], f["missing_a"], f["missing_b"], f["summary_a"],
                 f["summary_b"]] for f in shift["features"]]
        body.append(_table(["feature", "unit", "PSI", "shift", "missing A", "missing B", "run A", "run B"], rows,
                           [f["level"] in ("moderate", "major") for f in shift["features"]],
                           [False, False, True, False, True, True, False, False]))
        png = psi_figure(shift["features"])
        if png:
            body.append(_figure(png, "Population stability index per baseline field"))
    return body


def _code(report: dict[str, Any]) -> list[str]:
    c = report["code"]
    body = [_table(["item", "run A", "run B"], [[r["item"], r["a"], r["b"]] for r in c["rows"]],
                   [r["differs"] for r in c["rows"]])]
    if c["packages_differing"]:
        body.append(_table(["package", "run A", "run B"],
                           [[p["package"], p["a"], p["b"]] for p in c["packages_differing"]],
                           [True] * len(c["packages_differing"])))
    body.append(_para(f"{len(c['packages_differing'])} package version(s) differ; {c['n_packages_same']} are the "
                      "same (only differences are listed).", "note"))
    return body


def _config(report: dict[str, Any]) -> list[str]:
    c = report["config"]
    if not c["differing"]:
        return [_para(f"The configurations are identical ({c['n_same']} keys).")]
    return [_table(["key", "run A", "run B"], [[r["key"], r["a"], r["b"]] for r in c["differing"]],
                   [True] * len(c["differing"])),
            _para(f"Only the {len(c['differing'])} differing keys are listed; {c['n_same']} keys are the same.",
                  "note")]


def _metrics(report: dict[str, Any]) -> list[str]:
    m = report["metrics"]
    level = f"{100 * report['confidence']:g} %"
    body = ["<h3>Each run on its own held-out patients</h3>"]
    for tag in ("a", "b"):
        own = m["own_test"][tag]
        if own["available"]:
            check = ("rescored metrics equal the logged ones" if own["matches_logged"]
                     else f"WARNING: rescored metrics differ from the logged ones: {own['mismatched']}")
            body.append(_para(f"Run {tag.upper()}: {own['n_patients']} held-out patients ({own['reason']}); "
                              f"{check}.", "note"))
        else:
            body.append(_para(f"Run {tag.upper()}: {own['reason']}.", "na"))
    rows = [[r["metric"], r["better"], r["a"], _ci(r["a_low"], r["a_high"]), r["b"], _ci(r["b_low"], r["b_high"])]
            for r in m["rows"]]
    body.append(_table(["metric", "better", "run A", f"A {level} CI", "run B", f"B {level} CI"], rows,
                       [r["differs"] for r in m["rows"]], [False, False, True, False, True, False]))
    body.append(_para(f"Test metrics with {level} percentile-bootstrap intervals ({report['n_bootstrap']} resamples "
                      "of the held-out patients, model held fixed); LCN2 intervals as logged by training. These "
                      "rows are on different patients when the data differ, so they are not a paired comparison.",
                      "note"))
    body.append("<h3>Both models on one common evaluation cohort (paired)</h3>")
    common = m["common"]
    if not common["available"]:
        body.append(_para(common["reason"], "na"))
        return body
    body.append(_para(f"Cohort: {common['description']}. Patients: {common['n_patients']} ({common['n_with_slope']} "
                      f"with a slope outcome, {common['n_with_followup']} with follow-up, {common['n_events']} "
                      "endpoints)."))
    rows = [[r["metric"], r["better"], r["a"], r["b"], r["difference"], _ci(r["low"], r["high"])]
            for r in common["rows"]]
    significant = [r["low"] is not None and r["high"] is not None and (r["low"] > 0 or r["high"] < 0)
                   for r in common["rows"]]
    body.append(_table(["metric", "better", "run A", "run B", "B − A", f"{level} CI (paired)"], rows, significant,
                       [False, False, True, True, True, False]))
    png = differences_figure(common["rows"])
    if png:
        body.append(_figure(png, "Paired differences on the common cohort"))
    return body


def _subgroups(report: dict[str, Any]) -> list[str]:
    s = report["subgroups"]
    body = ["<h3>As logged by training (each run on its own test patients)</h3>"]
    if s["logged"]:
        rows = [[r["metric"], r["factor"], r["group"], r["a"], r["n_a"], r["b"], r["n_b"], r["difference"]]
                for r in s["logged"]]
        body.append(_table(["metric", "factor", "group", "run A", "n A", "run B", "n B", "B − A"], rows,
                           [r["a"] != r["b"] for r in s["logged"]],
                           [False, False, False, True, True, True, True, True]))
    else:
        body.append(_para("No subgroup metrics were logged.", "na"))
    body.append("<h3>On the common evaluation cohort (paired)</h3>")
    if s["common"]:
        level = f"{100 * report['confidence']:g} %"
        rows = [[r["metric"], r["factor"], r["group"], r["n"], r["a"], r["b"], r["difference"],
                 _ci(r["low"], r["high"])] for r in s["common"]]
        significant = [r["low"] is not None and r["high"] is not None and (r["low"] > 0 or r["high"] < 0)
                       for r in s["common"]]
        body.append(_table(["metric", "factor", "group", "n", "run A", "run B", "B − A", f"{level} CI"], rows,
                           significant, [False, False, False, True, True, True, True, False]))
        body.append(_para(f"Subgroups with fewer than {s['min_size']} patients with the outcome are not evaluated.",
                          "note"))
    else:
        body.append(_para("Not available: no common evaluation cohort.", "na"))
    return body


def _calibration(report: dict[str, Any]) -> list[str]:
    cal = report["calibration"]
    body = [_para(f"Basis: {cal['basis']}.")]
    png = calibration_figure(cal)
    if png:
        body.append(_figure(png, "Calibration overlay: run A (blue) and run B (orange)"))
    for tag in ("a", "b"):
        rows = cal["survival_24m"].get(tag) or []
        if rows:
            body.append(f"<h3>Survival calibration at 24 months, run {tag.upper()}</h3>")
            body.append(_table(["group", "n", "events by 24 m", "predicted", "observed (KM)", "KM 95 % CI"],
                               [[r.get("group"), r.get("n"), r.get("n_events"), r.get("pred_surv"), r.get("obs_surv"),
                                 _ci(r.get("obs_lower"), r.get("obs_upper"))] for r in rows],
                               numeric=[True, True, True, True, True, False]))
    if not png:
        body.append(_para("Not available: no calibration data for either run.", "na"))
    return body


def _models(report: dict[str, Any]) -> list[str]:
    m = report["models"]
    if m.get("reason"):
        return [_para(m["reason"], "na")]
    body = []
    for part, title in (("slope", "slope median model"), ("survival", "survival model")):
        rows = m["importance"].get(part, [])
        body.append(f"<h3>Feature importance, {title} (largest changes first)</h3>")
        body.append(_table(["feature", "share A", "share B", "change", "rank A", "rank B"],
                           [[r["feature"], r["a"], r["b"], r["change"], r["rank_a"], r["rank_b"]] for r in rows],
                           [abs(r["change"]) >= 0.02 for r in rows], [False, True, True, True, True, True]))
        png = importance_figure(rows, f"Gain share, {title}")
        if png:
            body.append(_figure(png, f"Feature importance of the {title}, both runs"))
    body.append("<h3>Subtypes</h3>")
    for tag in ("a", "b"):
        subs = m["subtypes"].get(tag, [])
        body.append(_para(f"Run {tag.upper()}: " + "; ".join(f"{s['name']} (label {s['label']}, "
                                                            f"{_num(s['n_train'], 0)} training patients)"
                                                            for s in subs)))
    agreement = m.get("agreement")
    if agreement:
        body.append(_para(f"Agreement on the common cohort: adjusted Rand index {agreement['ari']:.3f} (1 = the "
                          "same partition, 0 = chance)."))
        rows = [[name, *counts] for name, counts in zip(agreement["rows"], agreement["counts"], strict=True)]
        body.append(_table(["run A subtype \\ run B subtype", *agreement["columns"]], rows,
                           numeric=[False] + [True] * len(agreement["columns"])))
    else:
        body.append(_para(m.get("agreement_reason", "Subtype agreement not available."), "na"))
    return body


def _lineage(report: dict[str, Any]) -> list[str]:
    body = []
    for tag in ("a", "b"):
        lin = report["lineage"][tag]
        body.append(f"<h3>Run {tag.upper()}</h3>")
        if lin["versions"]:
            body.append(_table(["model", "version", "aliases now", "registered (UTC)"],
                               [[v["model_name"], v["version"], ", ".join(v["aliases"]) or "-", v["created_utc"]]
                                for v in lin["versions"]]))
        else:
            body.append(_para("No registered version.", "na"))
        if lin["history"]:
            body.append(_table(["time (UTC)", "version", "previous champion", "gate", "forced", "moved", "approver",
                                "reason"],
                               [[h["time_utc"], h["version"], h["previous_champion"] or "-", h["gate"], h["forced"],
                                 h["moved"], h["approver"], h["reason"]] for h in lin["history"]]))
        else:
            body.append(_para("No promotion attempt recorded for its versions.", "note"))
    return body


def render_html(report: dict[str, Any]) -> str:
    """The comparison as one self-contained HTML page (no external resources; figures as data: URIs)."""
    a, b = report["runs"]["a"]["run_id"], report["runs"]["b"]["run_id"]
    title = f"Run comparison: {a} (A) vs {b} (B)"
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{csp}">', f"<title>{_e(title)}</title>",
             f"<style>{_CSS}</style>", "</head>", "<body>", f"<h1>{_e(title)}</h1>",
             _para(f"Generated {report['generated_utc']} by alsstrat runs compare. Run A is the reference: "
                   "differences read B − A. Highlighted rows differ.", "note"),
             _runs_header(report)]
    body = {
        "What differs": ['<ul class="differs">' + "".join(f"<li>{_e(d)}</li>" for d in report["differences"])
                         + "</ul>"],
        "Data": _data(report), "Code and environment": _code(report), "Configuration": _config(report),
        "Metrics": _metrics(report), "Subgroups": _subgroups(report), "Calibration": _calibration(report),
        "Models": _models(report), "Lineage": _lineage(report),
    }
    parts += [_section(title, body[title]) for title in SECTIONS]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
