"""Conformal intervals calibrated per predicted-rate group and per tail (Mondrian, asymmetric CQR)."""

from __future__ import annotations

import numpy as np

from training.fit.progression import MONDRIAN_GROUPS, mondrian_margins


def test_each_group_and_tail_reaches_its_share_on_the_calibration_data(rng: np.random.Generator) -> None:
    """Heteroscedastic truth: the fast (low) group is three times noisier, and the raw interval is too narrow
    everywhere. After the correction every group covers about 80 %, with about 10 % outside on each side."""
    n = 6000
    mid = rng.uniform(-2.0, 0.0, n)
    noise_sd = np.where(mid < -1.33, 0.9, 0.3)
    y = mid + rng.normal(0.0, noise_sd)
    lo, hi = mid - 0.2, mid + 0.2  # a constant-width interval that ignores the noise
    cuts, margins = mondrian_margins(lo, mid, hi, y, 0.8)
    assert margins.shape == (MONDRIAN_GROUPS, 2)
    group = np.searchsorted(cuts, mid, side="right")
    low, high = lo - margins[group, 0], hi + margins[group, 1]
    for g in range(MONDRIAN_GROUPS):
        sel = group == g
        below = np.mean(y[sel] < low[sel])
        above = np.mean(y[sel] > high[sel])
        assert 0.08 <= below <= 0.12, (g, below)
        assert 0.08 <= above <= 0.12, (g, above)
    # The widths follow the patient: the noisiest (fastest) group gets the widest interval.
    widths = [float(np.mean(high[group == g] - low[group == g])) for g in range(MONDRIAN_GROUPS)]
    assert widths[0] > 2 * widths[-1]
