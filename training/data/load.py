"""Load the training cohort named by the config: simulate, or read a native/PRO-ACT/DREAM source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.cohort.table import Cohort
from training.config import DataConfig


@dataclass
class TrainingData:
    """The cohort and, for synthetic data, the planted truth (indexed like the cohort, by patient)."""

    cohort: Cohort
    truth: pd.DataFrame | None
    description: str


def load_training_data(cfg: DataConfig) -> TrainingData:
    """Build the cohort for training.

    ``synthetic`` without an input simulates ``cfg.simulate`` in memory (nothing written); ``synthetic`` with an
    input reads the simulator's folder including its ``truth`` table. Other sources go through
    :func:`features.sources.registry.load_cohort`.
    """
    from features.cohort.assemble import build_cohort

    if cfg.source == "synthetic":
        if cfg.input is None:
            from features.simulate.generate import load_scenario, simulate_cohort

            sim = cfg.simulate
            tables = simulate_cohort(n_patients=sim.n_patients, seed=sim.seed, scenario=load_scenario(sim.scenario))
            from features.contracts import validate_tables

            tables = validate_tables(tables, context="simulated cohort")
            description = f"simulated: scenario {sim.scenario}, {sim.n_patients} patients, seed {sim.seed}"
        else:
            from features.sources.native import load_native

            tables = load_native(cfg.input, with_truth=True)
            description = f"synthetic tables from {Path(cfg.input).name}"
        cohort = build_cohort(tables, source="synthetic", landmark=cfg.resolved_landmark)
        truth = tables["truth"].set_index("patient_id")
        return TrainingData(cohort=cohort, truth=truth, description=description)
    if cfg.input is None:
        raise FileNotFoundError(f"data.input is required for source {cfg.source!r}")
    from features.sources.registry import load_cohort

    cohort = load_cohort(cfg.source, cfg.input, landmark=cfg.landmark)
    return TrainingData(cohort=cohort, truth=None, description=f"{cfg.source} from {Path(cfg.input).name}")
