"""Kernels: the one metrics module, prefilter backends (python, numba, c, rust), selection, threads.

- ``metrics``: every metric formula, streaming-accumulator finalization, DSR and PBO.
- ``evaluate.evaluate_grid(series, strategy, param_sets, costs, backend)``: the prefilter entry.
- ``selection.select_backend()``: benchmark + parity gate + pick; ``resolve_backend()`` for 'auto'.
- ``backends.native.build_native(backend)``: build the C / Rust library (``lq native build``).
- ``threads.configure_threads(workers, threads)``: set numba / polars / native threads together.

Nothing here imports polars at module import time (``configure_threads`` must run first).
"""
