"""Optimizer settings: luminaquant.toml [optimize], overridden per run by Dagster Config."""

from pathlib import Path

import dagster as dg

from lq_engine.data.paths import DataPaths
from lq_engine.data.store import Location
from lq_engine.optimize import OptimizeConfig


class BracketSettings(dg.Config):
    """Exit legs of every stage-2 entry, as fractions of the entry price in (0, 1); null = no such leg."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing: float | None = None


class OptimizeSettings(dg.Config):
    """Overrides of luminaquant.toml [optimize] for one run; unset fields keep the file's value.

    ``brackets``, when given, replaces the file's whole [optimize.brackets] table for the run (legs
    left out or null are off, so ``brackets: {}`` turns them off). Stage 1 ignores brackets.
    """

    fold_mode: str | None = None
    n_folds: int | None = None
    holdout_fraction: float | None = None
    top_k_ratio: float | None = None
    top_k_min: int | None = None
    top_k_max: int | None = None
    audit_size: int | None = None
    sample_size: int | None = None
    search: str | None = None  # auto | grid | random | tpe | cmaes | qmc (stage 1)
    trials: int | None = None  # parameter sets a sampler evaluates
    timeout: float | None = None  # seconds a sampler may search
    batch_size: int | None = None  # sets per sampler batch
    prune_quantile: float | None = None  # early stopping across folds
    seed: int | None = None
    workers: int | None = None
    brackets: BracketSettings | None = None
    dataset_hash: str | None = None
    """Pin the frozen dataset by content hash (`lq optimize` pins one for all its strategies); stage 2
    always uses the hash its stage 1 scored."""

    def resolve(self, file_settings: dict, backend: str) -> OptimizeConfig:
        overrides = {k: v for k, v in self.model_dump().items() if v is not None and k != "dataset_hash"}
        return OptimizeConfig.from_mapping({**file_settings, **overrides, "backend": backend})


def stage_dir(paths: DataPaths, dataset: str, strategy: str) -> Location:
    """Where one (dataset, strategy) keeps its stage-1 result and its final result: in the lake,
    so stage 2 and the report can run on another machine."""
    return Location(paths.store, f"optimize/{dataset}/{strategy}")


def image_dir(paths: DataPaths, dataset: str, strategy: str) -> Path:
    """Local folder for the plots a step embeds in its metadata."""
    d = paths.results / "optimize" / dataset / strategy
    d.mkdir(parents=True, exist_ok=True)
    return d
