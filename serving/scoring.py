"""What one scoring request does between parsing and responding: validate, score, encode, in input order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from features.candidates import CANDIDATE_ID, MAX_ID_CHARS, validate_candidates
from features.model.bundle import StratifierModel
from serving.encode import ResultEncoder


@dataclass(frozen=True)
class ScoredRows:
    """The outcome of :func:`score_rows`.

    Attributes
    ----------
    encoded : list of bytes
        One JSON object per input row: the result, or ``{"error": {field, message}}`` (with the row's
        ``candidate_id`` if it sent a text one, cut to :data:`features.candidates.MAX_ID_CHARS` characters) for a
        rejected row.
    errors : dict
        Input position -> ``{"field", "message"}`` of each rejected row.
    ids : list of str
        Every text ``candidate_id`` the request sent, scored or rejected, in input order. Taken from the
        validation result rather than from the request rows, because the fast path hands the request's own dicts
        to validation, which moves ``candidate_id`` out of them.
    """

    encoded: list[bytes]
    errors: dict[int, dict[str, str]]
    ids: list[str]


def score_rows(model: StratifierModel, encoder: ResultEncoder, rows: list[Any]) -> ScoredRows:
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
    ScoredRows
    """
    batch = validate_candidates(rows, model.landmark.name)
    encoded: list[bytes] = [b""] * len(rows)
    ids_at: dict[int, str] = {i: cid for i, cid in zip(batch.positions, batch.client_ids, strict=True)
                              if isinstance(cid, str)}
    if batch.values:
        arrays = model.predict_arrays(model.features.transform_records(batch.values, prevalidated=True))
        for i, piece in zip(batch.positions, encoder.rows(arrays, batch.client_ids), strict=True):
            encoded[i] = piece
    errors = {i: error.as_dict() for i, error in batch.errors.items()}
    for i, error in errors.items():
        entry: dict[str, Any] = {"error": error}
        row = rows[i]
        if isinstance(row, dict) and isinstance(row.get(CANDIDATE_ID), str):
            # A rejected id may be of any length (that can be why it was rejected): echo a bounded prefix only.
            entry[CANDIDATE_ID] = row[CANDIDATE_ID][:MAX_ID_CHARS]
            ids_at[i] = row[CANDIDATE_ID]
        encoded[i] = orjson.dumps(entry)
    ids = [ids_at[i] for i in sorted(ids_at)] if errors else [ids_at[i] for i in batch.positions if i in ids_at]
    return ScoredRows(encoded, errors, ids)
