"""What one scoring request does between parsing and responding: validate, score, encode, in input order."""

from __future__ import annotations

from typing import Any

import orjson

from features.candidates import CANDIDATE_ID, validate_candidates
from features.model.bundle import StratifierModel
from serving.encode import ResultEncoder


def score_rows(model: StratifierModel, encoder: ResultEncoder, rows: list[Any],
               ) -> tuple[list[bytes], dict[int, dict[str, str]]]:
    """Validate every row, score the valid ones in one vectorised call; one JSON object per row, in order.

    Parameters
    ----------
    model : StratifierModel
    encoder : ResultEncoder
        Built for ``model``.
    rows : list
        The request's candidates, as parsed (a :class:`features.candidates.ValidatedRows` is not checked again).

    Returns
    -------
    encoded : list of bytes
        One JSON object per input row: the result, or ``{"error": {field, message}}`` (with the row's
        ``candidate_id`` if it sent a text one) for a rejected row.
    errors : dict
        Input position -> ``{"field", "message"}`` of each rejected row.
    """
    batch = validate_candidates(rows)
    encoded: list[bytes] = [b""] * len(rows)
    if batch.values:
        arrays = model.predict_arrays(model.features.transform_records(batch.values, prevalidated=True))
        for i, piece in zip(batch.positions, encoder.rows(arrays, batch.client_ids), strict=True):
            encoded[i] = piece
    errors = {i: error.as_dict() for i, error in batch.errors.items()}
    for i, error in errors.items():
        entry: dict[str, Any] = {"error": error}
        row = rows[i]
        if isinstance(row, dict) and isinstance(row.get(CANDIDATE_ID), str):
            entry[CANDIDATE_ID] = row[CANDIDATE_ID]
        encoded[i] = orjson.dumps(entry)
    return encoded, errors
