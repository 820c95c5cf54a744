"""The comparison report page: verdict and contents at the top, titled tables, the multiple-comparisons note, and a
page that loads nothing from elsewhere. Built from a hand-made comparison dict (the shape of ``compare_runs``), so
no model is trained here; the end-to-end report is checked in tests/training/audit."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from training.reports import compare_html as C


def _paired(metric: str, better: str, a: float, b: float, low: float, high: float) -> dict[str, Any]:
    return {"metric": metric, "better": better, "a": a, "b": b, "difference": b - a, "low": low, "high": high,
            "n_valid_resamples": 20}


def _report(*, common: bool = True) -> dict[str, Any]:
    rows = [_paired("survival_cindex", "higher", 0.70, 0.74, 0.01, 0.07),
            _paired("slope_rmse", "lower", 0.60, 0.65, 0.01, 0.09),
            _paired("slope_interval_coverage_80", "closer to 0.8", 0.78, 0.79, -0.02, 0.04)]
    subgroups = [{"metric": "slope_rmse", "factor": "sex", "group": g, "better": "lower", "n": 79.0, "a": 0.6,
                  "b": 0.62, "difference": 0.02, "low": lo, "high": hi}
                 for g, lo, hi in (("male", -0.05, 0.09), ("female", 0.01, 0.04), ("missing", -0.1, 0.1),
                                   ("other", -0.2, 0.3))]
    run = {"run_id": "r" * 32, "experiment": "alsstrat", "run_name": "train-native", "start_utc": "2026-01-01",
           "data_hash": "d" * 64, "source": "native", "n_patients": 600.0, "git_commit": "c" * 40,
           "versions": [{"version": "1", "aliases": ["champion"]}]}
    return {
        "generated_utc": "2026-12-02T09:00:00Z", "confidence": 0.95, "n_bootstrap": 200,
        "runs": {"a": run, "b": {**run, "run_id": "s" * 32, "versions": []}},
        "differences": ["data: identical content hash", "configuration: 1 key(s) differ (seed)"],
        "data": {"hash_same": True, "rows": [{"item": "n test with slope", "a": 79.0, "b": 79.0, "differs": False}],
                 "rebuilt": {"a": "from the logged config", "b": "from the logged config"},
                 "shift": {"available": False, "reason": "same data: no shift", "features": []}},
        "code": {"rows": [{"item": "git commit", "a": "c", "b": "c", "differs": False}], "packages_differing": [],
                 "n_packages_same": 120},
        "config": {"differing": [{"key": "seed", "a": 1, "b": 2}], "n_same": 40},
        "metrics": {
            "own_test": {t: {"available": True, "n_patients": 120.0, "reason": "rebuilt", "matches_logged": True,
                             "mismatched": []} for t in "ab"},
            "rows": [{"metric": "test_survival_cindex", "better": "higher", "a": 0.7, "a_low": 0.65, "a_high": 0.75,
                      "b": 0.74, "b_low": None, "b_high": None, "differs": True}],
            "common": ({"available": True, "description": "named cohort", "n_patients": 300, "n_with_slope": 150,
                        "n_with_followup": 290, "n_events": 100, "rows": rows} if common else
                       {"available": False, "reason": "not available: different data and no --on", "rows": []})},
        "subgroups": {"logged": [], "common": subgroups if common else [], "min_size": 20},
        "calibration": {"basis": "both models on the common cohort", "slope": {}, "survival_24m": {}},
        "models": {"importance": {"slope": [], "survival": []}, "subtypes": {"a": [], "b": []},
                   "agreement_reason": "not available"},
        "lineage": {t: {"versions": [], "history": []} for t in "ab"},
    }


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.h2: list[str] = []
        self.tables = 0
        self.captions: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)
        self.tables += tag == "table"
        self.sources += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] == "h2":
            self.h2.append(data)
        elif self.stack and self.stack[-1] == "caption" and data.strip():
            self.captions.append(data)


def test_page_has_every_section_a_caption_per_table_and_no_external_resource() -> None:
    page = _Page()
    page.feed(C.render_html(_report()))
    assert page.h2 == list(C.SECTIONS)
    assert page.tables >= 5
    assert len(page.captions) == page.tables
    assert all(s.startswith("data:") for s in page.sources)


def test_verdict_and_contents_come_first() -> None:
    html = C.render_html(_report())
    verdict = html.index('<p class="verdict">')
    assert verdict < html.index('<nav class="toc"') < html.index("<h2>What differs</h2>")
    contents = html[html.index('<nav class="toc"'):html.index("</nav>")]
    assert re.findall(r"<li>(.*?)</li>", contents) == list(C.SECTIONS)


def test_verdict_counts_better_and_worse_metrics_by_direction() -> None:
    text = C.verdict(_report())
    # C-index up with CI > 0: B better; RMSE up with CI > 0: B worse; coverage CI includes 0: no clear difference.
    assert "run B is better on 1 of 3 metrics and worse on 1" in text
    assert "the other 1 show no clear difference" in text
    assert "Neither run is better on every metric" in text
    assert text.startswith("The runs used the same data, the same code and 1 differing configuration key(s).")
    assert "no paired comparison" in C.verdict(_report(common=False))


def test_subgroup_table_carries_a_multiple_comparisons_note() -> None:
    html = C.render_html(_report())
    assert ("4 subgroup rows were compared, each with its own 95 % interval and no correction for multiple "
            "comparisons") in html
    assert "about 1 in 20 (here about 0.2 rows) is expected to exclude 0 by chance. 1 row does" in html
    assert "Paired subgroup differences B − A on the common cohort" in html


@pytest.mark.parametrize(("n", "k", "expected"), [(20, 0, "about 1.0 rows"), (40, 3, "3 rows do")])
def test_multiple_comparisons_note_scales_with_rows(n: int, k: int, expected: str) -> None:
    assert expected in C.multiple_comparisons_note(n, k)


def test_numbers_follow_the_formatting_rules() -> None:
    html = C.render_html(_report())
    for float_count in ("79.0", "600.0", "120.0"):
        assert float_count not in html
    assert '<td class="num">79</td>' in html or "<td>79</td>" in html  # a count logged as a float
    assert "0.700 [0.650, 0.750]" in html  # estimate [low, high]
    assert "0.040 [0.010, 0.070]" in html  # a paired difference with its interval
    assert "0.740</td>" in html  # run B's metric without an interval: the estimate alone


def test_sample_size_warnings_and_small_subgroups_are_flagged() -> None:
    report = _report()
    warning = "Warning: only 3.0 training events per predictor (96 events, 32 model inputs), below the usual minimum"
    report["runs"]["b"] = {**report["runs"]["b"], "warnings": [warning]}
    report["subgroups"]["common"][0]["n"] = 24.0
    page = C.render_html(report)
    assert f'<p class="strong">Run B: {warning}' in page
    assert "Run A: Warning" not in page
    assert "small: n = 24 &lt; 30, interpret with caution" in page
    assert page.count("<td>n &gt;= 30</td>") == 3, "the other three common subgroup rows (n = 79)"
