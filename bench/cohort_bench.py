"""Benchmark of stage 1 assembly: time and peak memory of :func:`features.cohort.assemble.build_cohort` at scale.

The default size is the project's target: 10,000 patients, 400,000 visit rows and 1,000,000 biomarker rows,
assembled in under 30 s and under 2 GB peak resident memory. The raw tables come from a seeded generator
(same seed -> same tables) with realistic shapes: visits before and after day 0, item-only ALSFRS-R records,
empty visits, biomarker rows in every accepted unit and one analyte/matrix pair without a cohort field, and
endpoints for about 40 % of patients.

Run ``python -m bench.cohort_bench`` (``--help`` for the sizes). Peak memory is the process high-water mark
(``resource.getrusage``), so it includes generating the tables: an upper bound for assembly alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features import spec as S
from features.contracts import STRING

TARGET_SECONDS = 30.0
TARGET_PEAK_MB = 2048.0


def _typed(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Cast generated columns to the dtypes :func:`features.contracts.validate_tables` returns."""
    dtypes: dict[str, Any] = {
        "id": STRING,
        "text": STRING,
        "categorical": STRING,
        "numeric": "float64",
        "integer": "Int64",
        "boolean": "boolean",
    }
    tspec = S.RAW_TABLES[table]
    return pd.DataFrame({f.name: frame[f.name].astype(dtypes[f.kind]) for f in tspec.fields})


