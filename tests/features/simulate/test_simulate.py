"""The cohort simulator: determinism, the raw-table contract, literature ranges, planted truth, scenarios, CLI.

The literature checks are computed from tables written to disk and read back with ``load_native`` (what a user
gets), with helpers written here from the definitions in ``architecture.md`` - independent of the simulator's
internals and of any cohort builder.
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from typing import Any

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
from features.simulate.scenario import Parameter, scenario_parameters
from features.sources.native import load_native, write_tables

DPM = S.DAYS_PER_MONTH
SCENARIO_DIR = Path(__file__).resolve().parents[3] / "features" / "simulate" / "scenarios"
# The literature notes the scenarios cite, shared beside the checkout (the fidelity test skips without them).
CLINICAL_FACTS = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "clinical-facts.md"
SHIPPED = ("default", "null-lcn2")


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
def literature_figures(t: dict[str, pd.DataFrame]) -> dict[str, float]:
    """The quantities of the literature table in docs/simulator.md, from written-and-read tables."""
    patients = t["patients"].set_index("patient_id")
    slopes = window_slopes(t["visits"])
    surv = survival_from_onset(t)
    nfl = baseline_biomarker(t, "nfl", "serum")
    both = pd.concat([np.log(nfl).rename("nfl"), slopes.rename("slope")], axis=1).dropna()
    tertile = pd.qcut(nfl, 3, labels=False)
    return {
        "male": float((patients["sex"] == "male").mean()),
        "bulbar": float((patients["onset_site"] == "bulbar").mean()),
        "age": float(patients["age_at_onset_years"].mean()),
        "delay": float(((patients["diagnosis_day"] - patients["onset_day"]).astype("float64") / DPM).median()),
        "slope_share": len(slopes) / len(patients),
        "slope_median": float(slopes.median()),
        "faster_than_1": float((slopes < -1.0).mean()),
        "km_median": km_median(surv),
        "nfl_median": float(nfl.median()),
        "rho": float(spearmanr(both["nfl"], both["slope"]).statistic),
        "tertile_ratio": (km_median(surv.loc[tertile.index[tertile == 0]])
                          / km_median(surv.loc[tertile.index[tertile == 2]])),
    }


def print_literature_table(seeds: tuple[int, ...] = (7, 2026), n_patients: int = 3000) -> None:
    """Print the literature table of docs/simulator.md (the test's cohorts: default scenario, written and read)."""
    rows = {}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as folder:
            tables = simulate_cohort(n_patients=n_patients, seed=seed, scenario=load_scenario("default"))
            rows[seed] = literature_figures(written_and_read(tables, Path(folder)))
    for key in rows[seeds[0]]:
        print(key, *(f"{rows[seed][key]:.4g}" for seed in seeds), sep="\t")


def test_literature_ranges(literature_cohort: dict[str, pd.DataFrame]) -> None:
    f = literature_figures(literature_cohort)
    male, bulbar, age, delay = f["male"], f["bulbar"], f["age"], f["delay"]
    rho, low_over_high = f["rho"], f["tertile_ratio"]

    assert 0.55 <= male <= 0.66
    assert 0.18 <= bulbar <= 0.35
    assert 52 <= age <= 66
    assert 7 <= delay <= 16
    assert f["slope_share"] > 0.3
    assert -1.2 <= f["slope_median"] <= -0.5
    assert 0.15 <= f["faster_than_1"] <= 0.45
    assert 24 <= f["km_median"] <= 48
    assert 40 <= f["nfl_median"] <= 130
    assert -0.55 <= rho <= -0.2
    assert 1.4 <= low_over_high <= 4.0


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
    # Seed 43, not 42: with the corrected parameters the random stream before the LCN2 draws shifted and seed 42
    # drew Kruskal p = 0.006 - a 1-in-100 false alarm of a test whose null holds by construction (seeds 40-49
    # give p from 0.006 to 0.99). The exact check is the next test; this one guards the observed tables.
    tables = simulate_cohort(n_patients=3000, seed=43, scenario=load_scenario("null-lcn2"))
    rho, p = _lcn2_vs_truth(tables)
    assert abs(rho) < 0.1
    assert p > 0.01


def test_null_lcn2_removes_exactly_the_planted_lcn2_factor(default_scenario: Scenario) -> None:
    # Same seed, same random stream: default LCN2 = null LCN2 x the subtype's multiplier, so in null-lcn2 no
    # subtype-dependent factor is left (the remaining variation is noise drawn independently of everything).
    a = simulate_cohort(n_patients=1000, seed=42, scenario=default_scenario)
    b = simulate_cohort(n_patients=1000, seed=42, scenario=load_scenario("null-lcn2"))
    rows = [t[t["analyte"] == "lcn2"].reset_index(drop=True) for t in (a["biomarkers"], b["biomarkers"])]
    pd.testing.assert_frame_equal(rows[0].drop(columns="value"), rows[1].drop(columns="value"))
    # Values at the reporting floor carry no factor; above it both tables are rounded to 4 significant figures,
    # so the two sides agree to within 2 x 0.05 % of their size.
    above = (rows[1]["value"] * S.unit_factors(rows[1]["analyte"], rows[1]["unit"])).to_numpy() > 1.0
    rows = [r[above].reset_index(drop=True) for r in rows]
    subtype = a["truth"].set_index("patient_id")["subtype_name"].loc[rows[0]["patient_id"]].to_numpy()
    blood = {s.name: s.lcn2_blood_multiplier for s in default_scenario.subtypes}
    csf = {s.name: s.lcn2_csf_multiplier for s in default_scenario.subtypes}
    factor = np.where(rows[0]["matrix"] == "csf", [csf[x] for x in subtype], [blood[x] for x in subtype])
    np.testing.assert_allclose(rows[0]["value"].to_numpy(), rows[1]["value"].to_numpy() * factor, rtol=1e-3)
    assert set(factor) == {1.0, 2.0, 2.5}


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


# --------------------------------------------------------------------------------------------------------------------
# Fidelity: every parameter equals what its source statement says (checked here independently of the loader)
# --------------------------------------------------------------------------------------------------------------------
def figures(text: str) -> list[float]:
    """Signed decimals quoted in ``text``; a hyphen between two numbers is a range, '−' and '-' before one a sign."""
    text = text.replace("\u2212", "-")
    return [float(m.group(0)) for m in re.finditer(r"(?<![\w.])(?<![\d.]-)-?\d+(?:\.\d+)?(?![\w.]*\d)",
                                                    re.sub(r"(?<=\d)-(?=\d)", " - ", text))]


def quoted(x: float, numbers: list[float]) -> bool:
    return any(math.isclose(x, q, rel_tol=1e-12, abs_tol=0.0) for q in numbers)


def leaves(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)]
    return [float(v) for v in value] if isinstance(value, list) else [float(value)]


