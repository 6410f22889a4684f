"""Where strategies come from, and ``resolve(name)``: the one place a strategy name becomes a strategy.

Three sources, by precedence (a later one replaces a same-named earlier one):
1. the shipped library (``lq_engine/strategies/library/``, one file per strategy; a project may take
   only some of them: ``[project] shipped_strategies = ["ma_cross", ...]``);
2. installed packages, through the entry-point group ``luminaquant.strategies``
   (``name = "package.module:ClassName"``);
3. the project's ``strategies/`` folder beside ``luminaquant.toml`` (``[project] strategies`` moves it):
   one strategy class per ``.py`` file, named after the file (``trend_vol_target.py`` ->
   ``trend_vol_target``); files starting with ``_`` are skipped.

A strategy's grid is its declared default, replaced per parameter by the project's
``[strategies.NAME.grid]``; its search space (what samplers search) is its declared ranges,
narrowed per parameter by ``[strategies.NAME.space]``. Resolved once where a run starts, the
``StrategySpec`` then travels. Files are loaded on first use and again when they change (a
long-running code server sees edits).
"""

from __future__ import annotations

import copyreg
import importlib
import importlib.metadata
import importlib.util
import inspect
import pkgutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from lq_engine.authoring.declare import Strategy, StrategyError, snake_case
from lq_engine.authoring.params import ParamError, sample_grid
from lq_engine.settings import load_project_config
from lq_engine.strategies.spec import SourceRef, StrategySpec, file_hash

ENTRY_POINT_GROUP = "luminaquant.strategies"
LIBRARY_PACKAGE = "lq_engine.strategies.library"


class UnknownStrategyError(ParamError):
    pass


@dataclass(frozen=True)
class Origin:
    """Where a strategy name is defined (before loading it)."""

    name: str
    kind: str  # "library" | "entry_point" | "project"
    location: str  # module name, entry point value, or file path

    @property
    def label(self) -> str:
        return {"library": "shipped", "entry_point": "installed", "project": "project"}[self.kind]


_lock = threading.RLock()
_file_cache: dict[str, tuple[tuple[int, int], StrategySpec]] = {}


def _project_settings() -> tuple[Path | None, tuple[str, ...] | None]:
    try:
        cfg = load_project_config()
        return cfg.strategies_dir, cfg.shipped_strategies
    except (FileNotFoundError, ValueError):
        return None, None


def shipped() -> list[str]:
    """Every strategy of the shipped library."""
    pkg = importlib.import_module(LIBRARY_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def origins(project_dir: Path | None = None) -> dict[str, Origin]:
    """Every strategy name with where it comes from (project over installed over shipped)."""
    out: dict[str, Origin] = {}
    folder, take = _project_settings()
    library = shipped()
    if take is not None and not set(take) <= set(library):
        raise StrategyError(f"luminaquant.toml: [project] shipped_strategies names {sorted(set(take) - set(library))}, "
                            f"which are not shipped; shipped: {library}")
    for name in library:
        if take is None or name in take:
            out[name] = Origin(name, "library", f"{LIBRARY_PACKAGE}.{name}")
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        out[ep.name] = Origin(ep.name, "entry_point", ep.value)
    folder = project_dir if project_dir is not None else folder
    if folder is not None and folder.is_dir():
        for f in sorted(folder.glob("*.py")):
            if not f.name.startswith("_"):
                out[f.stem] = Origin(f.stem, "project", str(f))
    return out


def library_strategy(name: str) -> StrategySpec:
    """A shipped strategy at its declared grid, whatever the project's ``shipped_strategies`` selects
    (the optimizer's benchmark is one)."""
    if name not in shipped():
        raise UnknownStrategyError(f"{name!r} is not a shipped strategy; shipped: {shipped()}")
    return _load_origin(Origin(name, "library", f"{LIBRARY_PACKAGE}.{name}"))


def list_strategies(portfolio: bool | None = None) -> list[str]:
    """Every strategy name; ``portfolio=True`` / ``False``: only portfolio / single-symbol ones."""
    names = sorted(origins())
    if portfolio is None:
        return names
    return [n for n in names if resolve(n, project_grids=False).is_portfolio == portfolio]


def source_file(o: Origin) -> Path | None:
    """The file a strategy is defined in, found without importing it (None if it cannot be)."""
    if o.kind == "project":
        return Path(o.location)
    spec = importlib.util.find_spec(o.location.partition(":")[0])
    return Path(spec.origin) if spec is not None and spec.origin else None


def source_hashes() -> dict[str, str]:
    """name -> sha256 of its file, for every strategy: cheap (no import), for sensors."""
    out = {}
    for name, o in origins().items():
        f = source_file(o)
        if f is not None and f.is_file():
            out[name] = file_hash(f)
    return out


def _only_strategy(module: Any, where: str) -> type:
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, Strategy) and v is not Strategy
             and v.__module__ == module.__name__]
    if len(found) != 1:
        names = [c.__name__ for c in found]
        what = "no lq.Strategy subclass" if not found else f"{len(found)} strategy classes ({names})"
        raise StrategyError(f"{where}: defines {what}; a strategy file holds exactly one")
    return found[0]


def _check_name(cls: type, name: str, where: str) -> None:
    declared = cls.declaration.name
    if declared is not None and declared != name:
        raise StrategyError(f"{where}: class {cls.__name__} says name = {declared!r}, but the file makes it {name!r}; "
                            "rename the file or drop the name")