def make_raw_tables(
    n_patients: int = 10_000, n_visits: int = 400_000, n_biomarkers: int = 1_000_000, seed: int = 0
) -> dict[str, pd.DataFrame]:
    """Seeded raw tables of the requested size, typed like validated tables.

    Parameters
    ----------
    n_patients, n_visits, n_biomarkers : int
        Rows of ``patients``, ``visits`` (rounded down to a whole number per patient) and ``biomarkers``.
    seed : int
        Seed of the generator.

    Returns
    -------
    dict of str to DataFrame
        ``patients``, ``visits``, ``biomarkers`` and ``events``.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:06d}" for i in range(n_patients)], dtype=object)

    onset = -rng.integers(60, 1500, n_patients)
    diagnosis = onset + rng.integers(0, 600, n_patients)
    last_contact = rng.integers(0, 1500, n_patients)
    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "sex": rng.choice(S.SEX, n_patients),
            "age_at_onset_years": rng.normal(60, 11, n_patients).clip(18, 95).round(1),
            "onset_site": rng.choice(S.ONSET_SITE, n_patients, p=[0.3, 0.65, 0.03, 0.02]),
            "onset_day": onset,
            "diagnosis_day": np.where(rng.random(n_patients) < 0.05, np.nan, diagnosis),
            "el_escorial": rng.choice(S.EL_ESCORIAL, n_patients),
            "c9orf72": rng.choice(S.C9ORF72, n_patients, p=[0.08, 0.7, 0.22]),
            "ftd": rng.choice(S.FTD, n_patients, p=[0.1, 0.8, 0.1]),
            "riluzole": rng.random(n_patients) < 0.7,
            "height_cm": rng.normal(170, 9, n_patients).clip(140, 200).round(1),
            "last_contact_day": last_contact,
        }
    )

    # Visits: a fixed number per patient on distinct days (about monthly, starting before day 0).
    per = max(n_visits // n_patients, 1)
    code = np.repeat(np.arange(n_patients), per)
    k = np.tile(np.arange(per), n_patients)
    day = -60 + 30 * k + rng.integers(0, 25, code.size)
    slope = rng.normal(-1.0, 0.7, n_patients)
    total = np.clip(np.round(42 + slope[code] * day / S.DAYS_PER_MONTH + rng.normal(0, 1.5, code.size)), 0, 48)
    items = np.clip(np.round(total[:, None] / 12 + rng.normal(0, 0.4, (code.size, 12))), 0, 4)
    total = items.sum(axis=1)  # the contract requires total == item sum when both are present
    mode = rng.random(code.size)  # 0.6 total+items, 0.25 items only, 0.14 total only, 0.01 empty
    visits = pd.DataFrame({"patient_id": ids[code], "day": day})
    visits["alsfrs_r_total"] = np.where((mode < 0.6) | ((mode >= 0.85) & (mode < 0.99)), total, np.nan)
    for j, item in enumerate(S.ALSFRS_ITEMS):
        visits[item] = np.where(mode < 0.85, items[:, j], np.nan)
    months = day / S.DAYS_PER_MONTH
    fvc = rng.normal(85, 15, n_patients)[code] + rng.normal(-2, 1, n_patients)[code] * months
    weight = rng.normal(75, 12, n_patients)[code] * (1 + rng.normal(-0.005, 0.004, n_patients)[code] * months)
    visits["fvc_pct_pred"] = np.where(
        (rng.random(code.size) < 0.7) & (mode < 0.99),
        np.clip(fvc + rng.normal(0, 4, code.size), 5, 150).round(1),
        np.nan,
    )
    visits["weight_kg"] = np.where(
        (rng.random(code.size) < 0.8) & (mode < 0.99),
        np.clip(weight + rng.normal(0, 0.8, code.size), 35, 150).round(1),
        np.nan,
    )
    visits.loc[mode >= 0.99, "alsfrs_r_total"] = np.nan

    # Biomarkers: random pairs (including pnfh/plasma, which has no cohort field) in every accepted unit.
    pairs = [(a, m) for a in S.ANALYTES for m in S.MATRICES]
    bcode = rng.integers(0, n_patients, n_biomarkers)
    pair = rng.integers(0, len(pairs), n_biomarkers)
    analyte = np.array([a for a, _ in pairs], dtype=object)[pair]
    matrix = np.array([m for _, m in pairs], dtype=object)[pair]
    unit = np.empty(n_biomarkers, dtype=object)
    for a, table in S.UNIT_FACTORS.items():
        rows = np.flatnonzero(analyte == a)
        unit[rows] = rng.choice(list(table), rows.size)
    factors = S.unit_factors(pd.Series(analyte), pd.Series(unit)).to_numpy()
    canonical = rng.lognormal(np.log(60), 0.7, n_biomarkers)
    biomarkers = pd.DataFrame(
        {
            "patient_id": ids[bcode],
            "day": rng.integers(-30, 1000, n_biomarkers),
            "analyte": analyte,
            "matrix": matrix,
            "value": canonical / factors,
            "unit": unit,
            "assay": rng.choice(["simoa", "ella", "elisa"], n_biomarkers),
        }
    )

    has_event = rng.random(n_patients) < 0.4
    ecode = np.flatnonzero(has_event)
    first = rng.integers(0, 1500, ecode.size)
    second = rng.random(ecode.size) < 0.3
    events = pd.DataFrame(
        {
            "patient_id": np.concatenate([ids[ecode], ids[ecode[second]]]),
            "event": np.concatenate(
                [
                    rng.choice(["tracheostomy", "permanent_niv"], ecode.size),
                    np.full(int(second.sum()), "death", dtype=object),
                ]
            ),
            "day": np.concatenate([first, first[second] + rng.integers(1, 300, int(second.sum()))]),
        }
    )
    return {
        "patients": _typed(patients, "patients"),
        "visits": _typed(visits, "visits"),
        "biomarkers": _typed(biomarkers, "biomarkers"),
        "events": _typed(events, "events"),
    }


def _peak_mb() -> float:
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run(
    n_patients: int = 10_000,
    n_visits: int = 400_000,
    n_biomarkers: int = 1_000_000,
    seed: int = 0,
    *,
    validate: bool = False,
) -> dict[str, Any]:
    """Generate the tables, assemble the cohort once and measure it.

    Parameters
    ----------
    n_patients, n_visits, n_biomarkers, seed
        Passed to :func:`make_raw_tables`.
    validate : bool, default False
        Also time :func:`features.contracts.validate_tables` on the same tables (the contract check that a
        real import runs before assembly).

    Returns
    -------
    dict
        Sizes, ``generate_s``, ``build_cohort_s`` (and ``validate_s``), peak RSS in MB after generation and
        after assembly, and whether the targets (< 30 s, < 2048 MB) were met.
    """
    from features.cohort.assemble import build_cohort

    t0 = time.perf_counter()
    tables = make_raw_tables(n_patients, n_visits, n_biomarkers, seed)
    result: dict[str, Any] = {
        "patients": len(tables["patients"]),
        "visits": len(tables["visits"]),
        "biomarkers": len(tables["biomarkers"]),
        "events": len(tables["events"]),
        "generate_s": round(time.perf_counter() - t0, 3),
    }
    gc.collect()
    result["peak_rss_mb_after_generate"] = round(_peak_mb(), 1)
    if validate:
        from features.contracts import validate_tables

        t0 = time.perf_counter()
        tables = validate_tables(tables)
        result["validate_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    cohort = build_cohort(tables, source="bench")
    result["build_cohort_s"] = round(time.perf_counter() - t0, 3)
    result["peak_rss_mb"] = round(_peak_mb(), 1)
    result["cohort_rows"] = len(cohort.table)
    result["excluded_records"] = len(cohort.report.excluded) if cohort.report else 0
    result["meets_target"] = bool(result["build_cohort_s"] < TARGET_SECONDS and result["peak_rss_mb"] < TARGET_PEAK_MB)
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry: print the measurements as JSON and return them."""
    parser = argparse.ArgumentParser(prog="python -m bench.cohort_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--visits", type=int, default=400_000)
    parser.add_argument("--biomarkers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validate", action="store_true", help="also time the raw-table contract check")
    args = parser.parse_args(argv)
    result = run(args.patients, args.visits, args.biomarkers, args.seed, validate=args.validate)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
