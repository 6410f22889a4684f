"""Backend dispatch: one call signature for python, numba, c and rust.

``run_sweep`` returns the metric arrays (``metrics.METRIC_NAMES``) for every set of a compiled
sweep; compiled backends stream accumulators that ``metrics.finalize`` turns into metrics.
"""

from __future__ import annotations

import numpy as np

from lq_engine.kernels import metrics as M

BACKENDS = ("python", "numba", "c", "rust")
NATIVE_BACKENDS = ("c", "rust")  # rule-vocabulary strategies only


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")
    return name


def availability(name: str) -> tuple[bool, str]:
    check_backend(name)
    if name == "python":
        return True, "NumPy reference"
    if name == "numba":
        try:
            from lq_engine.kernels.backends import numba_backend

            numba_backend.warmup()
        except Exception as e:  # a broken numba install is a reason, not a crash
            return False, f"numba: {type(e).__name__}: {e}"
        return True, "compiled (cache=True)"
    from lq_engine.kernels.backends import native

    return native.availability(name)


def check_sweep_shapes(backend: str, bank: np.ndarray, rets: np.ndarray, ip: np.ndarray, fp: np.ndarray) -> None:
    """The rule kernels (numba without bounds checks, C and Rust through raw pointers) index the bank
    with these shapes and the programs' bank rows: refuse, naming the input, anything that would make
    them read memory they were not given."""
    from lq_engine.strategies.bank import N_RETS
    from lq_engine.strategies.rules import N_FLOAT, N_INT, STOP_ROW

    where = f"{backend} sweep"
    if bank.ndim != 2:
        raise ValueError(f"{where}: 'bank' must be (rows, bars), got shape {bank.shape}")
    rows, n = bank.shape
    if rets.shape != (N_RETS, n):
        raise ValueError(f"{where}: 'rets' has shape {rets.shape}, expected {(N_RETS, n)} for a bank of {n} bars")
    if ip.ndim != 2 or ip.shape[1] != N_INT or fp.shape != (ip.shape[0], N_FLOAT):
        raise ValueError(f"{where}: programs of shapes {ip.shape} / {fp.shape}, expected (sets, {N_INT}) / "
                         f"(sets, {N_FLOAT})")
    if ip.size:
        low = np.zeros(N_INT, dtype=np.int64)
        low[STOP_ROW] = -1  # no stop
        bad = (ip < low) | (ip >= rows)
        if bad.any():
            k, c = (int(x) for x in np.argwhere(bad)[0])
            raise ValueError(f"{where}: program {k} column {c} names bank row {int(ip[k, c])}; the bank has {rows}")


def run_accumulators(name: str, bank, rets, ip, fp, cost: float, n_threads: int | None = None) -> np.ndarray:
    """Accumulator matrix (n_sets, N_ACC) from a compiled backend."""
    check_sweep_shapes(name, bank, rets, ip, fp)
    if name == "numba":
        from lq_engine.kernels.backends import numba_backend

        return numba_backend.sweep(bank, rets, ip, fp, cost)
    if name in ("c", "rust"):
        from lq_engine.kernels.backends import native
        from lq_engine.kernels.threads import kernel_threads

        return native.load(name).sweep(bank, rets, ip, fp, cost, n_threads or kernel_threads())
    raise ValueError(f"backend {name!r} has no accumulator kernel")


def run_sweep(name: str, bank, rets, ip, fp, cost: float, ppy: float) -> dict[str, np.ndarray]:
    check_backend(name)
    if name == "python":
        from lq_engine.kernels.backends import python_backend

        return python_backend.sweep_metrics(bank, rets, ip, fp, cost, ppy)
    return M.finalize(run_accumulators(name, bank, rets, ip, fp, cost), ppy)


def metric_batch(name: str, equity: np.ndarray, n_evals: int, ppy: float = 252.0,
                 n_threads: int | None = None) -> np.ndarray:
    """The metric workload: ``n_evals`` evaluations of [sharpe, cagr, max drawdown] of one curve."""
    check_backend(name)
    if name == "python":
        from lq_engine.kernels.backends import python_backend

        return python_backend.metric_batch(equity, n_evals, ppy)
    if name == "numba":
        from lq_engine.kernels.backends import numba_backend

        return numba_backend.metric_batch(equity, n_evals, ppy)
    from lq_engine.kernels.backends import native
    from lq_engine.kernels.threads import kernel_threads

    return native.load(name).metric_batch(equity, n_evals, ppy, n_threads or kernel_threads())
