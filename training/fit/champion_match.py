"""Subtypes that keep their labels and names across versions: a new model's subtypes matched to the champion's.

When a champion exists, the new mixture's subtypes are matched to the champion's by the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``) on co-assignment: both models label the new run's *training* patients,
and the matching maximises the number of patients put in matched subtypes. A pair is kept only when the champion
puts at least :data:`MIN_OVERLAP` of the new subtype's training patients in its partner (the profiles match); a
kept subtype takes the champion's label and name, any other gets a new label (above every champion label) and its
own name. The agreement is then measured on the new run's *test* patients scored by both models: the share
assigned to the same label, and the adjusted Rand index.

The mapping and the agreement are logged with the run (metrics ``subtype_champion_agreement``,
``subtype_champion_ari``, ``subtype_champion_matched``; tags ``subtype_champion_version`` and
``subtype_label_map``), shown by ``alsstrat runs compare`` and by the promotion gate.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from features import spec as S

if TYPE_CHECKING:
    from features.model.bundle import StratifierModel, SubtypeComponent

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

MIN_OVERLAP = 0.5
"""Smallest share of a new subtype's training patients the champion must assign to its Hungarian partner for the
pair to count as the same subtype (a majority: otherwise the profiles do not match and a new label is given)."""


@dataclass(frozen=True)
class Champion:
    """The current champion: its registry version and its loaded bundle."""

    version: str
    model: StratifierModel


@dataclass(frozen=True)
class ChampionMatch:
    """How a new run's subtypes map onto the champion's, and how often the two models agree."""

    champion_version: str
    label_map: dict[int, int]
    """New component index -> the label it carries (the champion's label when matched, a new one otherwise)."""
    matched: dict[int, int]
    """New component index -> champion label, for the matched pairs only."""
    overlap: dict[int, float]
    """New component index -> share of its training patients the champion assigns to its partner."""
    agreement: float
    """Share (0-1) of the new run's test patients that both models assign to the same label."""
    ari: float
    """Adjusted Rand index between the two models' test assignments."""

    def metrics(self) -> dict[str, float]:
        return {"subtype_champion_agreement": self.agreement, "subtype_champion_ari": self.ari,
                "subtype_champion_matched": float(len(self.matched))}

    def to_dict(self) -> dict[str, Any]:
        return {"champion_version": self.champion_version,
                "label_map": {str(k): v for k, v in self.label_map.items()},
                "matched": {str(k): v for k, v in self.matched.items()},
                "overlap": {str(k): round(v, 4) for k, v in self.overlap.items()},
                "agreement": self.agreement, "ari": self.ari}


def load_champion(model_name: str) -> Champion | None:
    """The registered champion of ``model_name`` with its bundle, or None when there is none or it cannot be
    scored by this code (another feature spec): then the new run's labels are its own, and the log says why."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from features.model.pyfunc import IncompatibleModelError, load_stratifier
    from features.project import CHAMPION_ALIAS

    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None
    uri = f"models:/{model_name}/{version.version}"
    try:
        loaded = load_stratifier(uri)
    except IncompatibleModelError as exc:
        logger.warning("champion %s not used for subtype matching: %s", uri, exc)
        return None
    return Champion(version=str(version.version), model=loaded.model)


def incompatibility(champion: Champion, *, alsfrs_scale: int, landmark: str) -> str | None:
    """Why the champion cannot label this run's patients (another ALSFRS scale or landmark), or None."""
    meta = champion.model.metadata
    if int(meta.get("alsfrs_scale", 48)) != int(alsfrs_scale):
        return f"champion version {champion.version} is on the 0-{meta.get('alsfrs_scale')} ALSFRS scale, this " \
               f"cohort on 0-{alsfrs_scale}"
    if champion.model.landmark.name != landmark:
        return f"champion version {champion.version} predicts at the {champion.model.landmark.name} landmark, this " \
               f"run at {landmark}"
    return None


def _assign(component: SubtypeComponent, z: np.ndarray) -> np.ndarray:
    """Component index (not label) of each row."""
    return np.asarray(np.argmax(component.probabilities(z), axis=1))


def _champion_labels(champion: StratifierModel, table: pd.DataFrame) -> np.ndarray:
    z = champion.features.transform(table[list(S.BASELINE_NAMES)])
    return np.asarray(champion.predict_arrays(z)["chosen"]).astype(int)


def match_to_champion(component: SubtypeComponent, champion: Champion, z_train: np.ndarray, train: pd.DataFrame,
                      z_test: np.ndarray, test: pd.DataFrame) -> tuple[SubtypeComponent, ChampionMatch]:
    """Relabel and rename the new subtypes after the champion's where they match.

    Parameters
    ----------
    component : SubtypeComponent
        The new run's fitted subtype model (labels = component indices).
    champion : Champion
        The current champion.
    z_train, z_test : ndarray
        The new run's derived features of its training and test patients.
    train, test : DataFrame
        The same patients' cohort rows (the champion derives its own features from them).

    Returns
    -------
    (SubtypeComponent, ChampionMatch)
        The component with carried-over labels and names (new subtypes keep their own names), and the match.
    """
    new_train = _assign(component, z_train)
    old_train = _champion_labels(champion.model, train)
    k = len(component.subtypes)
    old_labels = sorted({s.label for s in champion.model.subtype.subtypes})
    counts = pd.crosstab(pd.Series(new_train), pd.Series(old_train)).reindex(index=range(k), columns=old_labels,
                                                                               fill_value=0)
    rows, cols = linear_sum_assignment(-counts.to_numpy())
    sizes = np.bincount(new_train, minlength=k)
    matched: dict[int, int] = {}
    overlap: dict[int, float] = {}
    for r, c in zip(rows, cols, strict=True):
        share = float(counts.iat[r, c] / sizes[r]) if sizes[r] else 0.0
        overlap[int(r)] = share
        if share >= MIN_OVERLAP:
            matched[int(r)] = int(old_labels[c])
    next_label = max(old_labels, default=-1) + 1
    label_map: dict[int, int] = {}
    for j in range(k):
        if j in matched:
            label_map[j] = matched[j]
        else:
            label_map[j] = next_label
            next_label += 1
    old_names = {s.label: s.name for s in champion.model.subtype.subtypes}
    subtypes = []
    for j, s in enumerate(component.subtypes):
        name = old_names[matched[j]] if j in matched else s.name
        subtypes.append(replace(s, label=label_map[j], name=name))
    carried = {s.name for j, s in enumerate(subtypes) if j in matched}
    for j, s in enumerate(subtypes):  # a new subtype never takes a carried name
        if j not in matched and s.name in carried:
            subtypes[j] = replace(s, name=f"{s.name} [new {s.label}]")
    relabelled = replace(component, subtypes=subtypes)
    labels = np.array([label_map[j] for j in range(k)])
    new_test = labels[_assign(component, z_test)]
    old_test = _champion_labels(champion.model, test)
    agreement = float(np.mean(new_test == old_test)) if len(test) else float("nan")
    ari = float(adjusted_rand_score(old_test, new_test)) if len(test) else float("nan")
    return relabelled, ChampionMatch(champion_version=champion.version, label_map=label_map, matched=matched,
                                     overlap=overlap, agreement=agreement, ari=ari)


def champion_tags(metadata: dict[str, Any]) -> dict[str, str]:
    """Run tags of the champion match recorded in a bundle's metadata (none without a champion)."""
    match = metadata.get("subtype_champion_match")
    if not match:
        return {}
    return {"subtype_champion_version": str(match["champion_version"]),
            "subtype_label_map": json.dumps(match["label_map"], sort_keys=True)}
