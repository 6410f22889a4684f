"""Backend dispatch: one call signature for python, numba, c and rust.

``run_sweep`` returns the metric arrays (``metrics.METRIC_NAMES``) for every set of a compiled
sweep; compiled backends stream accumulators that ``metrics.finalize`` turns into metrics.
"""

from __future__ import annotations

import numpy as np

from lq_engine.kernels import metrics as M
from lq_engine.kernels.backends import native, numba_backend, python_backend
from lq_engine.kernels.rules import check_sweep_shapes
from lq_engine.kernels.threads import kernel_threads
from lq_engine.errors import InputError

BACKENDS = ("python", "numba", "c", "rust")
NATIVE_BACKENDS = ("c", "rust")  # rule-vocabulary strategies only


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise InputError(f"unknown backend {name!r}; expected one of {BACKENDS}")
    return name


def availability(name: str) -> tuple[bool, str]:
    check_backend(name)
    if name == "python":
        return True, "NumPy reference"
    if name == "numba":
        try:
            numba_backend.warmup()
        except Exception as e:  # a broken numba install is a reason, not a crash
            return False, f"numba: {type(e).__name__}: {e}"
        return True, "compiled (cache=True)"

    return native.availability(name)


def run_accumulators(name: str, bank, rets, ip, fp, cost: float, n_threads: int | None = None) -> np.ndarray:
    """Accumulator matrix (n_sets, N_ACC) from a compiled backend."""
    check_sweep_shapes(name, bank, rets, ip, fp)
    if name == "numba":
        return numba_backend.sweep(bank, rets, ip, fp, cost)
    if name in ("c", "rust"):
        return native.load(name).sweep(bank, rets, ip, fp, cost, n_threads or kernel_threads())
    raise InputError(f"backend {name!r} has no accumulator kernel")


def run_sweep(name: str, bank, rets, ip, fp, cost: float, ppy: float) -> dict[str, np.ndarray]:
    check_backend(name)
    if name == "python":
        return python_backend.sweep_metrics(bank, rets, ip, fp, cost, ppy)
    return M.finalize(run_accumulators(name, bank, rets, ip, fp, cost), ppy)


def metric_batch(name: str, equity: np.ndarray, n_evals: int, ppy: float = 252.0,
                 n_threads: int | None = None) -> np.ndarray:
    """The metric workload: ``n_evals`` evaluations of [sharpe, cagr, max drawdown] of one curve."""
    check_backend(name)
    if name == "python":
        return python_backend.metric_batch(equity, n_evals, ppy)
    if name == "numba":
        return numba_backend.metric_batch(equity, n_evals, ppy)

    return native.load(name).metric_batch(equity, n_evals, ppy, n_threads or kernel_threads())
