"""An independent held-out cohort for the measuring commands: many patients no model was fitted or tuned on.

A 2,000-patient run holds out about 390 patients with a survival outcome: 78 per risk group, where Kaplan-Meier's
own standard error at S = 0.5 is sqrt(0.25 / 78) = 0.057, and about 50 planted fast progressors, where a coverage of
0.80 has a binomial standard error of 0.057. Checks of ±0.10 on such groups mostly measure sampling noise. The
commands therefore also score a second cohort of the same scenario, simulated from a seed no run uses (the run's
seed + :data:`SEED_OFFSET`), assembled at the same landmark, and never seen in fitting, tuning or recalibration.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import pandas as pd

SEED_OFFSET = 1_000_000
"""Added to the run's simulator seed for the independent cohort; training seeds stay far below it."""


@dataclass(frozen=True)
class HeldOutCohort:
    """An independent simulated cohort: the cohort table at a landmark and the simulator's planted truth."""

    table: pd.DataFrame
    truth: pd.DataFrame
    seed: int


def independent_cohort(seed: int, *, n_patients: int, scenario: str, landmark: str) -> HeldOutCohort:
    """Simulate and assemble a cohort that shares the scenario of a run but none of its patients.

    Parameters
    ----------
    seed : int
        The run's simulator seed; the cohort uses ``seed + SEED_OFFSET``.
    n_patients : int
        Patients to simulate (before the landmark's exclusions).
    scenario : str
        Scenario name or path, as the run's configuration gives it.
    landmark : str
        Landmark name (``screening`` or ``lead-in``); features at or before it, outcomes counted from it.

    Returns
    -------
    HeldOutCohort
        Its table (one row per patient, ``patient_id`` as in the truth) and truth indexed by ``patient_id``.
    """
    from features.cohort.assemble import build_cohort
    from features.simulate.generate import load_scenario, simulate_cohort

    tables = simulate_cohort(n_patients=n_patients, seed=seed + SEED_OFFSET, scenario=load_scenario(scenario))
    table = build_cohort(tables, source="synthetic", landmark=landmark).table.reset_index(drop=True)
    return HeldOutCohort(table=table, truth=tables["truth"].set_index("patient_id"), seed=seed + SEED_OFFSET)


def measuring_parser(prog: str, doc: str | None, default_seeds: str) -> argparse.ArgumentParser:
    """The options every fresh-seed measuring command shares: ``--seeds``, ``--n-patients``,
    ``--independent-patients`` and ``--blanked-copies`` (the training's missingness augmentation; 0 measures the
    models as they were before it)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--seeds", default=default_seeds, help="comma-separated fresh simulator seeds or ranges a-b")
    parser.add_argument("--n-patients", type=int, default=2000)
    parser.add_argument("--independent-patients", type=int, default=20_000,
                        help="size of the independent held-out cohort (seed + 1,000,000)")
    parser.add_argument("--blanked-copies", type=int, default=None,
                        help="override sparsity.blanked_copies of the shipped configuration (default: keep it)")
    return parser


def parse_seeds(text: str) -> list[int]:
    """``"1,2,5-8"`` -> ``[1, 2, 5, 6, 7, 8]``.

    Raises
    ------
    ValueError
        Naming the part that is not an integer or an ascending ``a-b`` range.
    """
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        low, dash, high = part.partition("-")
        try:
            seeds += list(range(int(low), int(high) + 1)) if dash else [int(part)]
        except ValueError:
            raise ValueError(f"seeds must be integers or ranges a-b, got {part!r}") from None
        if dash and int(high) < int(low):
            raise ValueError(f"seed range must ascend, got {part!r}")
    if not seeds:
        raise ValueError(f"no seeds in {text!r}")
    return seeds


def sparsity_override(blanked_copies: int | None) -> dict[str, Any]:
    """Configuration overrides for :func:`training.config.simulated_config`: none, or the blanked-copy count."""
    return {} if blanked_copies is None else {"sparsity": {"blanked_copies": blanked_copies}}
