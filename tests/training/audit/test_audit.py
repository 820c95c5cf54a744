"""Auditor tools: runs list / compare / history / reproduce / card, and the promotion gate.

Store tests share one private SQLite store (module fixture) and three small runs trained once: A and B on different
simulated cohorts (seeds 11 and 12), and W, a deliberately weak model on A's data (no tuning, ten depth-1 trees).
The pure functions (C-index, PSI, gate rules, exact metric comparison) are tested without a store.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import FrozenInstanceError
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.stores import private_home
from training.cli.app import app
from training.evaluation import shift as SH

CHROMIUM = Path("/usr/bin/chromium")
SMALL = {"subtype": {"k_max": 3, "n_bootstrap": 2}, "tuning": {"n_trials": 1}, "evaluation": {"n_bootstrap": 50},
         "split": {"cv_folds": 3}, "lcn2_ablation": False}
CONFIGS: dict[str, dict[str, Any]] = {
    "A": {**SMALL, "data": {"simulate": {"n_patients": 500, "seed": 11}}, "lcn2_ablation": True},
    "B": {**SMALL, "data": {"simulate": {"n_patients": 500, "seed": 12}}},
    # A no-skill-ish model on A's data: no tuning, ten depth-1 trees with a small learning rate.
    "W": {**SMALL, "data": {"simulate": {"n_patients": 500, "seed": 11}}, "tuning": {"n_trials": 0},
          "slope": {"params": {"n_estimators": 10, "max_depth": 1, "learning_rate": 0.02}},
          "survival": {"params": {"n_estimators": 10, "max_depth": 1, "learning_rate": 0.02}}},
}
LENIENT_GATE = """
criteria:
  - {metric: survival_cindex, better: higher, margin: 0.5}
  - {metric: slope_rmse, better: lower, margin: 1.0}
