"""Constants that several layers read have one definition (issue 19, item 3): the readers import it."""

import pytest

from lq_engine import settings
from lq_engine.data import lake, result_layout, schema, store
from lq_engine.optimize.config import ConfigError, OptimizeConfig


def test_calendars_are_the_settings_ones_everywhere():
    assert schema.CALENDARS is settings.CALENDARS
    for calendar in settings.CALENDARS:  # every calendar a universe may declare annualizes
        assert schema.periods_per_year("1d", calendar) > 0
        assert OptimizeConfig.from_mapping({"calendar": calendar}).calendar == calendar
    assert OptimizeConfig.from_mapping({"calendar": "auto"}).calendar == "auto"
    with pytest.raises(ConfigError, match="'calendar' must be 'auto' or one of"):
        OptimizeConfig.from_mapping({"calendar": "weekdays"})


def test_one_partition_file_name_for_bars_and_results():
    assert lake.PART_FILE is store.PART_FILE and result_layout.PART_FILE is store.PART_FILE
    assert lake.partition_key_path(schema.PartitionKey("1m", "BTC", "2024-01")).endswith("/" + store.PART_FILE)
