"""``lq init DIR``: write a new project (``luminaquant.toml``, ``strategies/``, ``workspace.yaml``,
``dagster_home/``) for an installed LuminaQuant; ``lq`` then finds it from any folder inside it."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init",
        help="write a new project folder (luminaquant.toml, strategies/, workspace.yaml, dagster_home/)",
        description="Write a new LuminaQuant project into DIR (created if needed): luminaquant.toml "
        "(named universes, optimizer defaults), strategies/ with an example strategy and its test, "
        "workspace.yaml (the Dagster code location) and dagster_home/dagster.yaml (the Dagster "
        "instance). Data, results and Dagster state then live in DIR. Every `lq` command run "
        "inside DIR (or with LQ_PROJECT=DIR) works in that project. Refuses to overwrite a project.",
    )
    p.add_argument("dir", help="the project folder to create (or an empty existing one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from lq_engine.authoring.scaffold import init_project

    files = init_project(Path(args.dir))
    root = files[0].parent
    for f in files:
        print(f"wrote {f.relative_to(root)}")
    where = os.path.relpath(root) if not os.path.relpath(root).startswith("..") else str(root)
    print(f"project ready in {root}")
    print(f"next: cd {where} && lq demo   (then lq ui, lq strategy check trend_pullback)")
    return 0
