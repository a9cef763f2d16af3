"""The ``nas`` command line: one subcommand per module in :mod:`nas.commands`.

Each command module defines ``add_parser(subparsers)``; it sets ``func`` on its parser. Heavy
imports (torch, ray) happen inside the commands so that ``nas --help`` stays instant. Errors a
user can cause (:class:`~nas.core.errors.NasError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from nas.core.errors import NasError

COMMANDS = ("spaces", "baselines", "show", "search", "runs", "status", "benchmark", "train",
            "export", "compare", "report", "proxies")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nas", description="Neural architecture search for PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"nas.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NasError as e:
        print(f"nas {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
