"""How numbers read in every report: one set of rules, used by the templates as Jinja filters.

The rules, so that a model card and a comparison report never print the same quantity two ways:

- counts and every other whole number print as integers with thousands separators (``1,500``), never ``79.0000``:
  MLflow stores every metric as a float, so a patient count comes back as ``79.0``;
- other numbers (metrics, probabilities, shares) print with :data:`DIGITS` decimals, the precision every report
  states in its header;
- an interval in its own column reads ``lo to hi``; an estimate with its interval in one cell reads ``x [lo, hi]``;
- a missing value (``None``: not recorded, not computed) is an em dash; ``NaN`` (computed but undefined, e.g. a
  subgroup too small to evaluate) is ``n/a``; ``+inf`` (e.g. a Kaplan–Meier median never reached) is
  ``not reached``.

Nothing here knows about HTML or Markdown except :func:`md_escape`, the Markdown template's escaping filter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DIGITS = 3
"""Decimals of every non-integer number in the reports."""

EM_DASH = "\u2014"
"""What a missing value prints as."""

NOT_EVALUATED = "n/a"
"""What an undefined value (NaN) prints as."""

_MD_SPECIAL = "\\`*[]<>|#"


@dataclass(frozen=True)
class Interval:
    """A confidence interval shown on its own (``lo to hi``)."""

    low: float | None
    high: float | None


@dataclass(frozen=True)
class Estimate:
    """An estimate with its confidence interval, shown in one cell (``x [lo, hi]``)."""

    value: float | None
    low: float | None
    high: float | None


def number(value: Any, digits: int = DIGITS) -> str:
    """Format one value by the report rules.

    Parameters
    ----------
    value : object
        A number (int, float, numpy scalar), bool, None, or anything else (printed with ``str``).
    digits : int, default :data:`DIGITS`
        Decimals of a non-integer number.

    Returns
    -------
    str
        ``"1,500"`` for 1500 or 1500.0; ``"0.712"`` for 0.7123; ``"1,234.6"`` for 1234.56 (one decimal from 1,000
        on); an em dash for None; ``"n/a"`` for NaN; ``"not reached"`` for +inf; ``"yes"``/``"no"`` for a bool.

    Examples
    --------
    >>> number(79.0), number(0.71), number(None), number(float("nan"))
    ('79', '0.710', '—', 'n/a')
    """
    if value is None:
        return EM_DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, int | float) and hasattr(value, "item"):
        value = value.item()  # a numpy scalar: format it like the Python number it holds
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return NOT_EVALUATED
    if math.isinf(v):
        return "not reached" if v > 0 else "-inf"
    if isinstance(value, int) or (v.is_integer() and abs(v) < 1e9):
        return f"{int(v):,}"
    return f"{v:.{digits}f}" if abs(v) < 1000 else f"{v:,.1f}"


def signed(value: Any, digits: int = DIGITS) -> str:
    """Like :func:`number` with an explicit sign (``+0.031``), for differences; an em dash when missing."""
    if value is None:
        return EM_DASH
    v = float(value)
    if not math.isfinite(v):
        return number(v, digits)
    return f"{v:+.{digits}f}"


def _finite(*values: Any) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)


def interval(low: Any, high: Any, digits: int = DIGITS) -> str:
    """An interval on its own: ``"0.680 to 0.740"``; an em dash when a bound is missing or not finite."""
    if not _finite(low, high):
        return EM_DASH
    return f"{number(low, digits)} to {number(high, digits)}"


def estimate(value: Any, low: Any = None, high: Any = None, digits: int = DIGITS) -> str:
    """An estimate with its interval: ``"0.710 [0.680, 0.740]"``; the estimate alone when there is no interval."""
    if value is None:
        return EM_DASH
    if not _finite(low, high):
        return number(value, digits)
    return f"{number(value, digits)} [{number(low, digits)}, {number(high, digits)}]"


def cell(value: Any) -> str:
    """Format a table cell: :class:`Interval`, :class:`Estimate`, a number or a plain value, by the rules above."""
    if isinstance(value, Interval):
        return interval(value.low, value.high)
    if isinstance(value, Estimate):
        return estimate(value.value, value.low, value.high)
    if value is None or isinstance(value, bool | int | float) or hasattr(value, "item"):
        return number(value)
    return str(value)


def md_escape(text: Any) -> str:
    """Escape Markdown and inline-HTML specials and fold newlines, so a value renders as literal text.

    A value such as ``<script>`` is then shown, never run, by a Markdown viewer that allows inline HTML, and a
    ``|`` cannot break a table.
    """
    out = "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in str(text))
    return " ".join(out.splitlines())


FILTERS: dict[str, Callable[..., str]] = {
    "num": number, "signed": signed, "interval": interval, "estimate": estimate, "cell": cell, "md": md_escape,
}
"""The Jinja filters every report template can use, by name."""
