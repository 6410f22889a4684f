"""backend_benchmark: selection recorded in DuckDB and in the asset's metadata."""

import dagster as dg

from lq_assets.kernels.assets import chosen_backend
from lq_assets.launch import benchmark_in_dagster
from lq_engine.data.catalog import catalog_reader


def test_benchmark_writes_table_and_metadata(data_paths, dagster_home, monkeypatch):
    monkeypatch.setenv("LQ_NATIVE_BENCH_LOOPS", "1")
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        res = benchmark_in_dagster(instance)
        (mat,) = res.asset_materializations_for_node("backend_benchmark")
        chosen = mat.metadata["chosen_backend"].value
        assert chosen in {"python", "numba", "c", "rust"}
        assert "| numba |" in mat.metadata["backends"].value
        assert chosen_backend(instance) == chosen
    with catalog_reader(data_paths) as con:
        rows = con.execute("SELECT backend, available, max_parity_error, chosen FROM backend_benchmark").fetchall()
    by_name = {r[0]: r for r in rows}
    assert set(by_name) == {"python", "numba", "c", "rust"}
    assert [r[0] for r in rows if r[3]] == [chosen]
    for name, available, err, _ in rows:
        if available:
            assert err is not None and err <= 1e-9, (name, err)


def test_forced_backend_is_honoured(data_paths, dagster_home, monkeypatch):
    monkeypatch.setenv("LQ_NATIVE_BACKEND", "numba")
    monkeypatch.setenv("LQ_NATIVE_BENCH_LOOPS", "1")
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        res = benchmark_in_dagster(instance)
        (mat,) = res.asset_materializations_for_node("backend_benchmark")
        assert mat.metadata["chosen_backend"].value == "numba"
        assert mat.metadata["selection_mode"].value == "forced"
