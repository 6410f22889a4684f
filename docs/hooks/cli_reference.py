"""MkDocs hook (mkdocs.yml `hooks:`): adds reference/cli.md, generated at build time from the `lq`
argument parser (lq_assets.cli.main.build_parser).

Nothing on that page is copied by hand, so it always lists every verb and flag of the code the site
is built from.
"""

from __future__ import annotations

import argparse
import os

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal: a fixed width gives the same page everywhere

from lq_assets.cli.main import build_parser  # noqa: E402

INTRO = """# CLI reference

Generated from the argument parser of `lq` (`lq_assets/cli/main.py`) when the site is built: every
verb, its help and its flags. `lq VERB --help` prints the same text. How `lq` reports progress,
errors and exit codes is under [Output, errors and exit codes](cli-behaviour.md).
"""


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand, in the order they were registered."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias of a verb already listed
                    continue
                seen.add(id(sub))
                out.append((name, helps.get(name, ""), sub))
    return out


def _section(lines: list[str], path: list[str], summary: str, parser: argparse.ArgumentParser) -> None:
    lines.append(f"\n{'#' * min(len(path) + 1, 4)} `lq {' '.join(path)}`\n")
    if summary:
        lines.append(summary.replace("%(prog)s", "lq") + "\n")
    lines.append("```text\n" + parser.format_help().rstrip() + "\n```\n")
    for name, helptext, sub in _subcommands(parser):
        _section(lines, [*path, name], helptext, sub)


def render() -> str:
    root = build_parser()
    lines = [INTRO, "## `lq`\n", "```text\n" + root.format_help().rstrip() + "\n```\n"]
    for name, helptext, sub in _subcommands(root):
        _section(lines, [name], helptext, sub)
    return "\n".join(lines)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, "reference/cli.md", content=render()))
    return files