def derive(path: str, params: dict[str, Parameter]) -> Any:
    """The simulator's number for ``path``: the quoted figure through its declared steps (own implementation)."""
    value: Any = params[path].value
    for step in params[path].derive:
        by = derive(step.by, params) if isinstance(step.by, str) else step.by
        if step.op == "times":
            value = value * by
        elif step.op == "divide_by":
            value = value / by
        elif step.op == "plus":
            value = value + by
        else:
            value = math.exp(value) if step.op == "exp" else math.log(value)
    return value


def effective(scenario: Scenario, path: str) -> Any:
    """The loaded scenario's value at a parameter path (list items addressed by name)."""
    node: Any = scenario.model_dump()
    for key in path.split("."):
        node = next(i for i in node if i["name"] == key) if isinstance(node, list) else node[key]
    return list(node) if isinstance(node, tuple) else node


def disagreements(params: dict[str, Parameter]) -> list[str]:
    """Parameters whose quoted value is not a figure of their statement, or cited ones without a statement."""
    bad = []
    for path, p in params.items():
        if p.statement is None:
            if p.source != "assumption":
                bad.append(f"{path}: cited without a statement")
            continue
        missing = [x for x in leaves(p.value) if not quoted(x, figures(p.statement))]
        if missing:
            bad.append(f"{path}: {missing} not in {p.statement!r}")
    return bad


def test_statement_figures_are_read_with_sign_and_ranges() -> None:
    assert figures("bulbar median slope \u22120.80 vs limb -0.55") == [-0.80, -0.55]
    assert figures("cut-offs 0.47-1.11, ΔFS < 0.47; 1.45x rate, 2.5x/2.0x LCN2 and HR 2.0") == [
        0.47, 1.11, 0.47, 1.45, 2.5, 2.0, 2.0]
    assert figures("Normal(62, 11), truncated 20–90; Q10 and x1.2 are not figures") == [62, 11, 20, 90]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_parameter_equals_its_source_statement(name: str) -> None:
    params = scenario_parameters(name)
    scenario = load_scenario(name)
    assert disagreements(params) == []
    for path in params:
        assert leaves(effective(scenario, path)) == pytest.approx(leaves(derive(path, params)), rel=1e-12), path
    # The statements are checked for every cited parameter, and the LCN2 effects are flagged hypotheses.
    assert sum(p.source != "assumption" for p in params.values()) >= 10
    lcn2 = [p for path, p in params.items() if path.startswith("lipocalin.") or re.search(r"lcn2_\w*multiplier$", path)]
    assert len(lcn2) == 6 + 2 * len(scenario.subtypes)
    assert all(p.source == "assumption" and "hypothesis" in (p.reason or "").lower() for p in lcn2)


