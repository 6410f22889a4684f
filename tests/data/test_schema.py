import polars as pl
import pytest

from lq_engine.data.schema import canonical_timeframe, ns_to_timeframe, periods_per_year, timeframe_to_ns
from lq_engine.data.timestamps import TimestampError, epoch_to_ns, infer_epoch_unit, strings_to_ns

NS_2024 = 1_704_067_200 * 10**9


def test_timeframes():
    assert timeframe_to_ns("1m") == 60 * 10**9
    assert timeframe_to_ns("4h") == 4 * 3600 * 10**9
    assert ns_to_timeframe(86400 * 10**9) == "1d"
    assert canonical_timeframe("60s") == "1m"
    with pytest.raises(ValueError, match="not of the form"):
        timeframe_to_ns("1min")


def test_periods_per_year():
    assert periods_per_year("1m", "24/7") == 525_600
    assert periods_per_year("1d", "equities") == 252
    assert periods_per_year("1d", "24/7") == 365
    assert periods_per_year("1h", "equities") == pytest.approx(252 * 6.5)
    with pytest.raises(ValueError, match="calendar"):
        periods_per_year("1d", "lunar")


@pytest.mark.parametrize("value,unit", [(1_704_067_200, "s"), (1_704_067_200_000, "ms"),
                                        (1_704_067_200_000_000, "us"), (NS_2024, "ns")])
def test_epoch_magnitude_rule(value, unit):
    assert infer_epoch_unit(value) == unit
    assert epoch_to_ns(pl.Series([value])).to_list() == [NS_2024]


def test_epoch_in_a_gap_is_rejected_not_guessed():
    with pytest.raises(TimestampError, match="fits no epoch unit"):
        epoch_to_ns(pl.Series([10**10]))  # between the s and ms windows


def test_mixed_units_name_the_row():
    with pytest.raises(TimestampError) as e:
        epoch_to_ns(pl.Series([1_704_067_200_000, 1_704_067_260_000, 1_704_067_320]))
    assert e.value.index == 2


def test_declared_unit_wins():
    assert epoch_to_ns(pl.Series([1]), "s").to_list() == [10**9]


def test_iso_strings_naive_is_utc_and_offsets_convert():
    assert strings_to_ns(pl.Series(["2024-01-01 00:00:00"])).to_list() == [NS_2024]
    assert strings_to_ns(pl.Series(["2024-01-01T02:00:00+02:00", "2024-01-01T00:01:00Z"])).to_list() == [
        NS_2024, NS_2024 + 60 * 10**9]
    assert strings_to_ns(pl.Series(["2024-01-01"])).to_list() == [NS_2024]
