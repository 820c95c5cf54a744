"""Readable terminal summaries of raw tables and cohort tables (counts and file locations, no patient data)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from features import spec as S
from features.cohort.table import Cohort
from training.evaluation.sample_size import events_per_predictor_warning


def print_raw_summary(console: Console, tables: Mapping[str, pd.DataFrame], written: Mapping[str, Path] | None,
                      *, title: str) -> None:
    """Rows per table and where each was written."""
    grid = Table(title=title, title_justify="left")
    grid.add_column("table")
    grid.add_column("rows", justify="right")
    grid.add_column("patients", justify="right")
    if written:
        grid.add_column("file")
    for name, frame in tables.items():
        row = [name, f"{len(frame):,}", f"{frame['patient_id'].nunique():,}"]
        if written:
            row.append(str(written[name]))
        grid.add_row(*row)
    console.print(grid)


def print_cohort_summary(console: Console, cohort: Cohort, path: Path, report_path: Path) -> None:
    """Cohort size, outcome availability, biomarker coverage, exclusions and file locations."""
    t = cohort.table
    grid = Table(title=f"cohort ({cohort.source}, ALSFRS scale 0-{cohort.alsfrs_scale})", title_justify="left")
    grid.add_column("quantity")
    grid.add_column("value", justify="right")
    n = len(t)
    grid.add_row("patients", f"{n:,}")
    grid.add_row("with slope outcome (days 91-365)", _share(t["alsfrs_r_slope_3_12"].notna().sum(), n))
    grid.add_row("with survival outcome", _share(t["time_to_event_months"].notna().sum(), n))
    grid.add_row("endpoint observed", _share(t["event_observed"].fillna(False).astype(bool).sum(), n))
    for f in S.BIOMARKER_FIELDS:
        present = int(t[f.name].notna().sum())
        if present:
            grid.add_row(f"{f.name} measured", _share(present, n))
    if cohort.report is not None:
        for reason, count in cohort.report.exclusion_summary().items():
            grid.add_row(f"excluded: {reason}", f"{count:,}")
    grid.add_row("content hash", cohort.content_hash[:16])
    console.print(grid)
    console.print(f"cohort table: {path}\nimport report: {report_path}")


def _share(count: int, n: int) -> str:
    return f"{count:,} ({100 * count / n:.1f} %)" if n else "0"


def print_train_summary(console: Console, result: object) -> None:
    """Key metrics next to the baselines and the noise floor, plus where the run and model are."""
    metrics: dict[str, float] = getattr(result, "metrics", {})
    grid = Table(title="test-set metrics (held-out patients)", title_justify="left")
    grid.add_column("metric")
    grid.add_column("model [95 % CI]", justify="right")
    grid.add_column("reference", justify="right")
    rows = [
        ("slope RMSE (points/month)", "test_slope_rmse", "baseline_slope_rmse", "pre-slope linear baseline"),
        ("slope RMSE noise floor (oracle)", "oracle_slope_rmse", None, ""),
        ("slope 80 % interval coverage", "test_slope_interval_coverage_80", None, "nominal 0.80"),
        ("survival C-index (Harrell)", "test_survival_cindex", "baseline_survival_cindex", "ENCALS-style Cox"),
        ("survival C-index (Uno)", "test_survival_cindex_uno", None, ""),
        ("integrated Brier score", "test_survival_ibs", None, ""),
        ("subtype ARI vs planted truth", "test_subtype_ari_truth", None, ""),
        ("LCN2 added C-index (cross-validated on training patients)", "lcn2_added_cindex", None, "95 % CI"),
        ("LCN2 added slope RMSE reduction (cross-validated)", "lcn2_added_slope_rmse", None, "95 % CI"),
    ]
    for label, key, ref_key, ref_label in rows:
        if key not in metrics:
            continue
        ref = ""
        if ref_key and ref_key in metrics:
            ref = f"{metrics[ref_key]:.3f} ({ref_label})"
        elif key.startswith("lcn2_added") and f"{key}_ci_low" in metrics:
            ref = f"[{metrics[key + '_ci_low']:+.3f}, {metrics[key + '_ci_high']:+.3f}]"
        elif ref_label:
            ref = ref_label
        value = f"{metrics[key]:.3f}"
        if not key.startswith("lcn2_added") and f"{key}_ci_low" in metrics:
            value += f" [{metrics[key + '_ci_low']:.3f}, {metrics[key + '_ci_high']:.3f}]"
        grid.add_row(label, value, ref)
    console.print(grid)
    counts = getattr(result, "details", {}).get("counts", {})
    warning = (events_per_predictor_warning(counts.get("n_train_events", 0), counts.get("n_model_inputs", 0))
               if "train_events_per_predictor" in metrics else None)
    if warning is not None:
        console.print(f"[bold yellow]{warning}[/bold yellow]")
    console.print(f"run id: {getattr(result, 'run_id', '')}\n"
                  f"registered: {getattr(result, 'model_name', '')} version {getattr(result, 'model_version', '')}\n"
                  f"data hash: {getattr(result, 'data_hash', '')}")
