"""LuminaQuant Dagster definitions: thin assets, checks, resources, schedules, sensors, jobs.

Importing this package sets the Numba / Polars thread counts before polars is first imported
(Dagster's run workers import it first thing), so the two never oversubscribe the cores.
"""

import os as _os

from lq_engine.kernels.threads import configure_threads as _configure_threads

_configure_threads(workers=int(_os.environ.get("LQ_WORKERS", "1")))
