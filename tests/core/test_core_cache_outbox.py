import json
import math

import pytest

from lq_engine.core.cache import RuntimeCache, SnapshotVersionError
from lq_engine.core.outbox import OrderIntent, OutboxError


def _filled_cache():
    c = RuntimeCache(cash=1000.0)
    c.update_bar("BTC", 1_700_000_000_000_000_000, 7, 10.0, 12.0, 9.0, 11.0, 5.0)
    c.update_bar("BTC", 1_700_000_060_000_000_000, 8, 11.0, 13.0, 10.0, 12.5, 6.0)
    c.update_order("OID-1", "ACCEPTED", "BTC", 1, 2.0)
    c.update_order("OID-2", "FILLED", "BTC", -1, 1.0, 1.0, 12.0)
    c.set_position("BTC", 1.5, 11.2)
    c.set_account(980.0, 998.75)
    c.meta["sequence_next"] = 42
    return c


def test_latest_market_state_and_orders():
    c = _filled_cache()
    m = c.market("BTC")
    assert (m.timestamp_ns, m.sequence, m.open, m.high, m.low, m.close, m.volume) == (
        1_700_000_060_000_000_000, 8, 11.0, 13.0, 10.0, 12.5, 6.0)
    assert m.time.isoformat() == "2023-11-14T22:14:20+00:00"
    assert [o.order_id for o in c.open_orders()] == ["OID-1"]
    assert c.order("OID-2").avg_price == 12.0
    with pytest.raises(KeyError, match="ETH"):
        c.market("ETH")


def test_snapshot_roundtrips_through_json():
    c = _filled_cache()
    snap = json.loads(json.dumps(c.snapshot()))
    r = RuntimeCache.restore(snap)
    assert json.dumps(r.snapshot()) == json.dumps(c.snapshot())
    assert r.market("BTC") == c.market("BTC")
    assert r.position("BTC").quantity == 1.5
    assert r.account() == (980.0, 998.75)
    assert math.isnan(r.order("OID-1").avg_price)


def test_restore_rejects_unknown_version_and_broken_snapshot():
    snap = _filled_cache().snapshot()
    with pytest.raises(SnapshotVersionError, match="version 99 is not supported"):
        RuntimeCache.restore({**snap, "version": 99})
    del snap["orders"]
    with pytest.raises(ValueError, match="missing field 'orders'"):
        RuntimeCache.restore(snap)


def test_flat_position_is_removed():
    c = _filled_cache()
    c.set_position("BTC", 0.0, math.nan)
    assert c.positions() == [] and c.position("BTC").quantity == 0.0


@pytest.mark.parametrize("cid, side, qty, message", [("", 1, 1.0, "client_order_id must be non-empty"),
                                                      ("x", 0, 1.0, "side must be"),
                                                      ("x", 1, 0.0, "quantity must be > 0"),
                                                      ("x", -1, float("nan"), "quantity must be > 0")])
def test_order_intent_rejects_bad_fields(cid, side, qty, message):
    # the outbox's lifecycle and idempotency are held by tests/live/test_ops_and_outbox.py (SqliteOutbox)
    with pytest.raises(OutboxError, match=message):
        OrderIntent(cid, "BTC", side, qty)
