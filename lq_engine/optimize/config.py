"""``OptimizeConfig``: every knob of the two-stage optimizer, with defaults and validation.

``OptimizeConfig.from_mapping(d)`` takes the ``[optimize]`` table of luminaquant.toml or a Dagster
Config dict: unknown keys, wrong types and out-of-range values raise ``ConfigError`` naming the field.
Nested ``execution`` (ExecutionConfig fields), ``costs`` (fee, slippage) and ``brackets``
(stop_loss, take_profit, trailing: fractions in (0, 1), omitted or None for no such leg) tables are
accepted. Brackets apply to stage 2 only: the stage-1 kernel cannot model them (see ``brackets``).
"""

from __future__ import annotations

from lq_engine.errors import LQError, did_you_mean, unknown_key_message

import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from lq_engine.execution.config import Costs, ExecutionConfig
from lq_engine.execution.funding import INSTRUMENTS
from lq_engine.kernels.backends import BACKENDS
from lq_engine.execution.sizing import NO_BRACKETS, BracketSpec
from lq_engine.settings import CALENDARS, ProjectConfig, SettingsError, load_project_config

FOLD_MODES = ("rolling", "anchored")
SEARCH_METHODS = ("auto", "grid", "random", "tpe", "cmaes", "qmc")


class ConfigError(LQError, ValueError):
    """An optimizer setting is invalid; the message names the field."""


