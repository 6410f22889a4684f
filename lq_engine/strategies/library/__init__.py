"""The strategies shipped with LuminaQuant, one file each, written with the public API
(``lq_engine.api``) exactly as a user writes theirs, and nothing else. The C and Rust backends (and
the numba rule kernel) also sweep the first four through their rule-vocabulary programs, which live in
the machinery (``lq_engine.strategies.rule_programs``); tests hold both forms to the same decisions."""
