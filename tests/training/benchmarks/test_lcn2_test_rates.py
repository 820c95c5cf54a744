"""The LCN2 test-rate command's arguments: seed lists and ranges, and refusals with exit 2 (no fitting here)."""

from __future__ import annotations

import pytest

from training.benchmarks.lcn2_test_rates import main, parse_seeds, rates


def test_seed_lists_and_ranges() -> None:
    assert parse_seeds("1,2,5-8") == [1, 2, 5, 6, 7, 8]
    with pytest.raises(ValueError, match="seeds must be integers or ranges a-b, got 'x'"):
        parse_seeds("1,x")
    with pytest.raises(ValueError, match="seed range must ascend, got '9-3'"):
        parse_seeds("9-3")


@pytest.mark.parametrize(("args", "message"), [
    (["--null-seeds", "1,x", "--default-seeds", "2"], "seeds must be integers or ranges a-b, got 'x'"),
    (["--null-seeds", "1", "--default-seeds", "2", "--n-patients", "50"], "--n-patients must be >= 200"),
    (["--null-seeds", "1", "--default-seeds", "2", "--folds", "1"], "lcn2_test.folds"),
])
def test_bad_arguments_exit_2_naming_the_problem(args: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_rates_count_each_decision() -> None:
    rows = [{"cindex_adds_value": True, "slope_adds_value": False, "adds_value": True},
            {"cindex_adds_value": False, "slope_adds_value": False, "adds_value": False}]
    assert rates(rows) == {"cindex_adds_value": 0.5, "slope_adds_value": 0.0, "adds_value": 0.5}
