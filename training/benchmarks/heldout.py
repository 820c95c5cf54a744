"""An independent held-out cohort for the measuring commands: many patients no model was fitted or tuned on.

A 2,000-patient run holds out about 390 patients with a survival outcome: 78 per risk group, where Kaplan-Meier's
own standard error at S = 0.5 is sqrt(0.25 / 78) = 0.057, and about 50 planted fast progressors, where a coverage of
0.80 has a binomial standard error of 0.057. Checks of ±0.10 on such groups mostly measure sampling noise. The
commands therefore also score a second cohort of the same scenario, simulated from a seed no run uses (the run's
seed + :data:`SEED_OFFSET`), assembled at the same landmark, and never seen in fitting, tuning or recalibration.
"""

from __future__ import annotations

from dataclasses import dataclass

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