subgroups: {min_size: 20, criteria: []}
"""

# ----------------------------------------------------------------------------------------------------------------
# Pure functions (no store)
# ----------------------------------------------------------------------------------------------------------------
def test_psi_is_zero_for_identical_data_and_grows_with_shift(rng: np.random.Generator) -> None:
    a = pd.Series(rng.normal(50, 10, 2000))
    assert SH.population_stability_index(a, a.copy(), numeric=True) == pytest.approx(0.0, abs=1e-12)
    small = SH.population_stability_index(a, a + 2, numeric=True)
    large = SH.population_stability_index(a, a + 10, numeric=True)
    assert 0 < small < 0.1 < 0.25 < large
    assert SH.psi_level(small) == "none"
    assert SH.psi_level(large) == "major"
    # More missing values in B is a shift too (missing is a bin of its own).
    holes = a.where(rng.random(2000) > 0.5)
    assert SH.population_stability_index(a, holes, numeric=True) > 0.25
    cats = pd.Series(["limb"] * 70 + ["bulbar"] * 30)
    assert SH.population_stability_index(cats, pd.Series(["limb"] * 40 + ["bulbar"] * 60), numeric=False) > 0.25


def test_gate_rules_fail_closed_and_respect_margins() -> None:
    from training.registry.gate import GateConfig, judge

    cfg = GateConfig.model_validate({"criteria": [
        {"metric": "survival_cindex", "better": "higher", "margin": 0.02},
        {"metric": "slope_rmse", "better": "lower", "margin": 0.02},
        {"metric": "slope_interval_coverage_80", "better": "closer", "target": 0.8, "margin": 0.05},
        {"metric": "slope_calibration_slope", "better": "closer", "target": 1.0, "margin": 0.1}],
        "subgroups": {"min_size": 20, "criteria": [{"metric": "survival_cindex", "better": "higher", "margin": 0.05}]}})
    champion = {"survival_cindex": 0.70, "slope_rmse": 0.60, "slope_interval_coverage_80": 0.78,
                "slope_calibration_slope": 0.95, "survival_cindex.sex.male": 0.70, "survival_cindex.sex.female": 0.7}
    candidate = {"survival_cindex": 0.69, "slope_rmse": 0.63, "slope_interval_coverage_80": 0.90,
                 "slope_calibration_slope": math.nan, "survival_cindex.sex.male": 0.64,
                 "survival_cindex.sex.female": 0.2}
    sizes = {"survival_cindex.sex.male": 40, "survival_cindex.sex.female": 12}
    by_name = {r.name: r for r in judge(cfg, champion, candidate, sizes)}
    assert by_name["survival_cindex"].status == "passed"  # 0.01 worse, margin 0.02
    assert by_name["slope_rmse"].status == "failed"  # 0.03 worse than 0.02 allowed
    assert by_name["slope_interval_coverage_80"].status == "failed"  # 0.10 from nominal vs 0.02, margin 0.05
    assert by_name["slope_calibration_slope"].status == "failed"  # undefined for the candidate: fail closed
    assert by_name["survival_cindex.sex.male"].status == "failed"
    assert by_name["survival_cindex.sex.female"].status == "not evaluated"  # 12 patients < 20
    line = by_name["slope_rmse"].line()
    assert "candidate 0.6300 vs champion 0.6000" in line
    assert "allowed 0.02" in line
    same = {r.name: r.status for r in judge(cfg, champion, dict(champion), sizes)}
    assert set(same.values()) <= {"passed", "not evaluated"}, "identical models must pass with any margin"


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("criteria: [{metric: auc, better: higher, margin: 0.1}]", "unknown gate metric"),
    ("criteria: [{metric: slope_rmse, better: closer, margin: 0.1}]", "needs a target"),
    ("criteria: [{metric: slope_rmse, better: lower, margin: -1}]", "greater than or equal to 0"),
    ("criteria: [{metric: slope_rmse, better: lower, margin: 0.1}]\nmargins: 1", "Extra inputs are not permitted"),
])
def test_gate_config_is_validated(tmp_path: Path, yaml_text: str, message: str) -> None:
    from pydantic import ValidationError

    from training.registry.gate import load_gate_config

    path = tmp_path / "gate.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ValidationError, match=message):
        load_gate_config(path)


def test_shipped_gate_config_loads() -> None:
    from training.registry.gate import load_gate_config

    cfg = load_gate_config()
    assert {c.metric for c in cfg.criteria} == {"survival_cindex", "slope_rmse", "slope_interval_coverage_80",
                                                "slope_calibration_slope", "survival_calibration_slope_24m"}
    assert cfg.subgroups.factors == ("sex", "onset_site", "age_band")


def test_metric_comparison_is_exact() -> None:
    from training.audit.runs import compare_metrics

    identical, differing, only_logged, only_new = compare_metrics(
        {"a": 0.1, "b": 0.2, "c": 1.0, "train_seconds": 3.0, "gone": 0.5},
        {"a": 0.1, "b": 0.2 + 1e-15, "c": 1.0, "train_seconds": 9.0, "new": 0.4, "nan": math.nan})
    assert identical == ["a", "c"]
    assert [d["metric"] for d in differing] == ["b"]
    assert only_logged == ["gone"]
    assert only_new == ["new"]


# ----------------------------------------------------------------------------------------------------------------
# A private store with three trained runs
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private project home (its own mlruns/mlflow.db): tests never touch the developer's store."""
    with private_home(tmp_path_factory.mktemp("alsstrat-audit")) as path:
        (path / "lenient.yaml").write_text(LENIENT_GATE)
        yield path


@pytest.fixture(scope="module")
def runs(home: Path) -> dict[str, dict[str, str]]:
    """Train A, B and W once; run id, version and data hash of each."""
    from threadpoolctl import threadpool_limits

    from training.config import TrainConfig
    from training.fit.train import run_training

    out = {}
    # One BLAS/OpenMP thread: on a busy 2-core machine the mixture model's threads otherwise spin-wait for seconds.
    with threadpool_limits(1):
        for name, cfg in CONFIGS.items():
            result = run_training(TrainConfig.model_validate(cfg))
            out[name] = {"run_id": result.run_id, "version": result.model_version, "data_hash": result.data_hash}
    assert out["A"]["data_hash"] == out["W"]["data_hash"] != out["B"]["data_hash"]
    return out


@pytest.fixture(scope="module")
def cohort_file(home: Path) -> Path:
    """An independent cohort (seed 13) written the way `alsstrat cohort` writes it, for --on."""
    from features.cohort.assemble import build_cohort
    from features.cohort.table import write_cohort
    from features.contracts import validate_tables
    from features.simulate.generate import load_scenario, simulate_cohort

    tables = validate_tables(simulate_cohort(n_patients=300, seed=13, scenario=load_scenario("default")))
    path, _ = write_cohort(build_cohort(tables, source="synthetic"), home / "cohort13.parquet")
    return path


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def _json_out(output: str) -> Any:
    start = min(i for i in (output.find("{"), output.find("[")) if i >= 0)
    return json.loads(output[start:])


