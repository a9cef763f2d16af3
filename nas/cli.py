"""The ``nas`` command line: one subcommand per module in :mod:`nas.commands`.

Each command module defines ``add_parser(subparsers)``; it sets ``func`` on its parser. Heavy
imports (torch, ray) happen inside the commands so that ``nas --help`` stays instant. Errors a
user can cause (:class:`~nas.core.errors.NasError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from nas.core.errors import NasError

COMMANDS = ("spaces", "baselines", "controllers", "evaluators", "datasets", "show", "search",
            "runs", "status", "dashboard", "benchmark", "proxies", "train", "export", "compare",
            "report")


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
    except NasError as e:  # control characters (from a hostile file) shown escaped
        print(f"nas {args.command}: error: {_printable(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nas runs --json | head`: the reader has what it wanted
        _drop_stdout()
        return 141  # 128 + SIGPIPE, as a command killed by the closed pipe would exit
    except OSError as e:
        if e.errno not in _DISK_ERRORS:
            raise
        where = f" ({e.filename})" if e.filename else ""
        print(f"nas {args.command}: error: {e.strerror}{where}; every file nas writes is "
              "replaced atomically, so what was there before is kept", file=sys.stderr)
        return 2


#: Errors of the disk, not of nas: a full disk or quota, a read-only file system, no permission.
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def _printable(text: str) -> str:
    """``text`` on one line: newlines, terminal escapes and other control characters that
    a damaged or hostile file put in a message are shown escaped, never obeyed."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit does not fail again on the
    closed pipe (and print a second error)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout already closed or not a real file
        pass
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
