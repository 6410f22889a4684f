"""Configuration mistakes are refused with the key named and the closest known one suggested; a
universe symbol missing from the lake is a warning (output and metadata); none matching skips the
universe with a note."""

from __future__ import annotations

import dagster as dg
import pytest

from lq_assets.datasets.assets import frozen_dataset
from lq_assets.resources import LakeResource, ProjectConfigResource
from lq_engine.data.ingest import ingest_file
from lq_engine.optimize.config import load_checked_config
from lq_engine.settings import SettingsError
from tests.orchestration.bars import write_daily_csv

UNIVERSE = """[universes.us_stocks_daily]
symbols = {symbols}
timeframe = "1d"
calendar = "equities"
"""


@pytest.mark.parametrize("text, message", [
    ('[universe.typo]\nsymbols = ["A"]\n' + UNIVERSE.format(symbols='["A"]'),
     "top level: unknown key '[universe]' (did you mean '[universes]'?)"),
    (UNIVERSE.format(symbols='["A"]').replace("symbols", "symbolz"), "'symbolz' (did you mean 'symbols'?)"),
    (UNIVERSE.format(symbols='["A"]') + 'end_date = "2020-01-01"\n',
     "[universes.us_stocks_daily]: unknown key 'end_date' (did you mean 'end'?)"),
    (UNIVERSE.format(symbols='["A"]') + "[optimize]\nn_fold = 3\n", "unknown key 'n_fold' (did you mean 'n_folds'?)"),
    ('[project]\nshipped_strategy = ["ma_cross"]\n' + UNIVERSE.format(symbols='["A"]'),
     "[project]: unknown key 'shipped_strategy' (did you mean 'shipped_strategies'?)"),
])
def test_config_typos_are_refused_with_a_suggestion(tmp_path, text, message):
    f = tmp_path / "luminaquant.toml"
    f.write_text(text)
    with pytest.raises(SettingsError) as e:
        load_checked_config(f)
    assert message in str(e.value) and str(f) in str(e.value)


def _freeze(data_paths, tmp_path, symbols: str, instance):
    cfg = tmp_path / f"cfg{abs(hash(symbols))}.toml"
    cfg.write_text(UNIVERSE.format(symbols=symbols))
    return dg.materialize([frozen_dataset], partition_key="us_stocks_daily", raise_on_error=False, instance=instance,
                          resources={"lake": LakeResource(data_dir=str(data_paths.root)),
                                     "project": ProjectConfigResource(config_file=str(cfg))})


def test_missing_universe_symbols_warn_and_none_matching_is_skipped_with_a_note(data_paths, tmp_path):
    """Issue 21 #1: a universe none of whose patterns is in the lake (the synthetic_1m of a fresh
    project after a 1-minute ingest) failed the freeze, and so `lq ingest`; it is skipped, with a
    note naming the universe, its patterns and its timeframe (an observation: UI and CLI)."""
    instance = dg.DagsterInstance.ephemeral()
    ingest_file(write_daily_csv(data_paths.landing / "d.csv", ["AAPL", "MSFT"], "2010-01-01", 30), data_paths)
    res = _freeze(data_paths, tmp_path, '["AAPL", "MSFT", "NOPE", "ZZ*"]', instance)
    assert res.success
    (mat,) = res.asset_materializations_for_node("frozen_dataset")
    assert mat.metadata["missing_symbols"].value == "NOPE, ZZ*"
    assert mat.metadata["symbols"].value == "AAPL, MSFT"
    logs = [r.user_message for r in instance.all_logs(res.run_id)]
    assert any("not in the lake's 1d bars: NOPE, ZZ*; frozen without them" in m for m in logs)
    res = _freeze(data_paths, tmp_path, '["NOPE", "ZZ*"]', instance)
    assert res.success and not res.asset_materializations_for_node("frozen_dataset")
    (obs,) = res.asset_observations_for_node("frozen_dataset")
    assert obs.metadata["skipped"].value == (
        "universe us_stocks_daily skipped: none of NOPE, ZZ* is in the lake's 1d bars (it has AAPL, MSFT)")