def test_inflammatory_subtype_plants_what_its_statements_say() -> None:
    sc = {s.name: s for s in load_scenario("default").subtypes}
    assert sc["inflammatory"].rate_points_per_month == pytest.approx(1.45 * sc["typical"].rate_points_per_month)
    assert sc["inflammatory"].damage_rate_points_per_month == sc["typical"].damage_rate_points_per_month
    assert (sc["inflammatory"].lcn2_blood_multiplier, sc["inflammatory"].lcn2_csf_multiplier) == (2.5, 2.0)
    assert sc["inflammatory"].hazard_ratio == 2.0


def test_a_deliberately_wrong_value_is_caught(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENARIO_DIR / "default.yaml").read_text(encoding="utf-8"))
    # The planted hazard ratio before the fidelity fix: 4.0 where the statement says "HR 2.0".
    data["subtypes"][3]["hazard_ratio"]["value"] = 4.0
    wrong = {"subtypes.inflammatory.hazard_ratio": Parameter.model_construct(**data["subtypes"][3]["hazard_ratio"])}
    assert disagreements(wrong) == ["subtypes.inflammatory.hazard_ratio: [4.0] not in 'HR 2.0'"]
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError, match=r"subtypes\.inflammatory\.hazard_ratio\n.*disagrees with its statement"):
        load_scenario(str(path))


def test_null_lcn2_differs_from_default_only_in_the_lcn2_multipliers() -> None:
    a, b = scenario_parameters("default"), scenario_parameters("null-lcn2")
    assert set(a) == set(b)
    changed = {path for path in a if a[path] != b[path]}
    assert changed == {"subtypes.inflammatory.lcn2_blood_multiplier", "subtypes.inflammatory.lcn2_csf_multiplier"}
    assert all(b[path].value == 1.0 for path in changed)


def _section(text: str, number: str) -> str:
    level = "##" if "." not in number else "###"
    start = re.search(rf"^{level} {re.escape(number)}[ .]", text, flags=re.MULTILINE)
    assert start is not None, f"no section {number} in clinical-facts.md"
    end = re.search(r"^#{2,3} ", text[start.end():], flags=re.MULTILINE)
    return text[start.start(): start.end() + end.start() if end else len(text)]


@pytest.mark.parametrize("name", SHIPPED)
def test_cited_statements_are_quoted_from_the_cited_section(name: str) -> None:
    if not CLINICAL_FACTS.is_file():
        pytest.skip("clinical-facts.md is not shared beside the checkout")
    facts = CLINICAL_FACTS.read_text(encoding="utf-8")
    for path, p in scenario_parameters(name).items():
        if p.source == "assumption":
            continue
        section = re.match(r"clinical-facts\.md §([\d.]+?)(?=[,\s]|$)", p.source)
        assert section is not None, path
        in_section = figures(_section(facts, section.group(1)))
        assert p.statement is not None
        assert all(quoted(x, in_section) for x in figures(p.statement)), (path, p.statement)


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
        (lambda d: d.update(surprise="x"), "surprise"),
        (lambda d: d["survival"].update(weibull_shap={"value": 2.0, "source": "assumption",
                                                      "reason": "a misspelt key must not load"}), "weibull_shap"),
        (lambda d: d["subtypes"][0]["share"].update(value=0.9), "subtype shares must sum to 1"),
        (lambda d: d["demographics"]["male_share"].update(value=150, statement="150 % male"), "male_share"),
        # Numbers without provenance, and provenance that does not hold, are refused too.
        (lambda d: d["survival"].update(weibull_shape=2.0), r"survival\.weibull_shape\n.*bare number"),
        (lambda d: d["survival"]["weibull_shape"].update(valeu=2.0), r"weibull_shape\.valeu\n.*Extra inputs"),
        (lambda d: d["survival"]["weibull_shape"].pop("reason"), "an assumption needs a 'reason'"),
        (lambda d: d["demographics"]["male_share"].pop("statement"), "needs the quoted 'statement'"),
        (lambda d: d["demographics"]["male_share"].update(source="Smith 2020"), "must be 'assumption' or cite"),
        (lambda d: d["history"]["delay_median_months"].update(value=12), "disagrees with its statement"),
        (lambda d: d["subtypes"][3]["lcn2_blood_multiplier"].update(reason="raised in this subtype, as assumed"),
         r"subtypes\.inflammatory\.lcn2_blood_multiplier\n.*unvalidated hypothesis"),
        (lambda d: d["subtypes"][3]["rate_points_per_month"].update(
            derive=[{"op": "times", "by": "subtypes.typcal.rate_points_per_month"}]), "unknown parameter"),
        (lambda d: d["subtypes"][1]["damage_rate_points_per_month"].update(
            derive=[{"op": "times", "by": "subtypes.typical.damage_rate_points_per_month"}]), "derivation cycle"),
        (lambda d: d["neurofilament"]["healthy_log_per_year_age"].update(derive=[{"op": "log", "by": 2}]),
         "takes no 'by'"),
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
