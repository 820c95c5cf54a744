"""Subtypes keep their labels and names across versions: train, promote, train again on another seed.

Two small runs in a private store (the audit tests' small configuration): the first is promoted, the second is
matched to it at training time. Where the profiles match (the champion puts most of a new subtype's patients in
its partner), the second run's subtype carries the champion's label and name; ``alsstrat runs compare`` prints the
agreement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.stores import private_home
from training.cli.app import app

pytestmark = [pytest.mark.slow, pytest.mark.mlflow]

SMALL = {"subtype": {"k_max": 3, "n_bootstrap": 2, "n_init": 2}, "tuning": {"n_trials": 0},
         "evaluation": {"n_bootstrap": 50}, "split": {"cv_folds": 3}, "lcn2_ablation": False}


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from threadpoolctl import threadpool_limits

    from features.model.pyfunc import load_stratifier
    from training.config import TrainConfig
    from training.fit.train import run_training

    with private_home(tmp_path_factory.mktemp("alsstrat-match")), threadpool_limits(1):
        first = run_training(TrainConfig.model_validate({**SMALL, "data": {"simulate": {"n_patients": 400,
                                                                                        "seed": 11}}}))
        promoted = CliRunner().invoke(app, ["promote", first.model_version, "--approver", "Dr Ada",
                                            "--reason", "first validated model"])
        assert promoted.exit_code == 0, promoted.output
        second = run_training(TrainConfig.model_validate({**SMALL, "data": {"simulate": {"n_patients": 400,
                                                                                         "seed": 12}}}))
        compared = CliRunner().invoke(app, ["runs", "compare", first.run_id, second.run_id, "--n-bootstrap", "50"])
        yield {"first": first, "second": second, "compare": compared,
               "model_1": load_stratifier(f"models:/als-stratifier/{first.model_version}").model,
               "model_2": load_stratifier(f"models:/als-stratifier/{second.model_version}").model}


def test_the_first_version_has_no_champion_to_match(two_versions: dict[str, Any]) -> None:
    assert "subtype_champion_agreement" not in two_versions["first"].metrics
    assert "subtype_champion_match" not in two_versions["model_1"].metadata


def test_matched_subtypes_carry_the_champions_labels_and_names(two_versions: dict[str, Any]) -> None:
    import mlflow

    second, m1, m2 = two_versions["second"], two_versions["model_1"], two_versions["model_2"]
    match = m2.metadata["subtype_champion_match"]
    assert match["champion_version"] == two_versions["first"].model_version
    tags = mlflow.get_run(second.run_id).data.tags
    assert tags["subtype_champion_version"] == match["champion_version"]
    assert json.loads(tags["subtype_label_map"]) == match["label_map"]
    old = {s.label: s for s in m1.subtype.subtypes}
    matched = {int(j): int(label) for j, label in match["matched"].items()}
    assert matched, f"no subtype matched the champion's: {match}"
    assert second.metrics["subtype_champion_matched"] == len(matched)
    for j, s in enumerate(m2.subtype.subtypes):
        assert s.label == match["label_map"][str(j)]
        if j in matched:
            # the profiles match: the champion put most of this subtype's training patients in its partner
            assert match["overlap"][str(j)] >= 0.5
            assert s.label == matched[j]
            assert s.name == old[s.label].name
        else:  # a new subtype: a label the champion never used, and its own name
            assert s.label not in old
            assert s.name not in {o.name for o in old.values()}
    assert 0.0 <= second.metrics["subtype_champion_agreement"] <= 1.0
    # the agreement is on the new run's test patients: labels that carry over make "same label" meaningful
    assert second.metrics["subtype_champion_agreement"] >= 0.5


def test_runs_compare_prints_the_agreement(two_versions: dict[str, Any]) -> None:
    result, second = two_versions["compare"], two_versions["second"]
    assert result.exit_code == 0, result.output
    agreement = second.metrics["subtype_champion_agreement"]
    expected = (f"run B's subtypes were matched to champion version {two_versions['first'].model_version} when "
                f"trained: {int(second.metrics['subtype_champion_matched'])} of "
                f"{len(two_versions['model_2'].subtype.subtypes)} kept the champion's label and name; both models put "
                f"{100 * agreement:.0f} % of its test patients in the same subtype")
    assert expected in " ".join(result.output.split())