@pytest.fixture(scope="module")
def promotions(home: Path, runs: dict[str, dict[str, str]], cohort_file: Path) -> dict[str, Any]:
    """The promotion sequence: A (no champion yet), W (refused), B on the named cohort, W forced (B was trained on
    other data and no cohort is named, so the gate is not evaluable: the override is what moves the alias)."""
    v = {k: r["version"] for k, r in runs.items()}
    steps = {
        "first": _invoke(["promote", v["A"], "--approver", "Dr Ada", "--reason", "first validated model"]),
        "weak": _invoke(["promote", v["W"], "--approver", "Dr Wu", "--reason", "try the cheap model"]),
        "named": _invoke(["promote", v["B"], "--approver", "Dr Bo", "--reason", "new cohort, checked on seed 13",
                          "--on", str(cohort_file), "--gate-config", str(home / "lenient.yaml")]),
        "forced": _invoke(["promote", v["W"], "--approver", "Dr Wu", "--reason", "deliberate override for the test",
                           "--force"]),
    }
    return {"steps": steps, "versions": v}


# ----------------------------------------------------------------------------------------------------------------
# runs list
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.mlflow
def test_runs_list_has_one_line_per_training_run(runs: dict[str, dict[str, str]],
                                                 promotions: dict[str, Any]) -> None:
    listed = _invoke(["runs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = _json_out(listed.stdout)
    assert [r["run_id"] for r in rows] == [runs[k]["run_id"] for k in ("A", "B", "W")], "nested trials skipped"
    by_id = {r["run_id"]: r for r in rows}
    for _name, run in runs.items():
        row = by_id[run["run_id"]]
        assert row["data_hash"] == run["data_hash"]
        assert row["source"] == "synthetic"
        assert row["n_patients"] == 500
        assert row["git_commit"]
        assert set(row["metrics"]) == {"test_survival_cindex", "test_slope_rmse",
                                                             "test_slope_interval_coverage_80"}
        assert [v["version"] for v in row["versions"]] == [run["version"]]
    assert by_id[runs["W"]["run_id"]]["versions"][0]["aliases"] == ["champion"]
    text = _invoke(["runs", "list"])
    assert text.exit_code == 0
    lines = text.stdout.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("start (UTC)")
    assert f"v{runs['W']['version']}[champion]" in lines[3]
    assert runs["W"]["data_hash"][:12] in lines[3]


# ----------------------------------------------------------------------------------------------------------------
# runs compare
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def comparison(home: Path, runs: dict[str, dict[str, str]], cohort_file: Path) -> dict[str, Any]:
    """A vs B (different data) on the named cohort: the HTML report and the JSON of one invocation."""
    out = home / "report" / "a-vs-b.html"
    result = _invoke(["runs", "compare", runs["A"]["run_id"], runs["B"]["run_id"], "--on", str(cohort_file),
                      "--out", str(out), "--json", "--n-bootstrap", "20"])
    assert result.exit_code == 0, result.output
    return {"html": out, "json": _json_out(result.stdout)}


@pytest.mark.slow
@pytest.mark.mlflow
def test_compare_runs_on_different_data(runs: dict[str, dict[str, str]], comparison: dict[str, Any]) -> None:
    report, page = comparison["json"], comparison["html"].read_text()
    for name in ("A", "B"):
        assert runs[name]["run_id"] in page
        assert runs[name]["data_hash"] in page
    assert report["runs"]["a"]["data_hash"] == runs["A"]["data_hash"]
    assert report["runs"]["b"]["data_hash"] == runs["B"]["data_hash"]
    assert report["differences"][0].startswith("data: DIFFERENT content hash")
    assert not report["data"]["hash_same"]
    assert report["data"]["shift"]["available"]
    assert {f["feature"] for f in report["data"]["shift"]["features"]} >= {"nfl_serum_pg_ml", "lcn2_plasma_ng_ml"}
    assert [r["key"] for r in report["config"]["differing"]] == ["data.simulate.seed", "lcn2_ablation"]
    assert report["code"]["packages_differing"] == []
    # Every test metric carries a bootstrap interval, and rescoring reproduces the logged values.
    for tag in ("a", "b"):
        own = report["metrics"]["own_test"][tag]
        assert own["available"], own["reason"]
        assert own["matches_logged"], own["mismatched"]
    row = next(r for r in report["metrics"]["rows"] if r["metric"] == "test_survival_cindex")
    assert row["a_low"] <= row["a"] <= row["a_high"]
    assert row["b_low"] <= row["b"] <= row["b_high"]
    common = report["metrics"]["common"]
    assert common["available"]
    assert common["kind"] == "named"
    assert common["n_patients"] == 300
    paired = {r["metric"]: r for r in common["rows"]}
    assert paired["survival_cindex"]["difference"] == pytest.approx(paired["survival_cindex"]["b"]
                                                                    - paired["survival_cindex"]["a"])
    assert {r["factor"] for r in report["subgroups"]["common"]} == {"sex", "onset_site", "age_band"}
    assert {r["factor"] for r in report["subgroups"]["logged"]} >= {"sex", "age_band"}
    assert report["calibration"]["basis"].startswith("both models on the common")
    assert report["calibration"]["survival_24m"]["a"]
    assert report["calibration"]["slope"]["b"]
    agreement = report["models"]["agreement"]
    assert -1 <= agreement["ari"] <= 1
    assert sum(map(sum, agreement["counts"])) == 300
    assert report["models"]["importance"]["slope"]
    assert report["models"]["importance"]["survival"]
    assert report["lineage"]["a"]["versions"][0]["version"] == runs["A"]["version"]


@pytest.mark.slow
@pytest.mark.mlflow
def test_report_holds_no_patient_level_data(cohort_file: Path, comparison: dict[str, Any]) -> None:
    page = comparison["html"].read_text()
    ids = set(pd.read_parquet(cohort_file, columns=["patient_id"])["patient_id"].astype(str))
    leaked = ids & set(re.findall(r"[A-Za-z0-9_-]+", page))
    assert not leaked, f"patient ids in the report: {sorted(leaked)[:3]}"


class _Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.sources: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_h2 = tag == "h2"
        self.sources += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


@pytest.mark.slow
@pytest.mark.mlflow
def test_report_is_self_contained(comparison: dict[str, Any]) -> None:
    from training.reports.compare_html import SECTIONS

    outline = _Outline()
    outline.feed(comparison["html"].read_text())
    assert outline.headings == list(SECTIONS)
    assert outline.sources
    external = [s[:40] for s in outline.sources if not s.startswith("data:image/png;base64,")]
    assert not external, "every resource must be embedded (no link, script or remote image)"


@pytest.mark.slow
@pytest.mark.mlflow
def test_report_renders_in_headless_chromium(runs: dict[str, dict[str, str]], comparison: dict[str, Any]) -> None:
    from training.reports.compare_html import SECTIONS

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); the report's structure is still "
                    "checked by test_report_is_self_contained")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--dump-dom", comparison["html"].resolve().as_uri()],
            capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in dom, f"section {heading!r} did not render"
    assert runs["A"]["run_id"] in dom
    assert runs["B"]["data_hash"] in dom
    assert dom.count('src="data:image/png;base64,') >= 4, "figures did not render"