def load_file(path: Path, name: str | None = None) -> StrategySpec:
    """Load the strategy of one file (cached until the file changes)."""
    path = Path(path).resolve()
    name = name or path.stem
    try:
        st = path.stat()
    except FileNotFoundError:
        raise StrategyError(f"{path}: strategy file not found") from None
    stamp = (st.st_mtime_ns, st.st_size)
    with _lock:
        hit = _file_cache.get(str(path))
        if hit is not None and hit[0] == stamp:
            return hit[1]
        source_hash = file_hash(path)
        if hit is not None and hit[1].source_hash == source_hash:
            _file_cache[str(path)] = (stamp, hit[1])
            return hit[1]
        module_name = f"lq_project_strategies.{name}_{source_hash[:12]}"
        mspec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(mspec)
        sys.modules[module_name] = module
        try:
            mspec.loader.exec_module(module)
        except StrategyError:
            sys.modules.pop(module_name, None)
            raise
        except SyntaxError as e:
            sys.modules.pop(module_name, None)
            raise StrategyError(f"{path}, line {e.lineno}: syntax error: {e.msg}") from None
        except Exception as e:
            sys.modules.pop(module_name, None)
            tb = e.__traceback__
            line = None
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == str(path):
                    line = tb.tb_lineno
                tb = tb.tb_next
            at = f", line {line}" if line else ""
            raise StrategyError(f"{path}{at}: loading the strategy failed: {type(e).__name__}: {e}") from e
        cls = _only_strategy(module, str(path))
        _check_name(cls, name, str(path))
        spec = StrategySpec(cls.declaration, name, SourceRef("file", str(path), cls.__qualname__), source_hash)
        _file_cache[str(path)] = (stamp, spec)
        return spec


def _load_origin(o: Origin) -> StrategySpec:
    if o.kind == "project":
        return load_file(Path(o.location), o.name)
    if o.kind == "library":
        module = importlib.import_module(o.location)
        cls = _only_strategy(module, module.__file__ or o.location)
    else:
        mod_name, _, attr = o.location.partition(":")
        try:
            module = importlib.import_module(mod_name)
            cls = getattr(module, attr) if attr else _only_strategy(module, mod_name)
        except Exception as e:
            raise StrategyError(
                f"entry point {o.name} = {o.location!r} ({ENTRY_POINT_GROUP}): {type(e).__name__}: {e}") from e
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise StrategyError(f"entry point {o.name} = {o.location!r}: not an lq.Strategy subclass")
    _check_name(cls, o.name, o.location)
    return StrategySpec(cls.declaration, o.name, SourceRef("module", cls.__module__, cls.__qualname__),
                        file_hash(cls.declaration.file))


def resolve(strategy: str | StrategySpec | type, *, project_grids: bool = True) -> StrategySpec:
    """The runnable strategy for a name (or a spec, returned as is, or a Strategy class).

    The project's ``[strategies.NAME.grid]`` replaces the declared grid and ``[strategies.NAME.space]``
    narrows the declared search space (``project_grids=False``: the declared ones)."""
    if isinstance(strategy, StrategySpec):
        return strategy
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        return StrategySpec.of(strategy)
    if not isinstance(strategy, str):
        raise UnknownStrategyError(f"expected a strategy name, got {type(strategy).__name__} {strategy!r}")
    found = origins()
    o = found.get(strategy)
    if o is None:
        raise UnknownStrategyError(f"unknown strategy {strategy!r}; known: {sorted(found)}") from None
    spec = _load_origin(o)
    if project_grids:
        grid, space = _project_tables(strategy)
        spec = spec.with_grid(grid).with_space(space)
    return spec


def _project_tables(name: str) -> tuple[dict | None, dict | None]:
    """The project's (grid, space) overrides of strategy ``name``."""
    try:
        cfg = load_project_config()
    except (FileNotFoundError, ValueError):
        return None, None
    return cfg.strategy_grid(name), cfg.strategy_space(name)


def default_grid(name: str | StrategySpec) -> list[dict[str, Any]]:
    return resolve(name).default_grid()


def grid(name: str | StrategySpec, axes) -> list[dict[str, Any]]:
    """Explicit grid: the product of ``axes`` (missing parameters take their default), constraint-filtered."""
    return resolve(name).grid(axes).rows()


def sampled_grid(name: str | StrategySpec, axes, n: int, seed: int) -> list[dict[str, Any]]:
    return sample_grid(resolve(name).schema, axes, n, seed)


def validate_param_sets(name: str | StrategySpec, param_sets) -> list[dict[str, Any]]:
    return resolve(name).schema.validate_all(param_sets)


__all__ = ["ENTRY_POINT_GROUP", "Origin", "UnknownStrategyError", "default_grid", "grid",
           "list_strategies", "load_file", "origins", "resolve", "sampled_grid", "snake_case", "validate_param_sets"]


# A StrategySpec pickles as a reference (where it came from, its source hash, its grid and space
# overrides), and unpickles by loading it again here: registered with copyreg so that ``spec`` need not
# import the registry that builds it.
def _reduce_spec(spec: StrategySpec) -> tuple:
    return (_load, (spec.source, spec.name, spec.source_hash, spec.grid_override, spec.space_override))


def _load(source: SourceRef, name: str, source_hash: str, grid: Mapping | None,
          space: Mapping | None = None) -> StrategySpec:
    """Unpickle: load the strategy again from where it came from and check it is the same source."""
    if source.kind == "file":
        spec = load_file(Path(source.location), name)
    else:
        module = importlib.import_module(source.location)
        obj: Any = module
        for part in source.cls_name.split("."):
            obj = getattr(obj, part)
        spec = StrategySpec(obj.declaration, name, source, file_hash(inspect.getfile(obj)))
    if spec.source_hash != source_hash:
        raise StrategyError(f"{source.describe()}: strategy '{name}' changed while a run was using it "
                            f"(source {source_hash[:12]} -> {spec.source_hash[:12]}); start the run again")
    return spec.with_grid(grid).with_space(space)


copyreg.pickle(StrategySpec, _reduce_spec)
