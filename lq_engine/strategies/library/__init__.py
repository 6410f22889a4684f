"""The strategies shipped with LuminaQuant, one file each, written with the public API
(``lq_engine.api``) exactly as a user writes theirs. The first four also declare a rule-vocabulary
front-end (``@rules``), which lets the C and Rust backends (and the numba rule kernel) sweep them;
tests hold both forms to the same decisions."""
