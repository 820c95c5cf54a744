"""What ``GET /model`` reports: the served version, its provenance, key metrics, subtypes and the feature spec."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from features import spec as S
from features.project import MODEL_NAME

if TYPE_CHECKING:
    from features.model.pyfunc import LoadedModel
    from serving.config import ServiceSettings

KEY_METRICS = ("test_slope_rmse", "baseline_slope_rmse", "test_slope_interval_coverage_80", "test_survival_cindex",
               "baseline_survival_cindex", "test_survival_ibs", "lcn2_added_cindex", "lcn2_added_cindex_ci_low",
               "lcn2_added_cindex_ci_high")


def _finite(value: Any) -> Any:
    return value if not isinstance(value, float) or math.isfinite(value) else None


def feature_spec(landmark: S.Landmark | None = None) -> list[dict[str, Any]]:
    """The candidate fields usable at ``landmark`` (default: every baseline field) with units, bounds, categories and
    whether scoring requires them."""
    fields = S.BASELINE_FIELDS if landmark is None else landmark.fields
    return [{"name": f.name, "type": f.kind, "unit": f.unit, "minimum": f.lower, "maximum": f.upper,
             "categories": list(f.categories) if f.categories else None, "required": f.required_for_scoring,
             "description": f.description} for f in fields]


def model_metadata(loaded: LoadedModel, settings: ServiceSettings) -> dict[str, Any]:
    meta = loaded.model.metadata
    metrics = meta.get("metrics", {})
    return {
        "name": loaded.name or meta.get("model_name", MODEL_NAME),
        "version": loaded.version or loaded.model.model_version,
        "run_id": loaded.run_id,
        "model_uri": settings.model_uri,
        "model": {"name": loaded.name or meta.get("model_name", MODEL_NAME),
                  "version": loaded.version or loaded.model.model_version, "run_id": loaded.run_id},
        "training_data_hash": meta.get("data_hash"),
        "training_source": meta.get("source"),
        "spec_hash": meta.get("spec_hash"),
        "alsfrs_scale": meta.get("alsfrs_scale"),
        "landmark": {"name": loaded.model.landmark.name, "day": loaded.model.landmark.day,
                     "description": loaded.model.landmark.description},
        "time_origin": loaded.model.time_origin,
        "biomarkers_measured": list(meta.get("biomarkers_measured", [])),
        "biomarkers_measured_text": "biomarkers measured: " + (", ".join(meta.get("biomarkers_measured", []))
                                                               or "none"),
        "subtype_features": list(meta.get("subtype_features", [])),
        "lcn2_ablation": meta.get("lcn2_ablation"),
        "metrics": {k: _finite(metrics[k]) for k in KEY_METRICS if k in metrics},
        "subtypes": [{"label": s.label, "name": s.name, "description": s.description}
                     for s in loaded.model.subtype.subtypes],
        "feature_spec": feature_spec(loaded.model.landmark),
        "max_batch": settings.max_batch,
        "lcn2_note": "LCN2 effects in humans are unvalidated hypotheses; see the model card.",
    }
