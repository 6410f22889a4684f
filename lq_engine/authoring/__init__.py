"""The strategy authoring API a user touches, re-exported as ``lq_engine.api`` (``import lq_engine.api as lq``).

- ``declare``: the ``Strategy`` / ``PortfolioStrategy`` base classes and what goes in their body;
- ``params``: parameter schemas, validation, grids and the parameter table the kernels read;
- ``space``: a strategy's search space (what a sampler searches);
- ``ta``: causal indicators; ``helpers``: compiled helpers for ``decide``;
- ``scaffold``: what ``lq strategy new`` and ``lq init`` write.

This layer sits low: it imports only ``lq_engine.errors``, ``lq_engine.project`` and
``lq_engine.data.resample`` (timeframes; plain numpy, no polars). What compiles and
runs a strategy is ``lq_engine.strategies`` (one layer above the kernels).
"""
