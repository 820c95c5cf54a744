"""The number rules every report template uses, the shared figure helper, and the templates shipping with the
package."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from training.reports import document as D
from training.reports import figures as F
from training.reports import formatting as T


@pytest.mark.parametrize(("value", "text"), [
    (79.0, "79"), (79, "79"), (1500, "1,500"), (1.0, "1"), (np.float64(600.0), "600"), (np.int64(12), "12"),
    (0.71, "0.710"), (-0.0123, "-0.012"), (1234.56, "1,234.6"), (None, "\u2014"), (math.nan, "n/a"),
    (math.inf, "not reached"), (True, "yes"), ("abc", "abc"),
])
def test_number(value: object, text: str) -> None:
    assert T.number(value) == text


def test_intervals_and_estimates() -> None:
    assert T.interval(0.68, 0.74) == "0.680 to 0.740"
    assert T.interval(None, 0.74) == T.EM_DASH
    assert T.interval(math.nan, 0.74) == T.EM_DASH
    assert T.estimate(0.71, 0.68, 0.74) == "0.710 [0.680, 0.740]"
    assert T.estimate(0.71) == "0.710"
    assert T.estimate(None, 0.1, 0.2) == T.EM_DASH
    assert T.cell(T.Estimate(3.0, 1.0, 5.0)) == "3 [1, 5]"  # integers stay integers inside an interval too
    assert T.cell(T.Interval(0.1, 0.2)) == "0.100 to 0.200"
    assert T.signed(0.031) == "+0.031"
    assert T.signed(None) == T.EM_DASH


def test_markdown_escaping() -> None:
    assert T.md_escape("<b>|x|</b>\nnext") == r"\<b\>\|x\|\</b\> next"


def test_figure_helper_makes_an_inline_png() -> None:
    fig = F.new_figure(2.0, 2.0)
    fig.add_subplot().plot([0, 1], [0, 1])
    uri = F.png_data_uri(F.figure_png(fig, dpi=30))
    assert uri.startswith("data:image/png;base64,iVBORw0KGgo")
    with pytest.raises(ValueError, match="not a PNG"):
        F.png_data_uri(b"<svg/>")


def test_tables_need_a_title_and_figures_a_caption_in_words() -> None:
    with pytest.raises(ValueError, match="a table needs a title"):
        D.table(" ", ["a"], [[1]])
    png = F.figure_png(F.new_figure(1.0, 1.0), dpi=20)
    for name in ("km_by_subtype.png", "km_by_subtype", "calibration.PNG"):
        with pytest.raises(ValueError, match="must be words, not a file name"):
            D.Figure(name, png)
    assert D.Figure("Kaplan-Meier curves by subtype", png).uri.startswith("data:image/png;base64,")


def test_templates_ship_with_the_package() -> None:
    root = Path(D.__file__).parent / "templates"
    shipped = {p.name for p in root.iterdir()}
    assert {"report.css", "blocks.html", "page.html", "model_card.html", "model_card.md", "compare.html"} <= shipped
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert "reports/templates/*" in pyproject["tool"]["setuptools"]["package-data"]["training"]


def test_one_stylesheet_and_no_external_resources_in_it() -> None:
    css = (Path(D.__file__).parent / "templates" / "report.css").read_text()
    for external in ("url(", "@import", "@font-face"):
        assert external not in css
