"""The documentation site (docs/, mkdocs.yml) builds with --strict, its generated references are
complete, and every complete Python example of its pages and of the README runs.

Convention: a ```python block whose first line is ``# not run: <why>`` is a fragment, not an example,
and is skipped (visibly, with its reason). Every other block is written to a file and run; a block
that defines a strategy is also loaded as one and decides over generated bars.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from lq_engine.project import CHECKOUT_ROOT as REPO_ROOT

DOCS = REPO_ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md")) + [REPO_ROOT / "README.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"#\s*not run:\s*\S")
MIN_EXAMPLES = 3  # the README's strategy, the strategy template, the portfolio example (at least)


def _blocks() -> list[tuple[str, int, str]]:
    """(page, index, code) of every ```python block of the docs pages and the README."""
    out = []
    for page in PAGES:
        for k, m in enumerate(BLOCK.finditer(page.read_text())):
            out.append((str(page.relative_to(REPO_ROOT)), k, m.group(1)))
    return out


def _examples() -> list[tuple[str, int, str]]:
    return [b for b in _blocks() if not NOT_RUN.match(b[2].lstrip().split("\n", 1)[0])]


def test_the_site_builds_strict_with_every_verb_and_config_key(tmp_path):
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", DISABLE_MKDOCS_2_WARNING="true")
    # CI's command (.ci/run); without uv on PATH, the mkdocs of this interpreter's environment
    mkdocs = ["uv", "run", "mkdocs"] if shutil.which("uv") else [sys.executable, "-m", "mkdocs"]
    r = subprocess.run([*mkdocs, "build", "--strict", "-d", str(site)], cwd=REPO_ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (site / "index.html").is_file()

    # the CLI reference is generated from lq's parser: every verb (and sub-verb) has its section
    from lq_assets.cli.main import build_parser

    cli = (site / "reference" / "cli" / "index.html").read_text()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) >= 10
    for verb, parser in sub.choices.items():
        assert f'id="lq-{verb}"' in cli, verb
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in cli, (verb, flag)

    # the configuration keys are generated from the code that checks luminaquant.toml
    from lq_engine.optimize.config import OptimizeConfig

    config = (site / "reference" / "configuration" / "index.html").read_text()
    for f in dataclasses.fields(OptimizeConfig):
        assert f"<code>{f.name}</code>" in config, f.name

    # the API reference was rendered by mkdocstrings, not left as a directive
    api = (site / "reference" / "api" / "index.html").read_text()
    assert ":::" not in api and "PortfolioStrategy" in api and "indicator" in api


def test_every_complete_python_example_runs(tmp_path):
    from lq_engine.api import PortfolioStrategy, Strategy
    from lq_engine.optimize.checks import generated_data
    from lq_engine.strategies.registry import load_file

    examples = _examples()
    skipped = [b for b in _blocks() if b not in examples]
    for page, k, code in skipped:  # a skipped block must say why, on its first line
        assert NOT_RUN.match(code.lstrip()), (page, k)
    assert len(examples) >= MIN_EXAMPLES, f"only {len(examples)} examples ran: {[(p, k) for p, k, _ in examples]}"

    strategies = 0
    for page, k, code in examples:
        classes = [n.name for n in ast.parse(code).body if isinstance(n, ast.ClassDef)]
        stem = re.sub(r"(?<!^)(?=[A-Z])", "_", classes[0]).lower() if classes else f"example_{k}"
        folder = tmp_path / f"{Path(page).stem}_{k}"
        folder.mkdir()
        path = folder / f"{stem}.py"
        path.write_text(code)
        namespace = runpy.run_path(str(path), run_name="__docs_example__")
        if not any(isinstance(v, type) and issubclass(v, (Strategy, PortfolioStrategy)) and v not in
                   (Strategy, PortfolioStrategy) for v in namespace.values()):
            continue
        spec = load_file(path)  # loaded as the platform loads a strategy file, and run
        targets = np.asarray(spec.decisions(None, generated_data(spec)).targets)
        assert np.isfinite(targets).all(), (page, k)
        if spec.is_portfolio:
            assert (np.abs(targets).sum(axis=1) <= getattr(spec, "gross", 1.0) + 1e-12).all(), (page, k)
        else:
            assert (np.abs(targets) <= 1.0).all(), (page, k)
        assert (targets != 0).any(), f"{page} example {k} never took a position on the generated bars"
        strategies += 1
    assert strategies >= 3


def test_the_simulators_page_names_tests_that_exist():
    """docs/explanations/simulators.md names, per simulator, the test that holds it equal to its
    reference (`tests/x.py::test_name`, or `::test_name` for another test of the file named last)."""
    page = (DOCS / "explanations" / "simulators.md").read_text()
    named, current = 0, None
    for m in re.finditer(r"`(tests/[\w/]+\.py)(?:::(\w+))?`|`::(\w+)`", page):
        path, name, short = m.groups()
        current = path or current
        src = REPO_ROOT / current
        assert src.is_file(), current
        name = name or short
        if name:
            defined = {n.name for n in ast.walk(ast.parse(src.read_text())) if isinstance(n, ast.FunctionDef)}
            assert name in defined, f"{current}::{name} is named on the Simulators page but does not exist"
            named += 1
    assert named >= 15
