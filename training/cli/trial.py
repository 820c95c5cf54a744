"""``alsstrat trial plan`` (sample sizes, strata and enrolment for a candidate pool) and ``alsstrat trial simulate``
(virtual trials that check a plan's power). Thin: the work is in :mod:`trialdesign`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from features.project import CHAMPION_URI
from training.cli.common import BadInput, cli_errors, console, err_console

trial_app = typer.Typer(no_args_is_help=True, help="Trial design: plan enrolment, strata and sample size; check "
                                                   "a plan on virtual trials.")

Endpoint = Annotated[str, typer.Option(help="slope (ALSFRS-R points/month) or survival (death, tracheostomy or "
                                            "permanent ventilation).")]
Effect = Annotated[float, typer.Option(help="Slope: relative slowing of the enrolled population's mean decline "
                                            "(0-1); the treatment adds effect x |mean slope| points/month.")]
HazardRatio = Annotated[float, typer.Option(help="Survival: the treatment's hazard ratio on each patient's hazard.")]
FollowUp = Annotated[float, typer.Option(help="Survival: months of follow-up from the landmark (<= 36).")]
Alpha = Annotated[float, typer.Option(help="Two-sided significance level.")]
Power = Annotated[float, typer.Option(help="Target power.")]
Dropout = Annotated[float, typer.Option(help="Fraction of enrolled patients lost before their outcome (0 <= d < 1).")]
Keep = Annotated[str, typer.Option(help="Comma-separated fractions of the pool to enrol (fastest predicted "
                                        "decline / highest predicted risk first).")]
ModelUri = Annotated[str, typer.Option(help="Model to plan with (registry alias or version, or runs:/...).")]


def _design(endpoint: str, effect: float, hazard_ratio: float, follow_up_months: float, alpha: float, power: float,
            dropout: float, keep: str) -> Any:
    from trialdesign.design import parse_design

    fractions: list[Any] = []
    for i, text in enumerate(keep.split(",")):
        try:
            fractions.append(float(text))
        except ValueError:
            raise BadInput(f"--keep: item {i + 1} is not a number: {text.strip()!r}") from None
    return parse_design({"endpoint": endpoint, "effect": effect, "hazard_ratio": hazard_ratio,
                         "follow_up_months": follow_up_months, "alpha": alpha, "power": power, "dropout": dropout,
                         "keep": fractions}, prefix="design.")


def _load(model_uri: str) -> Any:
    from serving.batch import load_model

    loaded = load_model(model_uri)
    return loaded.model


def write_outputs(out: Path, plan: dict[str, Any], pool: Any, design: Any, id_column: str) -> None:
    """``candidates.csv``, ``plan.json`` and ``plan.html`` in ``out`` (each written atomically)."""
    import pandas as pd

    from features.atomic import atomic_write
    from trialdesign.plan import candidate_records
    from trialdesign.report import render_html

    out.mkdir(parents=True, exist_ok=True)
    records = candidate_records(pool, design)
    frame = pd.DataFrame({id_column: [r["candidate_id"] for r in records],
                          "prognostic_score": [r["prognostic_score"] for r in records],
                          "stratum": [r["stratum"] for r in records]})
    for label in (records[0]["enrolled"] if records else {}):
        frame[f"enrolled_keep_{label}"] = [r["enrolled"][label] for r in records]
    atomic_write(out / "candidates.csv", frame.to_csv, index=False)
    text = json.dumps(plan, indent=2)
    atomic_write(out / "plan.json", lambda p: Path(p).write_text(text + "\n", encoding="utf-8"))
    page = render_html(plan, pool)
    atomic_write(out / "plan.html", lambda p: Path(p).write_text(page, encoding="utf-8"))


def _summary(plan: dict[str, Any]) -> str:
    lines = [f"{'keep':>5} {'adjustment':<11} {'n/arm':>6} {'screened':>9} {'power':>6}"]
    for d in plan["designs"]:
        lines.append(f"{d['keep_fraction']:>5} {d['adjustment']:<11} {d['n_per_arm']:>6} {d['n_screened']:>9} "
                     f"{d['planned_power']:>6}")
    return "\n".join(lines)


@trial_app.command("plan")
def plan(
    input: Annotated[Path, typer.Option(help="Candidate pool: CSV or Parquet of candidate fields (optional "
                                             "candidate_id), or a cohort table (patient_id is the id; outcome "
                                             "columns are ignored).")],
    out: Annotated[Path, typer.Option(help="Folder for candidates.csv, plan.json and plan.html.")],
    endpoint: Endpoint = "slope",
    effect: Effect = 0.25,
    hazard_ratio: HazardRatio = 0.7,
    follow_up_months: FollowUp = 12.0,
    alpha: Alpha = 0.05,
    power: Power = 0.8,
    dropout: Dropout = 0.1,
    keep: Keep = "1.0,0.75,0.5",
    model_uri: ModelUri = CHAMPION_URI,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON on stdout.")] = False,
) -> None:
    """Plan a trial on a candidate pool: per keep fraction and analysis, patients per arm and screened per enrolled.

    Exit 2 when the pool holds an invalid row (named by row and field: a plan never drops a candidate), a design
    value is out of range, or the model has no held-out summary.
    """
    with cli_errors():
        from features.candidate_rows import COHORT_ID_COLUMN, cohort_columns
        from serving.batch import read_candidates
        from trialdesign.plan import plan_trial

        design = _design(endpoint, effect, hazard_ratio, follow_up_months, alpha, power, dropout, keep)
        columns, rows = read_candidates(input)
        id_column = COHORT_ID_COLUMN if cohort_columns(columns)[0] == COHORT_ID_COLUMN else "candidate_id"
        model = _load(model_uri)
        result, pool = plan_trial(model, rows, design)
        write_outputs(out, result, pool, design, id_column)
        if as_json:
            console.print_json(json.dumps(result))
        else:
            console.print(_summary(result), markup=False, highlight=False)
            console.print(f"planned {pool.n} candidates with model version {model.model_version} -> {out}",
                          markup=False, highlight=False)


@trial_app.command("simulate")
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for simulation.json (and the plan of the simulated pool).")],
    seed: Annotated[int, typer.Option(help="Simulator seed of the screening population (use fresh seeds).")],
    n_patients: Annotated[int, typer.Option(min=100, help="Patients in the simulated screening population.")]
    = 20_000,
    scenario: Annotated[str, typer.Option(help="Simulator scenario.")] = "default",
    trials: Annotated[int, typer.Option(min=10, help="Virtual trials per design with the planted effect (>= 500 "
                                                     "for the published figures).")] = 500,
    null_trials: Annotated[int, typer.Option(min=10, help="Virtual trials per design without an effect (type-I "
                                                          "error; more, because 0.05 is estimated near a bound).")]
    = 2000,
    endpoint: Endpoint = "slope",
    effect: Effect = 0.25,
    hazard_ratio: HazardRatio = 0.7,
    follow_up_months: FollowUp = 12.0,
    alpha: Alpha = 0.05,
    power: Power = 0.8,
    dropout: Dropout = 0.1,
    keep: Keep = "1.0,0.75,0.5",
    model_uri: ModelUri = CHAMPION_URI,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Simulate a screening population, plan on it as a pool (outcomes ignored), then run virtual trials of every
    design with the planted effect and with none: empirical power next to planned power, and the type-I error."""
    with cli_errors():
        from features.candidate_rows import frame_rows
        from trialdesign.plan import plan_trial
        from trialdesign.virtual import simulate_plan, simulated_population

        design = _design(endpoint, effect, hazard_ratio, follow_up_months, alpha, power, dropout, keep)
        model = _load(model_uri)
        if model.landmark.day != 0:
            raise BadInput(f"trial simulate needs a screening-landmark model; model version {model.model_version} "
                           f"predicts at the {model.landmark.name} landmark")
        err_console.print(f"simulating {n_patients} patients (scenario {scenario}, seed {seed})", markup=False,
                          highlight=False)
        table, population = simulated_population(n_patients, seed, scenario, landmark=model.landmark.name)
        result, pool = plan_trial(model, frame_rows(table), design)
        err_console.print(f"running {trials} virtual trials per design and per effect ({len(result['designs'])} "
                          "designs)", markup=False, highlight=False)
        rows_out = simulate_plan(design, pool, population, result, n_trials=trials, n_null_trials=null_trials,
                                 seed=seed)
        report = {"command": {"seed": seed, "n_patients": n_patients, "scenario": scenario, "trials": trials,
                              "null_trials": null_trials, "model": result["model"]},
                  "design": result["design"], "results": rows_out, "plan": result}
        write_outputs(out, result, pool, design, "patient_id")
        (out / "simulation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if as_json:
            console.print_json(json.dumps(report))
        else:
            console.print(f"{'keep':>5} {'adjustment':<11} {'n/arm':>6} {'planned':>8} {'empirical':>10} "
                          f"{'type-I':>7}", markup=False, highlight=False)
            for r in rows_out:
                console.print(f"{r['keep_fraction']:>5} {r['adjustment']:<11} {r['n_per_arm']:>6} "
                              f"{r['planned_power']:>8} {r['empirical_power']:>10} {r['type1_error']:>7}",
                              markup=False, highlight=False)