LAYOUT_CHECK = """() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    problems.push(`page scrolls sideways: scrollWidth ${root.scrollWidth} > clientWidth ${root.clientWidth}`);
  }
  const body = document.body;
  if (body.scrollWidth > body.clientWidth) {
    problems.push(`body: scrollWidth ${body.scrollWidth} > clientWidth ${body.clientWidth}`);
  }
  const right = body.getBoundingClientRect().right;
  for (const el of document.querySelectorAll("figure, table, img, nav, p, ul, h1, h2, h3")) {
    const name = el.tagName.toLowerCase();
    const what = (el.querySelector("caption, figcaption") || el).textContent.trim().slice(0, 60);
    if (el.scrollWidth > el.clientWidth + 1 && name !== "img") {
      problems.push(`${name} "${what}": scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
    }
    if (el.getBoundingClientRect().right > right + 1) {
      problems.push(`${name} "${what}": right edge ${el.getBoundingClientRect().right} beyond the body (${right})`);
    }
  }
  const images = [...document.images];
  const unloaded = images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt);
  const tables = [...document.querySelectorAll("table")];
  const untitled = tables.filter(t => !t.caption || !t.caption.textContent.trim()).length;
  const emptyCi = [];
  for (const t of tables) {
    const header = [...t.querySelectorAll("thead th")].map(h => h.textContent.trim());
    const ci = header.findIndex(h => /\bCI\b/.test(h));
    if (ci < 0) continue;
    for (const row of t.querySelectorAll("tbody tr")) {
      const cell = row.children[ci];
      const text = cell ? cell.textContent.trim() : "";
      if (!text || text === "\u2014") emptyCi.push(`${t.caption.textContent.trim()}: ${row.children[0].textContent}`);
    }
  }
  return {problems, images: images.length, unloaded, tables: tables.length, untitled, emptyCi};
}"""


