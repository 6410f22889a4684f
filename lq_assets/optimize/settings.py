"""Optimizer settings: luminaquant.toml [optimize], overridden per run by Dagster Config."""

from pathlib import Path

import dagster as dg
import pydantic

from lq_engine.data.paths import DataPaths
from lq_engine.data.store import Location
from lq_engine.optimize import OptimizeConfig
from lq_engine.optimize.config import bracket_legs, run_settings


def _optional(kind: type, help: str):
    return (kind | None, pydantic.Field(default=None, description=help))


# Both Config classes are derived from OptimizeConfig's declarations (``run_settings``,
# ``bracket_legs``): a setting is declared once, in lq_engine/optimize/config.py.
BracketSettings = pydantic.create_model(
    "BracketSettings",
    __base__=dg.Config,
    __doc__="Exit legs of every stage-2 entry, as fractions of the entry price in (0, 1); null = no such leg.",
    **{leg: _optional(float, f"{leg.replace('_', ' ')} as a fraction of the entry price in (0, 1); null: off")
       for leg in bracket_legs()},
)


class _OptimizeSettingsBase(dg.Config):
    """Overrides of luminaquant.toml [optimize] for one run; unset fields keep the file's value.

    ``brackets``, when given, replaces the file's whole [optimize.brackets] table for the run (legs
    left out or null are off, so ``brackets: {}`` turns them off). Stage 1 ignores brackets.
    ``dataset_hash`` pins the frozen dataset by content hash (`lq optimize` pins one for all its
    strategies); stage 2 always uses the hash its stage 1 scored.
    """

    def resolve(self, file_settings: dict, backend: str) -> OptimizeConfig:
        overrides = {k: v for k, v in self.model_dump().items() if v is not None and k != "dataset_hash"}
        return OptimizeConfig.from_mapping({**file_settings, **overrides, "backend": backend})


OptimizeSettings = pydantic.create_model(
    "OptimizeSettings",
    __base__=_OptimizeSettingsBase,
    **{s.name: _optional(s.type, s.help) for s in run_settings()},
    brackets=(BracketSettings | None, pydantic.Field(
        default=None, description="replaces [optimize.brackets] for the run (legs left out are off)")),
    dataset_hash=_optional(str, "pin the frozen dataset by content hash (stage 2 uses stage 1's)"),
)
OptimizeSettings.__doc__ = _OptimizeSettingsBase.__doc__


def stage_dir(paths: DataPaths, dataset: str, strategy: str) -> Location:
    """Where one (dataset, strategy) keeps its stage-1 result and its final result: in the lake,
    so stage 2 and the report can run on another machine."""
    return Location(paths.store, f"optimize/{dataset}/{strategy}")


def image_dir(paths: DataPaths, dataset: str, strategy: str) -> Path:
    """Local folder for the plots a step embeds in its metadata."""
    d = paths.results / "optimize" / dataset / strategy
    d.mkdir(parents=True, exist_ok=True)
    return d
