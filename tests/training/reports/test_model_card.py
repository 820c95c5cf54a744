"""Model card: every TRIPOD+AI section, the LCN2 result in words, escaping, and the standing statements."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from training.evaluation import metrics as E
from training.reports import model_card as M
from training.reports import plots as P


def _context(**overrides: object) -> M.ModelCardContext:
    groups = {"sex": pd.Series(["male"] * 25 + ["female"] * 5)}
    y = np.linspace(-2.0, 0.0, 30)
    subgroup, _ = E.subgroup_metrics(groups, {"test_slope_rmse": lambda idx: float(np.std(y[idx]))}, min_size=20)
    fields: dict[str, object] = {
        "model_name": "als-stratifier", "model_version": "3", "run_id": "abc123", "data_source": "synthetic (seed 7)",
        "data_content_hash": "f" * 64, "n_train": 1500, "n_test": 500, "n_train_slope": 1200, "n_test_slope": 400,
        "n_train_events": 700, "n_test_events": 230,
        "predictors": [("nfl_serum_pg_ml", "pg/mL", "Serum neurofilament light chain"),
                       ("lcn2_plasma_ng_ml", "ng/mL", "Plasma lipocalin-2"), ("sex", "", "Sex")],
        "generated_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "metrics": {"test_survival_cindex": (0.71, 0.68, 0.74), "test_slope_rmse": 0.42},
        "baselines": {"clinical Cox": {"test_survival_cindex": 0.66}},
        "subgroup_metrics": subgroup,
        "calibration": {"test_slope_calibration_slope": 0.95},
        "subtypes": [("fast, high NfL", 400, "Fast decline with high NfL"), ("slow", 1100, "Slow decline")],
        "lcn2_added_cindex": (0.031, 0.012, 0.050),
        "lcn2_added_slope_rmse": (0.01, -0.02, 0.03),
    }
    fields.update(overrides)
    return M.ModelCardContext(**fields)  # type: ignore[arg-type]


def test_every_tripod_heading_in_both_formats() -> None:
    md, page = M.render_model_card(_context())
    for heading in M.TRIPOD_SECTIONS:
        assert f"## {heading}\n" in md
        assert f"<h2>{html.escape(heading)}</h2>" in page
    assert len(M.TRIPOD_SECTIONS) == len(set(M.TRIPOD_SECTIONS))


def test_lcn2_sentence_when_ci_above_zero() -> None:
    text = M.lcn2_added_value_sentence("cindex", (0.031, 0.012, 0.050))
    assert text == ("Adding LCN2 changed the cross-validated C-index by +0.031 (95 % CI +0.012 to +0.050): in this "
                    "cohort LCN2 carried prognostic information beyond NfL and clinical data (higher C-index with "
                    "LCN2).")
    md, page = M.render_model_card(_context())
    assert "C-index by +0.031 (95 % CI +0.012 to +0.050): in this cohort LCN2 carried prognostic information" in md
    assert "in this cohort LCN2 carried prognostic information beyond NfL and clinical data" in page


def test_lcn2_sentence_when_ci_contains_zero() -> None:
    text = M.lcn2_added_value_sentence("cindex", (0.004, -0.010, 0.018))
    assert text.startswith("Adding LCN2 changed the cross-validated C-index by +0.004 (95 % CI -0.010 to +0.018): "
                           "the CI includes 0, so in this cohort there is no evidence that LCN2 adds value")
    md, _ = M.render_model_card(_context(lcn2_added_cindex=(0.004, -0.010, 0.018)))
    assert "the CI includes 0, so in this cohort there is no evidence that LCN2 adds value" in md
    assert "carried prognostic information" not in md


def test_lcn2_sentence_for_slope_rmse_reports_the_change_in_rmse() -> None:
    # lcn2_added_slope_rmse is RMSE(without) - RMSE(with): +0.05 means LCN2 lowered the error by 0.05.
    helped = M.lcn2_added_value_sentence("slope_rmse", (0.05, 0.02, 0.08))
    assert helped.startswith("Adding LCN2 changed the cross-validated RMSE of the ALSFRS-R slope by -0.050 "
                             "points/month (95 % CI -0.080 to -0.020 points/month): in this cohort LCN2 carried "
                             "prognostic")
    hurt = M.lcn2_added_value_sentence("slope_rmse", (-0.05, -0.08, -0.02))
    assert "made the prediction worse" in hurt
    assert "includes 0" in M.lcn2_added_value_sentence("slope_rmse", (0.01, -0.02, 0.03))


def test_lcn2_sentence_edge_cases() -> None:
    assert "includes 0" in M.lcn2_added_value_sentence("cindex", (0.01, 0.0, 0.02))  # bound exactly 0
    assert "made the prediction worse" in M.lcn2_added_value_sentence("cindex", (-0.03, -0.05, -0.01))
    assert "not run" in M.lcn2_added_value_sentence("cindex", None)
    assert "could not be estimated" in M.lcn2_added_value_sentence("cindex", (0.01, float("nan"), float("nan")))
    assert "90 % CI" in M.lcn2_added_value_sentence("cindex", (0.03, 0.01, 0.05), confidence=0.9)
    assert "simulator's LCN2 assumptions" in M.lcn2_added_value_sentence("cindex", (0.03, 0.01, 0.05), synthetic=True)


def test_values_are_escaped() -> None:
    evil = "<script>alert('x')</script>"
    ctx = _context(model_name=evil, predictors=[("lcn2_plasma_ng_ml", "ng/mL", evil)], data_source="native | " + evil)
    md, page = M.render_model_card(ctx)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<script>" not in md
    assert r"\<script\>" in md
    assert r"native \| " in md  # a pipe in a value cannot break a Markdown table


@pytest.mark.parametrize("source", ["synthetic (seed 1)", "proact: /data/export"])
def test_standing_statements_always_present(source: str) -> None:
    # Even a caller that replaces the limitations and out-of-scope lists cannot drop them.
    md, page = M.render_model_card(_context(data_source=source, limitations=(), out_of_scope=()))
    for text in (md, page):
        assert "unvalidated hypothesis" in text
        assert "say nothing about how the model performs in real patients" in text
        assert "Not for individual clinical decisions" in text
    assert ("trained and evaluated on synthetic (simulated) patients only" in md) == source.startswith("synthetic")


def test_html_is_self_contained_with_embedded_figure() -> None:
    png = P.figure_png(P.importance_plot(["a", "b"], [0.2, 0.1]))
    md, page = M.render_model_card(_context(figures={"Feature importance": png}))
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert 'src="data:image/png;base64,' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page
    assert "<script" not in page
    assert "Feature importance (PNG, embedded in the HTML card)" in md


def test_figures_must_be_png() -> None:
    with pytest.raises(ValueError, match="figure 'x' is not a PNG image"):
        _context(figures={"x": b"<svg/>"})


def test_counts_are_checked() -> None:
    with pytest.raises(ValueError, match="n_test_events=600 exceeds n_test=500"):
        _context(n_test_events=600)


def test_tables_show_metrics_baselines_subgroups_and_subtypes() -> None:
    md, _ = M.render_model_card(_context())
    assert "| test_survival_cindex | 0.710 | 0.680 to 0.740 |" in md
    assert "| metric | als-stratifier | clinical Cox |" in md
    assert "| test_survival_cindex | 0.710 | 0.660 |" in md
    # sex=female has 5 < 20 patients: its size is shown and its metric is not evaluated.
    assert "| sex | female | 5 | n/a | not evaluated: n = 5 \\< 20 |" in md  # "<" escaped for Markdown
    assert "| sex | male | 25 |" in md
    assert "| fast, high NfL | 400 | Fast decline with high NfL |" in md
    assert "| nfl_serum_pg_ml | pg/mL | Serum neurofilament light chain |" in md
    assert "| sex | - | Sex |" in md
    assert "2026-01-02T03:04:05+00:00" in md


@pytest.mark.parametrize("source", ["native: /data/clinic", "proact: /data/export", "dream2012: /data/dream"])
def test_card_of_real_data_says_nothing_about_synthetic_data(source: str) -> None:
    md, page = M.render_model_card(_context(data_source=source))
    for text, escape in ((md, str), (page, html.escape)):
        assert "synthetic" not in text.lower()
        assert escape(M.REAL_DATA_STATEMENT) in text
        assert escape(M.DEFAULT_ETHICS) in text
        assert "simulator's LCN2 assumptions" not in text


def test_card_of_synthetic_data_says_so() -> None:
    md, page = M.render_model_card(_context())
    for text, escape in ((md, str), (page, html.escape)):
        assert escape(M.SYNTHETIC_STATEMENT) in text
        assert escape(M.SYNTHETIC_ETHICS) in text
        assert escape(M.REAL_DATA_STATEMENT) not in text
    assert M.render_model_card(_context(ethics="Approved by committee X (ref 12)."))[0].count("ref 12") == 1


def test_interval_logged_as_separate_metrics_fills_the_ci_column() -> None:
    flat = {"test_survival_cindex": 0.71, "lcn2_added_cindex": 0.03, "lcn2_added_cindex_ci_low": 0.01,
            "lcn2_added_cindex_ci_high": 0.05}
    assert M.fold_intervals(flat) == {"test_survival_cindex": 0.71, "lcn2_added_cindex": (0.03, 0.01, 0.05)}
    md, _ = M.render_model_card(_context(metrics=flat))
    assert "| lcn2_added_cindex | 0.030 | 0.010 to 0.050 |" in md
    assert "lcn2_added_cindex_ci_low" not in md
    # A metric without any interval says why in words: never an empty cell, never a bare em dash.
    assert "| test_survival_cindex | 0.710 | none: this run logged no interval for this metric |" in md
    assert not re.search(r"\|\s*\|\s*(Harrell|root)", md)


def _ci_cells(page: str) -> list[str]:
    """The CI column of the card's test-metric table, cell by cell (HTML)."""
    body = page[page.index("Test metrics with 95 % confidence intervals"):]
    body = body[:body.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)[1:]  # the first row is the header
    return [html.unescape(re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)[2])).strip()
            for r in rows]


