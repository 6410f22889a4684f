"""The strategies sensor: a new strategy file becomes an optimizer partition; an edited strategy that
has results is re-optimized on every frozen universe; a sensor never imports strategy code."""

from __future__ import annotations

import json

import dagster as dg

from lq_assets.optimize.sensors import strategies_sensor
from lq_assets.partitions import optimize_key
from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT

STRATEGY = '''import lq_engine.api as lq


class {cls}(lq.Strategy):
    window = lq.Int(2, 50, grid=(5, 10))

    @lq.indicator
    def ma(bars, window):
        return lq.ta.sma(bars.close, window)

    @lq.decide
    def decide(i, bars, ind, p, pos, st):
        return 1.0 if bars.close[i] {op} ind.ma[i] else 0.0
'''


def _tick(instance, cursor):
    return strategies_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_new_files_register_and_edited_ones_reoptimize(tmp_path, monkeypatch, dagster_home):
    project = tmp_path / "project"
    (project / "strategies").mkdir(parents=True)
    (project / "luminaquant.toml").write_text('[project]\nshipped_strategies = ["ma_cross"]\n\n'
                                              + (REPO_ROOT / "luminaquant.toml").read_text())
    monkeypatch.setenv("LQ_CONFIG", str(project / "luminaquant.toml"))
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        first = _tick(instance, None)
        added = [n for r in first.dynamic_partitions_requests for n in r.partition_keys]
        assert added == ["ma_cross"] and not first.run_requests
        instance.add_dynamic_partitions("strategies", added)

        path = project / "strategies" / "above_ma.py"
        path.write_text(STRATEGY.format(cls="AboveMa", op=">"))
        second = _tick(instance, first.cursor)
        assert [n for r in second.dynamic_partitions_requests for n in r.partition_keys] == ["above_ma"]
        assert not second.run_requests  # a new strategy is optimizable; it has no stale results
        instance.add_dynamic_partitions("strategies", ["above_ma"])
        assert isinstance(_tick(instance, second.cursor), dg.SensorResult)
        assert _tick(instance, second.cursor).skip_reason is not None  # nothing new, nothing changed

        # results exist for above_ma on a frozen universe; then its file is edited
        key = str(optimize_key("us_stocks_daily", "above_ma"))
        instance.report_runless_asset_event(dg.AssetMaterialization("frozen_dataset", partition="us_stocks_daily"))
        instance.report_runless_asset_event(dg.AssetMaterialization("replay_results", partition=key))
        path.write_text(STRATEGY.format(cls="AboveMa", op="<"))
        third = _tick(instance, second.cursor)
        assert [r.partition_key for r in third.run_requests] == [key]
        assert json.loads(third.cursor)["above_ma"] != json.loads(second.cursor)["above_ma"]
