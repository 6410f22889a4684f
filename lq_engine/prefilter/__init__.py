"""The prefilter: many parameter sets of one strategy scored at once with simplified fills.

- ``evaluate``: ``evaluate_grid`` (one series) and ``evaluate_panel`` (a universe), the entry every
  caller uses (stage 1 of the optimizer, ``lq strategy check``, the benchmarks);
- ``selection``: the parity-gated benchmark that picks the backend (python, numba, c, rust);
- ``bench``: the benchmark workloads the scripts and the selection share.

It sits above ``replay``: the Python reference of a strategy without a rule front-end is its replay
with the simplified fills (``evaluate.reference_metrics``).
"""