def test_no_ci_cell_is_empty() -> None:
    nan = float("nan")
    metrics = {"test_slope_rmse": (0.42, 0.40, 0.45), "test_survival_cindex": (0.71, nan, nan),
               "test_survival_ibs": (nan, nan, nan), "oracle_slope_rmse": 0.3,
               "test_slope_interval_coverage_80": (0.8, 0.76, 0.84)}
    md, page = M.render_model_card(_context(metrics=metrics))
    cells = _ci_cells(page)
    assert cells == ["0.400 to 0.450", "none: the metric was undefined on every bootstrap resample",
                     "none: the metric is undefined on this test set",
                     "none: this run logged no interval for this metric", "0.760 to 0.840"]
    assert all(c and c != "\u2014" for c in cells)
    assert "Wilson score intervals" in md


def test_low_events_per_predictor_is_a_visible_warning() -> None:
    # 96 training events for 32 model inputs: 3.0 events per predictor, below 10.
    inputs = [(f"x{i}", "", f"input {i}") for i in range(32)]
    md, page = M.render_model_card(_context(n_train_events=96, predictors=inputs))
    warning = ("Warning: only 3.0 training events per predictor (96 events, 32 model inputs), below the usual "
               "minimum of 10 (Peduzzi et al. 1996; Riley et al., BMJ 2020)")
    assert md.count(warning) == 2, "in the summary and in the sample-size section"
    assert f'<p class="strong">{html.escape(warning)}' in page
    # 700 events for 3 inputs: no warning; a model without a survival part has no events to count.
    assert "training events per predictor (" not in M.render_model_card(_context())[0]
    assert "Warning: only" not in M.render_model_card(_context(n_train_events=0, predictors=inputs,
                                                               survival_model=False))[0]


