"""Metrics: the definitions every number in a run, a comparison, the gate and the benchmarks comes from."""
