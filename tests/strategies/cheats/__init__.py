"""Strategies with lookahead bias, written with the public API as an author would: the lookahead
scan must catch every one (tests/strategies/test_lookahead_scan.py). Never register them."""
