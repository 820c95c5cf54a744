"""A trial design as the planner takes it (command line and HTTP alike): checked field by field, defaults filled.

Every problem names the field, the rule and the value, e.g. ``design.effect: must be > 0 and < 1, got 1.5``; an
unknown key is refused by name (a misspelt ``hazzard_ratio`` must not silently plan with the default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from features.errors import UserInputError

ENDPOINTS = ("slope", "survival")
ADJUSTMENTS = ("none", "prognostic")
DEFAULT_KEEP = (1.0, 0.75, 0.5)
MAX_FOLLOW_UP_MONTHS = 36.0
"""Longest follow-up the held-out calibration can speak for (its last horizon)."""
MIN_FOLLOW_UP_MONTHS = 1.0
MIN_HAZARD_RATIO, MAX_HAZARD_RATIO = 0.01, 100.0
MIN_ALPHA = 1e-6
MAX_POWER = 0.9999
"""Beyond these the normal quantiles behind every formula are not meaningful (and overflow near 0 and 1)."""
MAX_KEEP_FRACTIONS = 10


class DesignError(UserInputError):
    """A design field is missing its rule: ``field`` is its dotted name (``design.keep[1]``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Design:
    """What to plan for.

    Attributes
    ----------
    endpoint : {"slope", "survival"}
        ALSFRS-R slope (points/month) or time to death / tracheostomy / permanent ventilation.
    effect : float
        Slope endpoint: relative slowing of the enrolled population's mean decline; the treatment adds
        Delta = effect * |mean slope of the enrolled| points/month.
    hazard_ratio : float
        Survival endpoint: the treatment's hazard ratio on each patient's own hazard (conditional; see
        ``docs/trial-design.md`` for what the unadjusted analysis then sees).
    follow_up_months : float
        Survival endpoint: months of follow-up from the landmark (administrative censoring).
    alpha : float
        Two-sided significance level.
    power : float
        Target power.
    dropout : float
        Fraction of enrolled patients lost before their outcome; every count is inflated by 1 / (1 - dropout).
    keep : tuple of float
        Fractions of the pool to enrol (the fastest predicted decline / highest predicted risk), each in (0, 1].
    """

    endpoint: str = "slope"
    effect: float = 0.25
    hazard_ratio: float = 0.7
    follow_up_months: float = 12.0
    alpha: float = 0.05
    power: float = 0.8
    dropout: float = 0.1
    keep: tuple[float, ...] = DEFAULT_KEEP

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy (``keep`` as a list)."""
        out = asdict(self)
        out["keep"] = list(self.keep)
        return out


def _number(data: Mapping[str, Any], name: str, prefix: str, default: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DesignError(f"{prefix}{name}", f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise DesignError(f"{prefix}{name}", f"must be a finite number, got {value!r}")
    return float(value)


def _open(value: float, field: str, low: float, high: float) -> None:
    if not low < value < high:
        raise DesignError(field, f"must be > {low:g} and < {high:g}, got {value!r}")


def parse_design(data: Mapping[str, Any] | None, prefix: str = "design.") -> Design:
    """Check a design given as a mapping (HTTP body's ``design``, or the command line's options).

    Parameters
    ----------
    data : mapping or None
        Any subset of :class:`Design`'s fields; absent fields take the defaults.
    prefix : str
        Prefix of field names in error messages (``"design."`` over HTTP, ``"--"`` style names on the CLI).

    Raises
    ------
    DesignError
        Naming the first offending field, its rule and the value.
    """
    data = dict(data or {})
    known = set(Design.__dataclass_fields__)
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        raise DesignError(f"{prefix}{unknown[0]}", f"unknown field(s) {unknown}; allowed: {sorted(known)}")
    d = Design()
    endpoint = data.get("endpoint", d.endpoint)
    if endpoint not in ENDPOINTS:
        raise DesignError(f"{prefix}endpoint", f"must be one of {list(ENDPOINTS)}, got {endpoint!r}")
    effect = _number(data, "effect", prefix, d.effect)
    _open(effect, f"{prefix}effect", 0.0, 1.0)
    hr = _number(data, "hazard_ratio", prefix, d.hazard_ratio)
    if not MIN_HAZARD_RATIO <= hr <= MAX_HAZARD_RATIO or hr == 1:
        raise DesignError(f"{prefix}hazard_ratio", f"must be within [{MIN_HAZARD_RATIO:g}, {MAX_HAZARD_RATIO:g}] "
                          f"and != 1, got {hr!r}")
    follow_up = _number(data, "follow_up_months", prefix, d.follow_up_months)
    if not MIN_FOLLOW_UP_MONTHS <= follow_up <= MAX_FOLLOW_UP_MONTHS:
        raise DesignError(f"{prefix}follow_up_months", f"must be within [{MIN_FOLLOW_UP_MONTHS:g}, "
                          f"{MAX_FOLLOW_UP_MONTHS:g}] months, got {follow_up!r}")
    alpha = _number(data, "alpha", prefix, d.alpha)
    _open(alpha, f"{prefix}alpha", 0.0, 1.0)
    if alpha < MIN_ALPHA:
        raise DesignError(f"{prefix}alpha", f"must be >= {MIN_ALPHA:g}, got {alpha!r}")
    power = _number(data, "power", prefix, d.power)
    _open(power, f"{prefix}power", 0.0, 1.0)
    if power > MAX_POWER:
        raise DesignError(f"{prefix}power", f"must be <= {MAX_POWER:g}, got {power!r}")
    if power <= alpha:
        raise DesignError(f"{prefix}power", f"must be greater than alpha ({alpha!r}), got {power!r}")
    dropout = _number(data, "dropout", prefix, d.dropout)
    if not 0 <= dropout < 1:
        raise DesignError(f"{prefix}dropout", f"must be >= 0 and < 1, got {dropout!r}")
    keep_raw = data.get("keep", list(d.keep))
    if not isinstance(keep_raw, list | tuple) or not keep_raw:
        raise DesignError(f"{prefix}keep", f"must be a non-empty list of fractions, got {keep_raw!r}")
    if len(keep_raw) > MAX_KEEP_FRACTIONS:
        raise DesignError(f"{prefix}keep", f"at most {MAX_KEEP_FRACTIONS} fractions, got {len(keep_raw)}")
    keep: list[float] = []
    for i, value in enumerate(keep_raw):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise DesignError(f"{prefix}keep[{i}]", f"must be a number, got {value!r}")
        if not 0 < value <= 1:
            raise DesignError(f"{prefix}keep[{i}]", f"must be > 0 and <= 1, got {value!r}")
        if float(value) in keep:
            raise DesignError(f"{prefix}keep[{i}]", f"repeats {value!r}")
        keep.append(float(value))
    return Design(endpoint=str(endpoint), effect=effect, hazard_ratio=hr, follow_up_months=follow_up, alpha=alpha,
                  power=power, dropout=dropout, keep=tuple(keep))


def keep_label(fraction: float) -> str:
    """A keep fraction as it names columns and keys: ``1.0``, ``0.75``, ``0.5`` (Python's shortest repr)."""
    return repr(float(fraction))
