"""``plan.html``: the plan as a self-contained page (inline CSS and SVG; no scripts, fonts or external links).

Two figures, drawn as inline SVG so the page needs nothing else: the distribution of the prognostic score in the
pool coloured by stratum, and the sample size per arm of every design.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from trialdesign.pool import ScoredPool

_COLOURS = {1: "#4c9f70", 2: "#e0a030", 3: "#c8553d"}
_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trial plan: {{ plan.endpoint }} endpoint</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; line-height: 1.4 }
table { border-collapse: collapse; margin: 1em 0 } th, td { border: 1px solid #bbb; padding: .3em .6em }
th { background: #eee } td.num { text-align: right } .note { color: #555; font-size: .9em }
</style></head><body>
<h1>Trial plan: {{ plan.endpoint }} endpoint</h1>
<p>Model {{ plan.model.name }} version {{ plan.model.version }} (run {{ plan.model.run_id }});
pool of {{ plan.pool.n_candidates }} candidates. Prognostic score: {{ plan.pool.prognostic_score }}.
Strata: {{ plan.pool.strata }}.</p>
<h2>Design inputs</h2>
<table><tr>{% for k in plan.design %}<th>{{ k }}</th>{% endfor %}</tr>
<tr>{% for v in plan.design.values() %}<td>{{ v }}</td>{% endfor %}</tr></table>
<h2>Sample size by design</h2>
<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for d in plan.designs %}<tr>{% for c in columns %}<td class="num">{{ d.get(c, "") }}</td>{% endfor %}</tr>
{% endfor %}</table>
{{ size_chart | safe }}
<h2>Prognostic score by stratum</h2>
{{ score_chart | safe }}
<p>Stratum sizes: {% for s, n in plan.pool.stratum_sizes.items() %}stratum {{ s }}: {{ n }}{% if not loop.last %},
{% endif %}{% endfor %}; boundaries {{ plan.pool.stratum_boundaries }}.</p>
<h2>Where the numbers come from</h2>
<ul>{% for k, v in plan.sources.items() %}<li><b>{{ k }}</b>: {{ v }}</li>{% endfor %}</ul>
<p class="note">n_per_arm includes the dropout inflation n / (1 - dropout) and, for the slope endpoint, the
enrolled who yield no slope outcome (died or no visit in months 3-12): n / ((1 - dropout) outcome_observed_share);
planned_power is the power of the analysed patients at that size. Check any plan by simulation
(<code>alsstrat trial simulate</code>) before relying on it. LCN2 effects in humans are unvalidated hypotheses:
a model using LCN2 plans with the held-out performance of simulated or registry data, not with a validated
biomarker.</p>
</body></html>
"""


def _histogram_svg(score: np.ndarray, stratum: np.ndarray, label: str, bins: int = 30) -> str:
    """Stacked histogram of ``score`` coloured by stratum (inline SVG)."""
    width, height, pad = 640, 240, 40
    lo, hi = float(np.min(score)), float(np.max(score))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    counts = {s: np.histogram(score[stratum == s], edges)[0] for s in (1, 2, 3)}
    top = max(1, int(sum(counts.values()).max()))  # type: ignore[union-attr]
    bar = (width - 2 * pad) / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" role="img" '
             f'aria-label="{html.escape(label)} by stratum">']
    for j in range(bins):
        base = 0.0
        for s in (1, 2, 3):
            h = counts[s][j] / top * (height - 2 * pad)
            if h > 0:
                y = height - pad - base - h
                parts.append(f'<rect x="{pad + j * bar:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
                             f'fill="{_COLOURS[s]}"/>')
            base += h
    parts.append(f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#333"/>')
    parts.append(f'<text x="{pad}" y="{height - pad + 15}" font-size="11">{lo:.3g}</text>')
    parts.append(f'<text x="{width - pad}" y="{height - pad + 15}" font-size="11" text-anchor="end">{hi:.3g}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - pad + 15}" font-size="11" text-anchor="middle">'
                 f'{html.escape(label)}</text>')
    for k, s in enumerate((1, 2, 3)):
        parts.append(f'<rect x="{pad + k * 110}" y="{height + 5}" width="12" height="12" fill="{_COLOURS[s]}"/>'
                     f'<text x="{pad + k * 110 + 16}" y="{height + 15}" font-size="11">stratum {s}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _sizes_svg(designs: list[dict[str, Any]]) -> str:
    """Horizontal bars: patients per arm of each design (inline SVG)."""
    row, pad, width = 24, 190, 640
    top = max(1, max(int(d["n_per_arm"]) for d in designs))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(designs) + 10}" '
             'role="img" aria-label="patients per arm by design">']
    for k, d in enumerate(designs):
        w = int(d["n_per_arm"]) / top * (width - pad - 60)
        colour = "#3a6ea5" if d["adjustment"] == "prognostic" else "#999"
        parts.append(f'<text x="{pad - 6}" y="{k * row + 16}" font-size="12" text-anchor="end">keep '
                     f'{d["keep_fraction"]}, {html.escape(str(d["adjustment"]))}</text>'
                     f'<rect x="{pad}" y="{k * row + 4}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>'
                     f'<text x="{pad + w + 4:.1f}" y="{k * row + 16}" font-size="12">{d["n_per_arm"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(plan: dict[str, Any], pool: ScoredPool) -> str:
    """The plan as one self-contained HTML page (Jinja2, autoescaped)."""
    from jinja2 import Environment

    columns: list[str] = []
    for d in plan["designs"]:
        columns += [k for k in d if k not in columns]
    label = str(plan["pool"]["prognostic_score"])
    env = Environment(autoescape=True)
    return env.from_string(_TEMPLATE).render(plan=plan, columns=columns,
                                             score_chart=_histogram_svg(pool.score, pool.stratum, label),
                                             size_chart=_sizes_svg(plan["designs"]))
