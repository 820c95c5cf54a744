"""Render the feature spec as Markdown (``python -m features.spec_doc > docs/data-formats.md``).

A test checks that docs/data-formats.md equals this rendering, so the documentation cannot drift from the spec.
"""

from __future__ import annotations

from features import spec as S

INTRO = """# Data formats

Generated from `features/spec.py` by `python -m features.spec_doc > docs/data-formats.md` — do not edit by hand.

Time is in **days relative to the index day 0** (native: the baseline visit; PRO-ACT: trial day 0); months are
days / {dpm}. Every prediction is made at a **landmark** L: baseline fields use only data at or before L, outcomes
are counted from L, and a patient whose endpoint or censoring falls at or before L has no survival outcome there.
The slope outcome needs at least {mv} visits spanning at least {ms} days. No calendar dates, names or dates of birth.

{landmarks}

Native raw tables are one file each in a folder: `<table>.csv` or `<table>.parquet`. Validation reports every
violation at once (table, row, column, rule, value) and loads nothing partial. Unknown columns are refused.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rule(f: S.FieldSpec) -> str:
    return _cell(f.bounds_text()) or "—"


def render() -> str:
    landmarks = ["| landmark | L (day) | measurements (day nearest 0 in) | series fields | slope outcome | "
                 "survival |", "|---|---|---|---|---|---|"]
    for lm in S.LANDMARKS.values():
        series = f"[{lm.series_window[0]}, {lm.series_window[1]}]" if lm.series_window else "none"
        landmarks.append(f"| `{lm.name}` | {lm.day} | [{lm.measurement_window[0]}, {lm.measurement_window[1]}] | "
                         f"{series} | {lm.slope_window_text()} | {lm.time_origin} |")
    lines = [INTRO.format(dpm=S.DAYS_PER_MONTH, mv=S.SLOPE_MIN_VISITS, ms=S.SLOPE_MIN_SPAN_DAYS,
                          landmarks="\n".join(landmarks))]
    for table in S.SYNTHETIC_TABLES.values():
        lines.append(f"## `{table.name}`\n\n{table.description}" + (
            f" Unique key: ({', '.join(table.key)})." if table.key else "") + "\n")
        lines.append("| field | type | unit | rule | required | description |")
        lines.append("|---|---|---|---|---|---|")
        for f in table.fields:
            lines.append(f"| `{f.name}` | {f.kind} | {f.unit or ''} | {_rule(f)} | {'yes' if f.required else ''} "
                         f"| {_cell(f.description)} |")
        lines.append("")
    lines.append("Biomarker units accepted (converted to the canonical unit; anything else is refused):\n")
    for analyte, factors in S.UNIT_FACTORS.items():
        accepted = ", ".join(f"{u} (x{v:g})" for u, v in factors.items())
        lines.append(f"- `{analyte}` -> {S.CANONICAL_UNIT[analyte]}: {accepted}")
    lines.append("\n## The cohort table (one row per patient)\n")
    lines.append("Baseline fields are the model's input and the HTTP request body; `scoring` marks the fields a "
                 "candidate must supply. Every biomarker is optional (missing is not zero).\n")
    lines.append("| field | type | unit | rule | scoring | description |")
    lines.append("|---|---|---|---|---|---|")
    for b in S.BASELINE_FIELDS:
        lines.append(f"| `{b.name}` | {b.kind} | {b.unit or ''} | {_rule(b)} | "
                     f"{'required' if b.required_for_scoring else 'optional'} | {_cell(b.description)} |")
    for f in S.OUTCOME_FIELDS:
        lines.append(f"| `{f.name}` | {f.kind} | {f.unit or ''} | {_rule(f)} | outcome | {_cell(f.description)} |")
    lines.append("\nDataset metadata stored in the cohort Parquet file: source, ALSFRS scale (48, or 40 for legacy "
                 "ALSFRS), content hash of the whole table (SHA-256 over every cell), spec hash.\n")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
