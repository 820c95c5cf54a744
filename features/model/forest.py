"""XGBoost tree ensembles as flat numpy arrays: the small-batch prediction path of the served model.

XGBoost predicts a thousand rows in a few milliseconds, but every call costs 0.1-0.3 ms of fixed overhead (DMatrix
construction, argument checks, ctypes), which dominates when a trial team scores one candidate. A
:class:`CompiledForest` holds the trees of one or more boosters as arrays and walks all trees of all boosters for
a few rows at once, one depth level per numpy step, so a single candidate costs tens of microseconds.

It reproduces XGBoost's own arithmetic: features are compared as float32 (as in a DMatrix) with ``x < split``
going left and missing values following ``default_left``; leaf values are summed onto the booster's base margin;
contributions are XGBoost's ``approx_contribs`` (Saabas): along the decision path, each split's feature is
credited with the change in the node mean value (cover-weighted mean of the leaves below). Tests check it against
XGBoost on every output. Only numerical splits of ``gbtree`` boosters are supported; anything else is refused at
compile time, and the caller keeps XGBoost's path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import xgboost as xgb


class UnsupportedBooster(ValueError):
    """The booster uses a feature this compiler does not reproduce (categorical splits, dart, linear...)."""


@dataclass(frozen=True)
class CompiledForest:
    """The trees of several boosters as flat arrays (node indices are global across all trees).

    Attributes
    ----------
    feature, threshold, default_left : ndarray
        Split feature index, float32 split threshold and missing-value direction of every node.
    left, right : ndarray of int64
        Global child indices; a leaf points to itself on both sides, so walking past it is a no-op.
    leaf_value : ndarray of float64
        Value of each leaf node (0 for internal nodes).
    mean_value : ndarray of float64
        Cover-weighted mean of the leaf values below each node (what ``approx_contribs`` credits).
    roots : ndarray of int64
        Root node of each tree.
    output : ndarray of int64
        Output column of each tree (one column per booster output; a multi-quantile booster has several).
    base_margin : ndarray of float64
        Margin of each output before any tree (XGBoost's base score in margin space).
    explained : ndarray of bool
        Trees whose path contributions :meth:`predict` returns (one booster's trees, or none).
    depth : int
        Number of levels to walk (the deepest tree).
    n_features : int
    """

    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf_value: np.ndarray
    mean_value: np.ndarray
    roots: np.ndarray
    output: np.ndarray
    base_margin: np.ndarray
    explained: np.ndarray
    depth: int
    n_features: int

    @property
    def n_outputs(self) -> int:
        return int(self.base_margin.shape[0])

    @cached_property
    def output_indicator(self) -> np.ndarray:
        """(n_trees, n_outputs) 0/1 matrix: which output each tree adds to."""
        return np.eye(self.n_outputs)[self.output]

    @cached_property
    def explained_bias(self) -> float:
        """Bias column of the contributions: the explained output's base margin plus its trees' root means."""
        output = int(self.output[self.explained][0])
        return float(self.base_margin[output] + self.mean_value[self.roots[self.explained]].sum())

    @classmethod
    def from_boosters(cls, boosters: Sequence[xgb.Booster], *, explain: int | None = None) -> CompiledForest:
        """Compile boosters into one forest; their outputs become consecutive margin columns.

        Parameters
        ----------
        boosters : sequence of xgboost.Booster
            Tree boosters (``gbtree``) with numerical splits only, all on the same feature matrix.
        explain : int, optional
            Position in ``boosters`` of the (single-output) booster whose path contributions to return.

        Raises
        ------
        UnsupportedBooster
            For a booster this module cannot reproduce exactly.
        """
        parts: dict[str, list[np.ndarray]] = {k: [] for k in (
            "feature", "threshold", "default_left", "left", "right", "leaf_value", "mean_value", "roots",
            "output", "explained")}
        bases: list[np.ndarray] = []
        offset, first_output, depth, n_features = 0, 0, 0, None
        for position, booster in enumerate(boosters):
            learner = json.loads(booster.save_raw("json"))["learner"]
            gbm = learner["gradient_booster"]
            if gbm.get("name") != "gbtree":
                raise UnsupportedBooster(f"booster {position} is {gbm.get('name')!r}; only gbtree is compiled")
            n_out = max(1, int(learner["learner_model_param"]["num_target"]),
                        int(learner["learner_model_param"]["num_class"]))
            if explain == position and n_out != 1:
                raise UnsupportedBooster("contributions are compiled for a single-output booster only")
            features = int(learner["learner_model_param"]["num_feature"])
            if n_features is not None and features != n_features:
                raise UnsupportedBooster(f"booster {position} has {features} features, not {n_features}")
            n_features = features
            trees = gbm["model"]["trees"]
            groups = gbm["model"]["tree_info"]
            for tree, group in zip(trees, groups, strict=True):
                if any(tree["split_type"]) or tree["categories"]:
                    raise UnsupportedBooster(f"booster {position} has categorical splits")
                left = np.asarray(tree["left_children"], dtype=np.int64)
                right = np.asarray(tree["right_children"], dtype=np.int64)
                is_leaf = left < 0
                nodes = np.arange(len(left), dtype=np.int64)
                cond = np.asarray(tree["split_conditions"], dtype=np.float64)
                parts["feature"].append(np.where(is_leaf, 0, np.asarray(tree["split_indices"], dtype=np.int64)))
                parts["threshold"].append(cond.astype(np.float32))
                parts["default_left"].append(np.asarray(tree["default_left"], dtype=bool))
                parts["left"].append(np.where(is_leaf, nodes, left) + offset)
                parts["right"].append(np.where(is_leaf, nodes, right) + offset)
                parts["leaf_value"].append(np.where(is_leaf, cond.astype(np.float32).astype(np.float64), 0.0))
                parts["mean_value"].append(_node_means(left, right, cond, tree["sum_hessian"]))
                parts["roots"].append(np.array([offset], dtype=np.int64))
                parts["output"].append(np.array([first_output + int(group)], dtype=np.int64))
                parts["explained"].append(np.array([explain == position]))
                depth = max(depth, _depth(left, right))
                offset += len(left)
            bases.append(_base_margin(booster, n_out, features, trees, groups))
            first_output += n_out
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        return cls(**arrays, base_margin=np.concatenate(bases), depth=depth, n_features=int(n_features or 0))

    def predict(self, x: np.ndarray, *, contributions: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Margins of every output and the explained booster's feature contributions.

        Parameters
        ----------
        x : ndarray of shape (n_rows, n_features)
            Feature matrix; NaN = missing. Compared as float32, as XGBoost does.

        Returns
        -------
        margins : ndarray of shape (n_rows, n_outputs), float64
        contributions : ndarray of shape (n_rows, n_features + 1) or None
            Per-feature contributions to the explained output, the last column the bias (base margin plus the
            root mean values), so each row sums to that output's margin; None when nothing is explained or
            ``contributions`` is False.
        """
        x32 = np.asarray(x, dtype=np.float32)
        n = x32.shape[0]
        rows = np.arange(n)[:, None]
        node = np.broadcast_to(self.roots, (n, self.roots.shape[0]))
        explain = contributions and bool(self.explained.any())
        if explain:
            explained = self.explained[None, :]
            keys: list[np.ndarray] = []
            deltas: list[np.ndarray] = []
        for _ in range(self.depth):
            value = x32[rows, self.feature[node]]
            go_left = np.where(np.isnan(value), self.default_left[node], value < self.threshold[node])
            child = np.where(go_left, self.left[node], self.right[node])
            if explain:
                # a step from a leaf to itself credits nothing: its delta is zero
                delta = np.where(explained, self.mean_value[child] - self.mean_value[node], 0.0)
                keys.append(rows * (self.n_features + 1) + self.feature[node])
                deltas.append(delta)
            node = child
        # (n, trees) @ (trees, outputs) indicator: each output sums the leaves of its own trees
        margins = self.leaf_value[node] @ self.output_indicator + self.base_margin
        if not explain:
            return margins, None
        out = np.bincount(np.concatenate([k.ravel() for k in keys]), weights=np.concatenate(
            [d.ravel() for d in deltas]), minlength=n * (self.n_features + 1)).reshape(n, self.n_features + 1)
        out[:, -1] = self.explained_bias
        return margins, out


def _node_means(left: np.ndarray, right: np.ndarray, cond: np.ndarray, hessian: Sequence[float]) -> np.ndarray:
    """XGBoost's FillNodeMeanValues: leaf value at leaves, children's hessian-weighted mean above (float32)."""
    cover = np.asarray(hessian, dtype=np.float32)
    means = np.zeros(len(left), dtype=np.float32)

    def fill(i: int) -> np.float32:
        if left[i] < 0:
            means[i] = np.float32(cond[i])
        else:
            a, b = int(left[i]), int(right[i])
            means[i] = (fill(a) * cover[a] + fill(b) * cover[b]) / cover[i]
        return means[i]

    fill(0)
    return means.astype(np.float64)


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    def walk(i: int) -> int:
        return 0 if left[i] < 0 else 1 + max(walk(int(left[i])), walk(int(right[i])))

    return walk(0)


def _base_margin(booster: xgb.Booster, n_out: int, n_features: int, trees: list[dict[str, Any]],
                 groups: list[int]) -> np.ndarray:
    """The margin before any tree, read off XGBoost itself: its margin on an all-missing row minus the leaves.

    Reading it back rather than re-deriving it from ``base_score`` keeps this exact for every objective's link.
    """
    probe = np.full((1, n_features), np.nan, dtype=np.float32)
    margin = np.asarray(booster.predict(xgb.DMatrix(probe, missing=np.nan), output_margin=True),
                        dtype=np.float64).reshape(n_out)
    leaves = np.zeros(n_out)
    for tree, group in zip(trees, groups, strict=True):
        left, right = tree["left_children"], tree["right_children"]
        default_left, cond = tree["default_left"], tree["split_conditions"]
        i = 0
        while left[i] >= 0:
            i = left[i] if default_left[i] else right[i]
        leaves[int(group)] += float(np.float32(cond[i]))
    return margin - leaves