def _run(default: Any, flag: str, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A field a single run may override: the Dagster run config of the optimizer assets
    (``lq_assets.optimize.settings.OptimizeSettings``) and the ``lq optimize`` flags are derived from
    these declarations (``run_settings``), so each setting is declared here only."""
    return field(default=default, metadata={"run": {"flag": flag, "help": help, "choices": choices}})


@dataclass(frozen=True)
class OptimizeConfig:
    # walk-forward folds over the development span (everything before the holdout)
    fold_mode: str = _run("rolling", "--fold-mode", "walk-forward windows: rolling (fixed length) or anchored "
                          "(growing)", FOLD_MODES)
    n_folds: int = _run(3, "--folds", "walk-forward folds")
    train_fraction: float = 0.5  # share of the development span in one training window
    train_bars: int | None = None  # explicit lengths override the fractions
    validation_bars: int | None = None
    gap_bars: int = 0  # embargo between train and validation, and before the holdout
    holdout_fraction: float = _run(0.2, "--holdout", "final share of the data kept out of sample (never used for "
                                   "selection), e.g. 0.2")
    min_window_bars: int = 50  # a symbol with fewer bars in a window skips that window
    # stage 1 (prefilter)
    min_trades: int = 5  # windows with fewer trades are penalized ...
    trade_penalty: float = 1.0  # ... by up to this many (annualized) Sharpe units
    sample_size: int | None = _run(None, "--sample", "score a seeded sample of this many sets of the grid instead of "
                                   "all of it")
    # stage-1 search (lq_engine/optimize/search.py): the grid, or a sampler over the declared space
    search: str = _run("auto", "--search", "stage-1 search: a seeded sampler over the strategy's declared space, "
                       "or the grid (auto: the grid when it has at most 100,000 sets, else TPE)", SEARCH_METHODS)
    trials: int | None = _run(None, "--trials", "parameter sets a sampler evaluates (each counts in the DSR's N)")
    timeout: float | None = _run(None, "--timeout", "seconds a sampler may search (checked between batches)")
    batch_size: int | None = _run(None, "--batch-size", "sets a sampler proposes per batch (default: see "
                                  "search.batch_size_for)")
    prune_quantile: float | None = _run(None, "--prune", "early stopping: after each fold but the last, drop sets "
                                        "whose running score is below this quantile (0..1) of every set scored so far")
    # stage 2 (replay)
    top_k_ratio: float = _run(0.02, "--top-k-ratio", "share of the ranked sets replayed in stage 2 (clamped to "
                              "--top-k-min .. --top-k-max)")
    top_k_min: int = _run(5, "--top-k-min", "fewest candidates replayed in stage 2")
    top_k_max: int = _run(50, "--top-k-max", "most candidates replayed in stage 2")
    dispersion_penalty: float = 0.5  # robust objective = median - penalty * scaled MAD
    audit_size: int = _run(10, "--audit-size", "sets from outside the top k replayed for the fidelity audit")
    # overfitting controls
    pbo_splits: int = 16
    pbo_max_periods: int = 1024
    # execution / compute
    seed: int = _run(42, "--seed", "random seed of samplers, samples and the audit")
    workers: int = _run(1, "--workers", "worker processes (results are identical for any count)")
    backend: str = "auto"
    calendar: str = "auto"  # auto: '24/7' below daily bars, 'equities' for daily and slower
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    # "perpetual": every symbol of the dataset is a perpetual future; both stages book its funding
    # (the frozen dataset's funding rates, ``execution.funding``). "spot": no funding.
    instrument: str = "spot"
    costs: Costs | None = None  # stage-1 costs; None derives them from ``execution``
    initial_cash: float = 100_000.0
    # Exit legs attached to every entry in every stage-2 replay (top k, audit, winner, holdout).
    # Stage 1 ignores them (its kernel has no intrabar exits), so its ranking is of the strategy
    # without brackets; the fidelity audit measures that gap.
    brackets: BracketSpec = NO_BRACKETS

    def __post_init__(self) -> None:
        _check(self)

    @property
    def prefilter_costs(self) -> Costs:
        """Stage-1 costs: explicit, else taker fee and (slippage + half spread) of the execution model."""
        if self.costs is not None:
            return self.costs
        e = self.execution
        return Costs(fee=e.fee_taker, slippage=(e.slippage_bps + 0.5 * e.spread_bps) * 1e-4)

    def top_k(self, n_grid: int) -> int:
        """k = round(ratio * grid size), clamped to [top_k_min, top_k_max] and to the grid size."""
        k = int(round(self.top_k_ratio * n_grid))
        return max(1, min(n_grid, max(self.top_k_min, min(self.top_k_max, k))))

    def with_(self, **changes: Any) -> OptimizeConfig:
        return replace(self, **changes)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> OptimizeConfig:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(f"optimize config: expected a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown_key_message("optimize config", unknown, known))
        kw: dict[str, Any] = {}
        for name, value in data.items():
            if name == "execution":
                kw[name] = _nested(ExecutionConfig, value, "execution")
            elif name == "costs":
                kw[name] = None if value is None else _nested(Costs, value, "costs")
            elif name == "brackets":
                kw[name] = _brackets(value)
            else:
                kw[name] = value
        return cls(**kw)


@dataclass(frozen=True)
class RunSetting:
    """One per-run override of ``OptimizeConfig`` (see ``_run``): its field, value type, flag and help."""

    name: str
    type: type
    flag: str
    help: str
    choices: tuple[str, ...] | None = None
    default: Any = None


def run_settings() -> tuple[RunSetting, ...]:
    """The fields of ``OptimizeConfig`` a run may override, in declaration order. ``brackets`` is
    overridable as well (a nested table: ``bracket_legs``)."""
    hints = typing.get_type_hints(OptimizeConfig)
    out = []
    for f in fields(OptimizeConfig):
        meta = f.metadata.get("run")
        if not meta:
            continue
        t = hints[f.name]
        if isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union:
            t = next(a for a in typing.get_args(t) if a is not type(None))
        out.append(RunSetting(f.name, t, meta["flag"], meta["help"], meta["choices"], f.default))
    return tuple(out)


def bracket_legs() -> tuple[str, ...]:
    """The legs of ``brackets`` (BracketSpec fields), each a fraction of the entry price or None."""
    return tuple(f.name for f in fields(BracketSpec))


def brackets_json(spec: BracketSpec) -> str:
    """The brackets as a JSON object of all three legs (null = no such leg), as recorded in results."""
    return json.dumps(asdict(spec))


def brackets_text(spec: BracketSpec) -> str:
    """Short form for tables: 'stop_loss=0.02, trailing=0.05', or 'none'."""
    legs = [f"{k}={v:g}" for k, v in asdict(spec).items() if v is not None]
    return ", ".join(legs) if legs else "none"


def _nested(kind: type, value: Any, name: str) -> Any:
    if isinstance(value, kind):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"optimize config: field '{name}' must be a table, got {type(value).__name__}")
    allowed = {f.name for f in fields(kind)}
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(f"optimize config: unknown field(s) {[f'{name}.{u}' for u in unknown]}; "
                          f"known: {sorted(allowed)}")
    try:
        return kind(**value)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"optimize config: field '{name}': {e}") from None


def _brackets(value: Any) -> BracketSpec:
    """A ``brackets`` table (None or {} = no brackets), each leg checked and named on its own."""
    if value is None:
        return NO_BRACKETS
    if isinstance(value, BracketSpec):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"optimize config: field 'brackets' must be a table, got {type(value).__name__}")
    allowed = [f.name for f in fields(BracketSpec)]
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ConfigError(f"optimize config: unknown field(s) {[f'brackets.{u}' for u in unknown]}; known: {allowed}")
    for name, v in value.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and 0.0 < v < 1.0):
            raise ConfigError(f"optimize config: field 'brackets.{name}' must be a fraction in (0, 1) "
                              f"(omitted or null for no such leg), got {v!r}")
    return BracketSpec(**{k: None if v is None else float(v) for k, v in value.items()})


def _int(cfg: OptimizeConfig, name: str, low: int, optional: bool = False) -> None:
    v = getattr(cfg, name)
    if v is None and optional:
        return
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"optimize config: field '{name}' must be an integer, got {v!r}")
    if v < low:
        raise ConfigError(f"optimize config: field '{name}' must be >= {low}, got {v}")


def _float(cfg: OptimizeConfig, name: str, low: float, high: float, low_open: bool = False,
           high_open: bool = False) -> None:
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"optimize config: field '{name}' must be a finite number, got {v!r}")
    if v < low or v > high or (low_open and v == low) or (high_open and v == high):
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ConfigError(f"optimize config: field '{name}' must be in {lo}{low}, {high}{hi}, got {v}")


def _check(c: OptimizeConfig) -> None:
    if c.fold_mode not in FOLD_MODES:
        raise ConfigError(f"optimize config: field 'fold_mode' must be one of {FOLD_MODES}, got {c.fold_mode!r}")
    if c.calendar != "auto" and c.calendar not in CALENDARS:
        raise ConfigError(f"optimize config: field 'calendar' must be 'auto' or one of {CALENDARS}, got {c.calendar!r}")
    if c.instrument not in INSTRUMENTS:
        raise ConfigError(f"optimize config: field 'instrument' must be one of {INSTRUMENTS}, got {c.instrument!r}")
    if c.backend != "auto" and c.backend not in BACKENDS:
        raise ConfigError(f"optimize config: field 'backend' must be 'auto' or one of {BACKENDS}, got {c.backend!r}")
    _int(c, "n_folds", 1)
    _int(c, "train_bars", 2, optional=True)
    _int(c, "validation_bars", 2, optional=True)
    if (c.train_bars is None) != (c.validation_bars is None):
        raise ConfigError("optimize config: fields 'train_bars' and 'validation_bars' must be given together")
    _int(c, "gap_bars", 0)
    _int(c, "min_window_bars", 2)
    _int(c, "min_trades", 0)
    _int(c, "sample_size", 1, optional=True)
    if c.search not in SEARCH_METHODS:
        raise ConfigError(f"optimize config: field 'search' must be one of {SEARCH_METHODS}, got {c.search!r} "
                          "(unknown sampler)")
    _int(c, "trials", 1, optional=True)
    _int(c, "batch_size", 1, optional=True)
    if c.timeout is not None:
        _float(c, "timeout", 0.0, math.inf, low_open=True)
    if c.prune_quantile is not None:
        _float(c, "prune_quantile", 0.0, 1.0, low_open=True, high_open=True)
    if c.search == "grid" and c.timeout is not None:
        raise ConfigError("optimize config: field 'timeout' applies to samplers; search 'grid' scores the whole grid "
                          "(use 'trials' or 'sample_size' to score a seeded sample of it)")
    if c.search not in ("auto", "grid") and c.sample_size is not None:
        raise ConfigError(f"optimize config: field 'sample_size' samples the grid; search {c.search!r} takes "
                          "'trials' (and 'timeout') instead")
    _int(c, "top_k_min", 1)
    _int(c, "top_k_max", 1)
    if c.top_k_max < c.top_k_min:
        raise ConfigError(f"optimize config: field 'top_k_max' ({c.top_k_max}) is below 'top_k_min' ({c.top_k_min})")
    _int(c, "audit_size", 0)
    _int(c, "pbo_splits", 2)
    if c.pbo_splits % 2:
        raise ConfigError(f"optimize config: field 'pbo_splits' must be even, got {c.pbo_splits}")
    _int(c, "pbo_max_periods", 4)
    _int(c, "seed", 0)
    _int(c, "workers", 1)
    _float(c, "train_fraction", 0.0, 1.0, low_open=True, high_open=True)
    _float(c, "holdout_fraction", 0.0, 1.0, low_open=True, high_open=True)
    _float(c, "trade_penalty", 0.0, math.inf)
    _float(c, "top_k_ratio", 0.0, 1.0)
    _float(c, "dispersion_penalty", 0.0, math.inf)
    _float(c, "initial_cash", 0.0, math.inf, low_open=True)
    if not isinstance(c.execution, ExecutionConfig):
        raise ConfigError("optimize config: field 'execution' must be an ExecutionConfig, "
                          f"got {type(c.execution).__name__}")
    if c.costs is not None and not isinstance(c.costs, Costs):
        raise ConfigError(f"optimize config: field 'costs' must be Costs or None, got {type(c.costs).__name__}")
    if not isinstance(c.brackets, BracketSpec):
        raise ConfigError(f"optimize config: field 'brackets' must be a BracketSpec, got {type(c.brackets).__name__}")


def load_checked_config(path: Path | None = None) -> ProjectConfig:
    """``settings.load_project_config``, with its ``[optimize]`` table checked too: a typo there is a
    ``SettingsError`` naming the file when the project is loaded (the CLI, the Dagster definitions),
    not at the next optimization. ``settings`` sits below the optimizer, so the check lives here."""
    cfg = load_project_config(path)
    if cfg.optimize:
        try:
            OptimizeConfig.from_mapping(cfg.optimize)
        except ValueError as e:
            raise SettingsError(f"{cfg.path}: [optimize]: {e}") from None
    return cfg


def check_strategy_tables(cfg: ProjectConfig) -> None:
    """The project's ``[strategies.NAME.grid]`` and ``[strategies.NAME.space]`` against each strategy's
    declaration: NAME is a strategy of the project, each key one of its parameters, each value of the
    parameter's type and within its declared bounds (a space's range as well); a mistake is a
    ``SettingsError`` naming the file, the table and the key. ``cfg`` is the project's own config (the
    registry finds the strategies through it).

    The form of those tables (a range's low above its high, ...) is checked by ``load_project_config``;
    this part needs the strategies' declarations, which live above ``settings``, and loads their code.
    So the CLI runs it before Dagster starts (``lq_assets.cli.environment.check_config``), while the
    Dagster definitions do not: one strategy's mistake must not keep the others from loading (its own
    runs fail, naming the strategy and the parameter). A strategy whose file does not load is left to
    report that where it runs."""
    if not cfg.strategies:
        return
    from lq_engine.authoring.space import override_dimension
    from lq_engine.strategies.registry import origins, resolve

    known = sorted(origins())
    for name, tables in cfg.strategies.items():
        if name not in known:
            hint = did_you_mean(name, known) or f"; strategies: {', '.join(known)}"
            raise SettingsError(f"{cfg.path}: [strategies.{name}]: no strategy '{name}' in this project{hint}")
        try:
            schema = resolve(name, project_grids=False).schema
        except LQError:  # its file does not load: reported where the strategy runs, with its line
            continue
        for kind in ("grid", "space"):
            for param, value in (tables.get(kind) or {}).items():
                at = f"{cfg.path}: [strategies.{name}.{kind}] {param}"
                if param not in schema.param_names:
                    names = list(schema.param_names)
                    hint = did_you_mean(param, names)
                    raise SettingsError(f"{at}: strategy '{name}' has no parameter '{param}'{hint}; its parameters: "
                                        f"{', '.join(names) or 'none'}")
                try:
                    if kind == "grid":
                        for v in value:
                            schema.param(param).check(v, at)
                    else:
                        override_dimension(schema, param, value, at)
                except ValueError as e:  # ParamError / SpaceError: the message starts with ``at``
                    raise SettingsError(str(e)) from None