def test_small_subgroups_are_flagged_in_their_row() -> None:
    groups = {"sex": pd.Series(["male"] * 24 + ["female"] * 40 + [None] * 6)}
    y = np.linspace(-2.0, 0.0, 70)
    subgroup, _ = E.subgroup_metrics(groups, {"test_slope_rmse": lambda idx: float(np.std(y[idx]))}, min_size=20)
    md, _ = M.render_model_card(_context(subgroup_metrics=subgroup, subgroup_min_size=20))
    rows = {line.split(" | ")[1]: line for line in md.splitlines() if line.startswith("| sex |")}
    assert rows["male"].endswith("| small: n = 24 \\< 30, interpret with caution |")  # Markdown-escaped "<"
    assert rows["female"].endswith("| n \\>= 30 |")
    assert rows["missing"].endswith("| not evaluated: n = 6 \\< 20 |")
    assert "no correction for multiple comparisons" in md


def test_integers_render_without_decimals() -> None:
    md, page = M.render_model_card(_context(metrics={"test_n_patients": 79.0, "test_slope_rmse": 0.42},
                                            calibration={"n_groups": 5.0}))
    assert "| test_n_patients | 79 |" in md
    assert "| n_groups | 5 |" in md
    assert "| train | 1,500 | 1,200 | 700 |" in md
    for text in (md, page):
        assert not re.search(r"\b(79|5|1,?500)\.0+\b", text)


def test_every_table_has_a_heading() -> None:
    md, page = M.render_model_card(_context())
    lines = md.splitlines()
    headers = [i for i, line in enumerate(lines) if line.startswith("|---")]
    assert len(headers) >= 8
    for i in headers:
        assert lines[i - 3].startswith("Table: "), lines[i - 1]
        assert lines[i - 3].removeprefix("Table: ").strip(), lines[i - 1]
    assert page.count("<table>") == page.count("<caption>") == len(headers)


def test_figure_captions_are_words() -> None:
    from training.reports.run_report import FIGURE_CAPTIONS, figure_caption

    png = P.figure_png(P.importance_plot(["a", "b"], [0.2, 0.1]))
    with pytest.raises(ValueError, match="must be words, not a file name"):
        _context(figures={"feature_importance.png": png})
    assert figure_caption("km_by_subtype.png") == FIGURE_CAPTIONS["km_by_subtype.png"]
    assert figure_caption("residuals_by_site.png") == "Residuals by site"
    _, page = M.render_model_card(_context(figures={figure_caption("feature_importance.png"): png}))
    assert f"<figcaption>{FIGURE_CAPTIONS['feature_importance.png']}</figcaption>" in page


def test_subtype_sensitivity_to_a_missing_biomarker_is_one_block() -> None:
    md, page = M.render_model_card(_context(subtype_sensitivity={"lcn2": 0.125, "nfl": 0.3}))
    assert "Table: Subtype sensitivity to a missing biomarker (test patients)" in md
    assert "| LCN2 (plasma, serum and CSF) | 0.125 |" in md
    assert "| NfL (serum, plasma and CSF) | 0.300 |" in md
    assert "rests on LCN2, whose effects in humans are an unvalidated hypothesis" in md
    assert "Subtype sensitivity to a missing biomarker" in page
    plain, _ = M.render_model_card(_context())
    assert "Subtype sensitivity" not in plain  # not measured: no block
