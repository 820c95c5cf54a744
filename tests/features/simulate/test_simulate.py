"""The cohort simulator: determinism, the raw-table contract, literature ranges, planted truth, scenarios, CLI.

The literature checks are computed from tables written to disk and read back with ``load_native`` (what a user
gets), with helpers written here from the definitions in ``architecture.md`` - independent of the simulator's
internals and of any cohort builder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError
from scipy.stats import kruskal, spearmanr
from sksurv.nonparametric import kaplan_meier_estimator
from typer.testing import CliRunner

from features import spec as S
from features.contracts import validate_tables
from features.simulate.generate import CHUNK_SIZE, Scenario, available_scenarios, load_scenario, simulate_cohort
from features.sources.native import load_native, write_tables

DPM = S.DAYS_PER_MONTH
SCENARIO_DIR = Path(__file__).resolve().parents[3] / "features" / "simulate" / "scenarios"


# --------------------------------------------------------------------------------------------------------------------
# Helpers: outcome definitions from architecture.md, computed from the raw tables only
# --------------------------------------------------------------------------------------------------------------------
def visit_totals(visits: pd.DataFrame) -> pd.Series:
    """ALSFRS-R total per visit; the sum of the 12 items where the total itself is missing."""
    items = visits[list(S.ALSFRS_ITEMS)].astype("float64")
    return visits["alsfrs_r_total"].astype("float64").fillna(items.sum(axis=1, min_count=12))


def window_slopes(visits: pd.DataFrame) -> pd.Series:
    """OLS slope (points/month) over visits with day in (91, 365], >= 2 visits spanning >= 90 days."""
    total = visit_totals(visits)
    day = visits["day"].astype("float64")
    keep = (day > S.BASELINE_WINDOW_END_DAY) & (day <= S.SLOPE_WINDOW_END_DAY) & total.notna()
    x = (day[keep] / DPM).to_numpy()
    y = total[keep].to_numpy()
    frame = pd.DataFrame({"pid": visits.loc[keep, "patient_id"].to_numpy(), "x": x, "y": y, "xx": x * x, "xy": x * y})
    grouped = frame.groupby("pid")
    sums = grouped[["x", "y", "xx", "xy"]].sum()
    n = grouped.size()
    span_days = (grouped["x"].max() - grouped["x"].min()) * DPM
    slope = (n * sums["xy"] - sums["x"] * sums["y"]) / (n * sums["xx"] - sums["x"] ** 2)
    ok = (n >= S.SLOPE_MIN_VISITS) & (span_days >= S.SLOPE_MIN_SPAN_DAYS - 1e-6)
    return slope[ok]


def survival_from_onset(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Months from onset to the first endpoint (event=True) or to the last contact (censored)."""
    patients = tables["patients"].set_index("patient_id")
    first = tables["events"].groupby("patient_id")["day"].min().reindex(patients.index)
    event = first.notna()
    end = patients["last_contact_day"].astype("float64").where(~event, first.astype("float64"))
    months = (end - patients["onset_day"].astype("float64")) / DPM
    return pd.DataFrame({"months": months, "event": event.to_numpy(dtype=bool)}, index=patients.index)


def km_median(surv: pd.DataFrame) -> float:
    """Kaplan-Meier median (months); inf when the curve never reaches 0.5."""
    times, prob = kaplan_meier_estimator(surv["event"].to_numpy(), surv["months"].to_numpy())
    below = np.flatnonzero(prob <= 0.5)
    return float(times[below[0]]) if below.size else float("inf")


def baseline_biomarker(tables: dict[str, pd.DataFrame], analyte: str, matrix: str) -> pd.Series:
    """First value in the baseline window (days 0-91), converted to the canonical unit with the spec's factors."""
    bio = tables["biomarkers"]
    rows = bio[(bio["analyte"] == analyte) & (bio["matrix"] == matrix) & (bio["day"] >= 0)
               & (bio["day"] <= S.BASELINE_WINDOW_END_DAY)].copy()
    rows["canonical"] = rows["value"] * S.unit_factors(rows["analyte"], rows["unit"])
    return rows.sort_values(["patient_id", "day"]).groupby("patient_id")["canonical"].first()


def written_and_read(tables: dict[str, pd.DataFrame], folder: Path) -> dict[str, pd.DataFrame]:
    write_tables(tables, folder)
    return load_native(folder, with_truth=True)