@pytest.fixture(scope="module")
def card_html(home: Path, runs: dict[str, dict[str, str]]) -> Path:
    """Run A's model card as `alsstrat runs card --format html` writes it."""
    out = home / "cards" / "a.html"
    page = _invoke(["runs", "card", runs["A"]["version"], "--format", "html", "--out", str(out)])
    assert page.exit_code == 0, page.output
    return out


@pytest.mark.slow
@pytest.mark.mlflow
def test_card_and_report_fit_an_auditors_screen_in_chromium(card_html: Path, comparison: dict[str, Any]) -> None:
    """Both reports in headless Chromium at 1280 x 800 and 1024 x 768: nothing overflows sideways, every image
    loads, every table has a caption, and no CI cell is empty."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); Playwright drives the system "
                    "browser and never downloads one")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            for width, height in ((1280, 800), (1024, 768)):
                page = browser.new_page(viewport={"width": width, "height": height})
                for name, path in (("model card", card_html), ("compare report", comparison["html"])):
                    page.goto(path.resolve().as_uri(), wait_until="load")
                    found = page.evaluate(LAYOUT_CHECK)
                    where = f"{name} at {width} px"
                    assert found["problems"] == [], where
                    assert found["images"] >= 4, where
                    assert found["unloaded"] == [], where
                    assert found["tables"] >= 5, where
                    assert found["untitled"] == 0, where
                    assert found["emptyCi"] == [], where
                page.close()
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.mlflow
def test_card_of_a_trained_run_has_an_interval_in_every_ci_cell(runs: dict[str, dict[str, str]]) -> None:
    md = _invoke(["runs", "card", runs["A"]["version"]]).stdout
    table_rows = md[md.index("Table: Test metrics with 95 % confidence intervals"):].split("\n\n")[1].splitlines()
    rows = [r.split(" | ") for r in table_rows[2:]]
    assert len(rows) >= 20, "every headline test metric is listed"
    with_interval = [r[0].strip("| ") for r in rows if re.fullmatch(r"-?\d[\d,]*\.\d{3} to -?\d[\d,]*\.\d{3}", r[2])]
    # 500 simulated patients, 50 resamples: every metric is defined on the test set, so every row has an interval.
    assert len(with_interval) == len(rows), [r[:3] for r in rows if r[0].strip("| ") not in with_interval]
    for name in ("test_slope_rmse", "test_survival_cindex", "test_survival_ibs", "test_slope_interval_coverage_80",
                 "oracle_slope_rmse", "lcn2_added_cindex"):
        assert name in with_interval, name
    logged = mlflow.MlflowClient().get_run(runs["A"]["run_id"]).data
    assert logged.metrics["test_slope_rmse_ci_low"] < logged.metrics["test_slope_rmse"] \
        < logged.metrics["test_slope_rmse_ci_high"]
    # 500 patients (400 training, about 150 events) for 32 model inputs: below 10 events per predictor.
    epp = logged.metrics["train_events_per_predictor"]
    assert epp < 10
    assert logged.tags["warning.events_per_predictor"].startswith(f"Warning: only {epp:.1f} training events")
    assert md.count(f"Warning: only {epp:.1f} training events per predictor") == 2


@pytest.mark.slow
@pytest.mark.mlflow
def test_compare_runs_on_the_same_data_uses_their_shared_held_out_patients(runs: dict[str, dict[str, str]]) -> None:
    result = _invoke(["runs", "compare", runs["A"]["run_id"], runs["W"]["run_id"], "--json", "--n-bootstrap", "0"])
    assert result.exit_code == 0, result.output
    report = _json_out(result.stdout)
    assert report["data"]["hash_same"]
    assert report["differences"][0] == "data: identical content hash"
    common = report["metrics"]["common"]
    assert common["kind"] == "held-out"
    assert common["n_patients"] == 100, "20 % of 500, same split seed"
    logged = {r["metric"]: r for r in report["metrics"]["rows"]}
    paired = {r["metric"]: r for r in common["rows"]}
    # Same held-out patients: the paired values are each run's logged test metrics.
    assert paired["survival_cindex"]["a"] == pytest.approx(logged["test_survival_cindex"]["a"], abs=1e-12)
    assert paired["survival_cindex"]["b"] == pytest.approx(logged["test_survival_cindex"]["b"], abs=1e-12)
    assert {r["key"] for r in report["config"]["differing"]} >= {"tuning.n_trials", "slope.params.n_estimators"}
    assert report["models"]["agreement"]["ari"] == pytest.approx(1.0), "same subtype settings and data"


@pytest.mark.slow
@pytest.mark.mlflow
@pytest.mark.parametrize(("args", "message"), [
    (["runs", "compare", "0" * 32, "RUN_B"], "no run '00000000000000000000000000000000'"),
    (["runs", "compare", "RUN_A", "RUN_B", "--out", "report.pdf"], "--out must end in .html"),
    (["runs", "compare", "RUN_A", "RUN_B", "--on", "/nonexistent/cohort.parquet"], "no such cohort file"),
    (["runs", "list", "--experiment", "nope"], "no experiment named 'nope'"),
    (["runs", "reproduce", "f" * 32], "no run 'ffffffffffffffffffffffffffffffff'"),
    (["runs", "card", "99"], "als-stratifier has no version 99"),
    (["runs", "card", "1", "--format", "pdf"], "--format must be md or html"),
])
def test_bad_input_exits_2_with_a_message(runs: dict[str, dict[str, str]], args: list[str], message: str) -> None:
    args = [runs["A"]["run_id"] if a == "RUN_A" else runs["B"]["run_id"] if a == "RUN_B" else a for a in args]
    result = _invoke(args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.mlflow
def test_a_tuning_trial_is_not_a_training_run(runs: dict[str, dict[str, str]]) -> None:
    from training.tracking import configure_tracking

    configure_tracking()
    trial = mlflow.search_runs(search_all_experiments=True, output_format="list",
                               filter_string=f"tags.`mlflow.parentRunId` = '{runs['A']['run_id']}'")[0]
    result = _invoke(["runs", "compare", trial.info.run_id, runs["B"]["run_id"]])
    assert result.exit_code == 2
    assert "is a tuning trial inside training run" in result.output


# ----------------------------------------------------------------------------------------------------------------
# Promotion gate and history
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.mlflow
def test_gate_refuses_a_worse_model_and_prints_the_failed_criteria(promotions: dict[str, Any]) -> None:
    first, weak = promotions["steps"]["first"], promotions["steps"]["weak"]
    assert first.exit_code == 0, first.output
    assert "no champion yet" in first.output
    assert weak.exit_code == 2, weak.output
    assert "refused:" in weak.output
    assert "(gate failed)" in weak.output
    failed = [line for line in weak.output.splitlines() if line.strip().startswith("failed ")]
    assert failed, weak.output
    for line in failed:
        assert re.search(r"candidate -?[\d.]+|candidate n/a", line)
        assert "vs champion" in line
        assert "allowed" in line
    assert "patients held out by both runs" in weak.output


@pytest.mark.slow
@pytest.mark.mlflow
def test_gate_on_a_named_cohort_and_a_forced_override(promotions: dict[str, Any]) -> None:
    named, forced = promotions["steps"]["named"], promotions["steps"]["forced"]
    assert named.exit_code == 0, named.output
    assert "gate passed" in named.output
    assert "named cohort cohort13.parquet" in named.output
    # the subtype agreement with the champion on the gate cohort is shown (information, not a criterion)
    assert re.search(r"subtype agreement with the champion on the gate cohort \(information, not a criterion\): "
                     r"same subtype label for \d+ % of patients, ARI -?\d\.\d{3}", " ".join(named.output.split()))
    assert forced.exit_code == 0, forced.output
    assert "FORCED over the gate" in forced.output
    from training.registry.promotion import current_champion
    from training.tracking import configure_tracking

    configure_tracking()
    assert current_champion("als-stratifier") == promotions["versions"]["W"]


@pytest.mark.slow
@pytest.mark.mlflow
def test_different_data_without_a_named_cohort_is_refused_as_not_evaluable(
        runs: dict[str, dict[str, str]], promotions: dict[str, Any]) -> None:
    # Champion is W (A's data); B was trained on other data and no --on is given: nothing to compare on.
    result = _invoke(["promote", runs["B"]["version"], "--approver", "Dr Bo", "--reason", "no cohort named"])
    assert result.exit_code == 2
    assert "gate not-evaluable" in result.output
    assert "--on PATH" in result.output


@pytest.mark.slow
@pytest.mark.mlflow
def test_history_lists_every_attempt_oldest_first(runs: dict[str, dict[str, str]],
                                                  promotions: dict[str, Any]) -> None:
    result = _invoke(["runs", "history", "--json"])
    assert result.exit_code == 0, result.output
    payload = _json_out(result.stdout)
    records = payload["records"][:4]
    v = promotions["versions"]
    assert [(r["version"], r["previous_champion"], r["gate"], r["forced"], r["moved"]) for r in records] == [
        (v["A"], None, "no-champion", False, True),
        (v["W"], v["A"], "failed", False, False),
        (v["B"], v["A"], "passed", False, True),
        (v["W"], v["B"], "not-evaluable", True, True)]
    assert [r["approver"] for r in records] == ["Dr Ada", "Dr Wu", "Dr Bo", "Dr Wu"]
    assert records[2]["reason"] == "new cohort, checked on seed 13"
    times = [r["time_utc"] for r in records]
    assert times == sorted(times)
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", t) for t in times)
    assert payload["chain"]["intact"]
    assert payload["chain"]["n_unchained"] == 0
    text = _invoke(["runs", "history"])
    assert "NOT moved (refused)" in text.stdout
    assert "FORCED moved" in text.stdout
    assert "history chain: intact" in text.stdout


@pytest.mark.slow
@pytest.mark.mlflow
def test_history_cannot_be_altered(home: Path, promotions: dict[str, Any]) -> None:
    from training.registry import promotion as registry
    from training.registry.promotion import promotion_history, verify_history
    from training.tracking import configure_tracking

    uri = configure_tracking()
    # 1. The project's API offers no way to edit or delete a record.
    public = {n for n in dir(registry) if not n.startswith("_") and callable(getattr(registry, n))}
    assert not {n for n in public if re.search(r"edit|update|delete|remove|rewrite|set_|amend", n)}
    history = promotion_history()
    with pytest.raises(FrozenInstanceError):
        history[0].approver = "someone else"  # type: ignore[misc]
    history.clear()
    assert promotion_history()[0].approver == "Dr Ada", "a returned list is a copy, not the store"
    # 2. MLflow itself refuses to overwrite a logged param.
    record = promotion_history()[0]
    assert record.record_run_id is not None
    with pytest.raises(mlflow.exceptions.MlflowException):
        mlflow.MlflowClient().log_param(record.record_run_id, "approver", "someone else")
    assert promotion_history()[0].approver == "Dr Ada"
    # 3. Edits below the API (straight into the database, on a copy) and deletions are detected by the chain.
    copy = home / "tampered.db"
    shutil.copy(uri.removeprefix("sqlite:///"), copy)
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE params SET value = 'Dr Mallory' WHERE key = 'approver' AND run_uuid = ?",
                   (record.record_run_id,))
    try:
        mlflow.set_tracking_uri(f"sqlite:///{copy}")
        check = verify_history()
        assert not check.intact
        assert "its fields were altered" in check.problems[0]
        before = promotion_history()
        mlflow.MlflowClient().delete_run(str(before[1].record_run_id))
        after = promotion_history()
        assert len(after) == len(before)
        assert after[1].record_deleted, "deleted records stay visible"
        assert any("was deleted" in p for p in verify_history().problems)
    finally:
        # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, so point both back at the real store.
        mlflow.set_tracking_uri(uri)
        configure_tracking()
    assert verify_history().intact


# ----------------------------------------------------------------------------------------------------------------
# runs reproduce
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.mlflow
def test_reproduce_gives_every_metric_exactly(runs: dict[str, dict[str, str]]) -> None:
    from threadpoolctl import threadpool_limits

    from training.tracking import configure_tracking

    with threadpool_limits(1):  # as in training: speed only, see the runs fixture
        result = _invoke(["runs", "reproduce", runs["A"]["run_id"], "--json"])
    assert result.exit_code == 0, result.output
    payload = _json_out(result.stdout)
    assert payload["reproduced"], payload["differing"]
    configure_tracking()
    logged = mlflow.get_run(runs["A"]["run_id"]).data.metrics
    assert set(payload["identical"]) == set(logged) - {"train_seconds"}
    assert payload["not_compared"] == ["train_seconds"]
    record = mlflow.get_run(payload["record_run_id"])
    assert record.data.tags["alsstrat.kind"] == "reproduction"
    assert record.data.tags["reproduces_run_id"] == runs["A"]["run_id"]
    assert record.data.tags["reproduced"] == "true"


@pytest.mark.slow
@pytest.mark.mlflow
def test_reproduce_refuses_data_whose_hash_changed(runs: dict[str, dict[str, str]]) -> None:
    from training.tracking import configure_tracking

    configure_tracking()
    source = mlflow.get_run(runs["A"]["run_id"])
    config = mlflow.artifacts.load_text(f"runs:/{runs['A']['run_id']}/config.yaml")
    # A run whose logged hash no longer matches what its config rebuilds (as if the data had changed since).
    with mlflow.start_run(experiment_id=source.info.experiment_id, run_name="changed-data") as run:
        mlflow.set_tags({**{k: source.data.tags[k] for k in ("source", "n_patients", "git_commit", "git_dirty")},
                         "data_hash": "0" * 64})
        mlflow.log_text(config, "config.yaml")
    result = _invoke(["runs", "reproduce", run.info.run_id])
    assert result.exit_code == 2
    assert "refused" in result.output
    assert "0" * 64 in result.output
    assert runs["A"]["data_hash"] in result.output
    mlflow.MlflowClient().delete_run(run.info.run_id)


# ----------------------------------------------------------------------------------------------------------------
# runs card
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.mlflow
def test_card_per_version_covers_tripod_ai(home: Path, runs: dict[str, dict[str, str]]) -> None:
    from training.reports.model_card import TRIPOD_SECTIONS

    version = runs["A"]["version"]
    md = _invoke(["runs", "card", version])
    assert md.exit_code == 0, md.output
    assert md.stdout.startswith(f"# Model card: als-stratifier version {version}")
    for heading in TRIPOD_SECTIONS:
        assert f"## {heading}" in md.stdout, heading
    for fact in (runs["A"]["run_id"], runs["A"]["data_hash"], "unvalidated hypothesis", "Adding LCN2 changed"):
        assert fact in md.stdout, fact
    out = home / "cards" / f"v{version}.html"
    page = _invoke(["runs", "card", version, "--format", "html", "--out", str(out)])
    assert page.exit_code == 0, page.output
    html_text = out.read_text()
    assert html_text.startswith("<!DOCTYPE html>")
    for heading in TRIPOD_SECTIONS:
        assert f"<h2>{html.escape(heading)}</h2>" in html_text, heading


@pytest.mark.slow
@pytest.mark.mlflow
def test_report_opens_with_a_verdict_and_contents(comparison: dict[str, Any]) -> None:
    page = comparison["html"].read_text()
    assert page.index('<p class="verdict">') < page.index('<nav class="toc"') < page.index("<h2>What differs</h2>")
    assert "On the common evaluation cohort (300 patients), run B is better on" in page
    assert "subgroup rows were compared, each with its own 95 % interval" in page
    assert page.count("<table>") == page.count("<caption>")
    assert not re.search(r">\d[\d,]*\.0000<", page), "a count printed as a float"


@pytest.mark.slow
@pytest.mark.mlflow
def test_card_shows_the_logged_lcn2_intervals(runs: dict[str, dict[str, str]]) -> None:
    md = _invoke(["runs", "card", runs["A"]["version"]]).stdout
    row = next(line for line in md.splitlines() if line.startswith("| lcn2_added_cindex |"))
    assert re.search(r"^\| lcn2_added_cindex \| -?\d\.\d{3} \| -?\d\.\d{3} to -?\d\.\d{3} \|", row), row
    assert "_ci_low" not in md
    assert "Kaplan-Meier curves of event-free survival by subtype (test patients)" in md
    assert "km by subtype" not in md