# --------------------------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_scenario() -> Scenario:
    return load_scenario("default")


@pytest.fixture(scope="module")
def small(default_scenario: Scenario) -> dict[str, pd.DataFrame]:
    return simulate_cohort(n_patients=400, seed=11, scenario=default_scenario)


@pytest.fixture(scope="module", params=[7, 2026])
def literature_cohort(request: pytest.FixtureRequest, default_scenario: Scenario,
                      tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    tables = simulate_cohort(n_patients=3000, seed=request.param, scenario=default_scenario)
    return written_and_read(tables, tmp_path_factory.mktemp(f"lit{request.param}"))


# --------------------------------------------------------------------------------------------------------------------
# Shape, contract, determinism
# --------------------------------------------------------------------------------------------------------------------
def test_tables_have_the_spec_columns_and_pass_the_contract_unchanged(small: dict[str, pd.DataFrame]) -> None:
    assert list(small) == ["patients", "visits", "biomarkers", "events", "truth"]
    for name, frame in small.items():
        assert tuple(frame.columns) == S.SYNTHETIC_TABLES[name].names
    validated = validate_tables(small)
    for name, frame in small.items():
        pd.testing.assert_frame_equal(validated[name], frame, check_exact=True)


def test_same_seed_gives_byte_identical_files(default_scenario: Scenario, tmp_path: Path) -> None:
    a = write_tables(simulate_cohort(n_patients=300, seed=5, scenario=default_scenario), tmp_path / "a")
    b = write_tables(simulate_cohort(n_patients=300, seed=5, scenario=default_scenario), tmp_path / "b")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name


def test_different_seed_gives_different_tables(default_scenario: Scenario) -> None:
    a = simulate_cohort(n_patients=300, seed=5, scenario=default_scenario)
    b = simulate_cohort(n_patients=300, seed=6, scenario=default_scenario)
    for name in ("patients", "visits", "biomarkers", "truth"):
        assert not a[name].equals(b[name]), name


def test_a_patient_does_not_depend_on_the_cohort_size(default_scenario: Scenario) -> None:
    # Chunks have their own child generators, so the first chunk is the same in a larger cohort.
    small = simulate_cohort(n_patients=CHUNK_SIZE, seed=3, scenario=default_scenario)
    large = simulate_cohort(n_patients=CHUNK_SIZE + 10, seed=3, scenario=default_scenario)
    first = large["truth"]["patient_id"].isin(small["truth"]["patient_id"])
    pd.testing.assert_frame_equal(large["truth"][first].reset_index(drop=True), small["truth"])


def test_progress_is_reported_per_chunk(default_scenario: Scenario) -> None:
    calls: list[int] = []
    simulate_cohort(n_patients=2 * CHUNK_SIZE + 5, seed=1, scenario=default_scenario, progress=calls.append)
    assert calls == [CHUNK_SIZE, CHUNK_SIZE, 5]


def test_rejects_an_empty_cohort(default_scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="n_patients must be >= 1"):
        simulate_cohort(n_patients=0, seed=1, scenario=default_scenario)


# --------------------------------------------------------------------------------------------------------------------
# Internal consistency of the raw tables
# --------------------------------------------------------------------------------------------------------------------
def test_days_and_contacts_are_consistent(small: dict[str, pd.DataFrame]) -> None:
    patients = small["patients"].set_index("patient_id")
    visits, events, bio = small["visits"], small["events"], small["biomarkers"]
    assert (patients["onset_day"] <= -31).all()
    dx = patients["diagnosis_day"].dropna()
    assert (dx >= patients.loc[dx.index, "onset_day"]).all()
    assert set(visits.loc[visits["day"] == 0, "patient_id"]) == set(patients.index)  # everyone seen at day 0
    last_visit = visits.groupby("patient_id")["day"].max()
    assert (patients["last_contact_day"] >= last_visit.reindex(patients.index)).all()
    last_sample = bio.groupby("patient_id")["day"].max().reindex(patients.index).fillna(0)
    assert (patients["last_contact_day"] >= last_sample).all()
    assert not events["patient_id"].duplicated().any()  # only the first composite endpoint is recorded
    event_day = events.set_index("patient_id")["day"]
    assert (patients.loc[event_day.index, "last_contact_day"] == event_day).all()
    assert (last_visit.reindex(event_day.index) < event_day).all()  # no visit on or after the endpoint


def test_items_decline_by_onset_site(small: dict[str, pd.DataFrame]) -> None:
    visits = small["visits"].merge(small["patients"][["patient_id", "onset_site"]], on="patient_id")
    v = visits.dropna(subset=list(S.ALSFRS_ITEMS))
    bulbar = v[list(S.ALSFRS_DOMAINS["bulbar"])].sum(axis=1)
    gross = v[list(S.ALSFRS_DOMAINS["gross_motor"])].sum(axis=1)
    gap = (gross - bulbar).groupby(v["onset_site"]).mean()  # > 0: bulbar items lost more than gross-motor ones
    assert gap["bulbar"] > 1.0
    assert gap["limb"] < -1.0


def test_missingness_and_mixed_units(small: dict[str, pd.DataFrame]) -> None:
    bio, patients, visits = small["biomarkers"], small["patients"], small["visits"]
    n = len(patients)
    blood_nfl = bio[(bio["analyte"] == "nfl") & (bio["matrix"] != "csf")]["patient_id"].nunique()
    csf = bio[bio["matrix"] == "csf"]["patient_id"].nunique()
    lcn2 = bio[(bio["analyte"] == "lcn2") & (bio["matrix"] != "csf")]["patient_id"].nunique()
    assert blood_nfl > 0.9 * n
    assert 0.5 * n < lcn2 < 0.95 * n
    assert csf < 0.4 * blood_nfl
    assert bio.groupby("analyte")["unit"].nunique()[["nfl", "lcn2"]].min() >= 2
    assert bio["assay"].notna().mean() > 0.9
    assert (patients["c9orf72"] == "unknown").any()
    assert visits["fvc_pct_pred"].isna().any()
    assert visits["alsfrs_q1"].isna().any()


# --------------------------------------------------------------------------------------------------------------------
# Literature ranges (docs/simulator.md lists the sources), from written-and-read tables
# --------------------------------------------------------------------------------------------------------------------
def test_literature_ranges(literature_cohort: dict[str, pd.DataFrame]) -> None:
    t = literature_cohort
    patients = t["patients"].set_index("patient_id")
    male = (patients["sex"] == "male").mean()
    bulbar = (patients["onset_site"] == "bulbar").mean()
    age = patients["age_at_onset_years"].mean()
    delay = ((patients["diagnosis_day"] - patients["onset_day"]).astype("float64") / DPM).median()
    slopes = window_slopes(t["visits"])
    surv = survival_from_onset(t)
    nfl = baseline_biomarker(t, "nfl", "serum")
    both = pd.concat([np.log(nfl).rename("nfl"), slopes.rename("slope")], axis=1).dropna()
    rho = spearmanr(both["nfl"], both["slope"]).statistic
    tertile = pd.qcut(nfl, 3, labels=False)
    low = km_median(surv.loc[tertile.index[tertile == 0]])
    high = km_median(surv.loc[tertile.index[tertile == 2]])

    assert 0.55 <= male <= 0.66
    assert 0.18 <= bulbar <= 0.35
    assert 52 <= age <= 66
    assert 7 <= delay <= 16
    assert len(slopes) > 0.3 * len(patients)
    assert -1.2 <= slopes.median() <= -0.5
    assert 0.15 <= (slopes < -1.0).mean() <= 0.45
    assert 24 <= km_median(surv) <= 48
    assert 40 <= nfl.median() <= 130
    assert -0.55 <= rho <= -0.2
    assert 1.4 <= low / high <= 4.0


# --------------------------------------------------------------------------------------------------------------------
# Planted truth and the null-LCN2 scenario
# --------------------------------------------------------------------------------------------------------------------
def _lcn2_vs_truth(tables: dict[str, pd.DataFrame]) -> tuple[float, float]:
    lcn2 = baseline_biomarker(tables, "lcn2", "plasma")
    truth = tables["truth"].set_index("patient_id").loc[lcn2.index]
    rho = spearmanr(lcn2, truth["true_slope_points_per_month"]).statistic
    groups = [lcn2[truth["subtype"] == k] for k in sorted(truth["subtype"].unique())]
    return float(rho), float(kruskal(*groups).pvalue)


def test_lcn2_carries_the_inflammatory_subtype_in_default(default_scenario: Scenario) -> None:
    tables = simulate_cohort(n_patients=3000, seed=42, scenario=default_scenario)
    rho, p = _lcn2_vs_truth(tables)
    assert rho < -0.2
    assert p < 1e-10


def test_null_lcn2_is_independent_of_subtype_and_slope() -> None:
    tables = simulate_cohort(n_patients=3000, seed=42, scenario=load_scenario("null-lcn2"))
    rho, p = _lcn2_vs_truth(tables)
    assert abs(rho) < 0.1
    assert p > 0.01


def test_null_lcn2_differs_from_default_only_in_lcn2(default_scenario: Scenario) -> None:
    a = simulate_cohort(n_patients=500, seed=9, scenario=default_scenario)
    b = simulate_cohort(n_patients=500, seed=9, scenario=load_scenario("null-lcn2"))
    for name in ("patients", "visits", "events", "truth"):
        pd.testing.assert_frame_equal(a[name], b[name])
    non_lcn2 = [t[t["analyte"] != "lcn2"].reset_index(drop=True) for t in (a["biomarkers"], b["biomarkers"])]
    pd.testing.assert_frame_equal(*non_lcn2)
    assert not a["biomarkers"].equals(b["biomarkers"])


def test_planted_effects_have_their_sign(small: dict[str, pd.DataFrame], default_scenario: Scenario) -> None:
    truth = small["truth"]
    by_name = truth.groupby("subtype_name")["true_slope_points_per_month"].median()
    assert by_name["slow_low_nfl"] > by_name["typical"] > by_name["fast_bulbar_high_nfl"]
    assert by_name["inflammatory"] < by_name["typical"]
    hm = truth.groupby("subtype_name")["hazard_multiplier"].median()
    assert hm["inflammatory"] > hm["typical"] > hm["slow_low_nfl"]
    assert set(truth["subtype_name"]) <= {s.name for s in default_scenario.subtypes}


# --------------------------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------------------------
def test_shipped_scenarios_load_and_cite_sources() -> None:
    assert {"default", "null-lcn2"} <= set(available_scenarios())
    for name in ("default", "null-lcn2"):
        scenario = load_scenario(name)
        assert scenario.name == name
        dumped = scenario.model_dump()
        blocks = [v for v in dumped.values() if isinstance(v, dict)] + dumped["subtypes"]
        assert all(len(b["source"]) > 10 for b in blocks)


def test_load_by_path_equals_load_by_name() -> None:
    assert load_scenario(str(SCENARIO_DIR / "default.yaml")) == load_scenario("default")


def test_unknown_scenario_lists_the_available_ones() -> None:
    with pytest.raises(FileNotFoundError, match=r"unknown scenario 'nope' \(available: .*default.*null-lcn2"):
        load_scenario("nope")


def test_missing_scenario_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_scenario(str(tmp_path / "absent.yaml"))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d["survival"].update(weibull_shap=2.0), "weibull_shap"),
        (lambda d: d["subtypes"][0].update(share=0.9), "subtype shares must sum to 1"),
        (lambda d: d["demographics"].update(male_share=1.5), "male_share"),
    ],
)
def test_invalid_scenario_yaml_is_refused(tmp_path: Path, edit: object, match: str) -> None:
    data = yaml.safe_load((SCENARIO_DIR / "default.yaml").read_text(encoding="utf-8"))
    edit(data)  # type: ignore[operator]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError, match=match):
        load_scenario(str(path))


# --------------------------------------------------------------------------------------------------------------------
# CLI round trip
# --------------------------------------------------------------------------------------------------------------------
def test_cli_simulate_csv_round_trip(tmp_path: Path, default_scenario: Scenario) -> None:
    from training.cli.app import app

    out = tmp_path / "sim"
    result = CliRunner().invoke(app, ["simulate", "--n-patients", "50", "--seed", "1", "--out", str(out),
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    loaded = load_native(out, with_truth=True)
    expected = simulate_cohort(n_patients=50, seed=1, scenario=default_scenario)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(loaded[name], frame, check_exact=False, rtol=1e-12)


def test_cli_unknown_scenario_exits_2(tmp_path: Path) -> None:
    from training.cli.app import app

    result = CliRunner().invoke(app, ["simulate", "--n-patients", "5", "--seed", "1", "--out", str(tmp_path),
                                      "--scenario", "nope"])
    assert result.exit_code == 2
    assert "available" in result.output
