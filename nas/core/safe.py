"""Reading what a user (or anyone) hands nas, safely: files that may be anything, paths that
may point anywhere. Every failure is one :class:`~nas.core.errors.NasError` line naming the
file (and the field, where there is one), never a traceback, and nothing here executes or
writes what it reads.

- :func:`parse_json` / :func:`read_json_file`: JSON from bytes or a file, whatever the bytes
  are (not UTF-8, not JSON, nested deeper than Python recurses, a directory, unreadable).
- :func:`check_dir`: a path that must be (or become) a directory: an output folder, a runs
  folder.
- :func:`describe_file`: what a file that is not what was expected looks like (a checkpoint,
  an SQLite database, binary data), so that the error can say what was given instead.

Plain Python only: the commands that list runs import this without torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nas.core.errors import NasError

#: What the first bytes of a file say it is, for error messages.
_MAGIC = ((b"PK\x03\x04", "a zip archive (a torch checkpoint?)"),
          (b"SQLite format 3\x00", "an SQLite database"),
          (b"\x80", "a pickle"),
          (b"\x89PNG", "a PNG image"))


def describe_file(raw: bytes) -> str:
    """A few words on what ``raw`` (a file's first bytes) looks like."""
    for magic, what in _MAGIC:
        if raw.startswith(magic):
            return what
    try:
        raw[:4096].decode()
    except UnicodeDecodeError:
        return "binary data"
    return "text"


def parse_json(raw: bytes, where: str | Path, what: str = "a JSON file") -> Any:
    """The JSON value in ``raw``, read from ``where``; anything else is one NasError line.

    ``what`` says what the file should have been (``"a genome JSON file"``).
    """
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise NasError(f"{where} is not {what} (it is {describe_file(raw)}, not UTF-8 "
                       "text)") from None
    except RecursionError:
        raise NasError(f"{where} is not {what} (JSON nested too deeply)") from None
    except ValueError as e:  # JSONDecodeError is a ValueError
        kind = describe_file(raw)
        said = f"not JSON: {e}" if kind == "text" else f"it is {kind}"
        raise NasError(f"{where} is not {what} ({said})") from None


def read_bytes(path: str | Path, what: str = "a file") -> bytes:
    """The bytes of ``path``; a missing, unreadable or directory path is one NasError line."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NasError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise NasError(f"{path} is a directory, not {what}") from None
    except OSError as e:
        raise NasError(f"cannot read {path}: {e.strerror}") from None


def read_json_file(path: str | Path, what: str = "a JSON file") -> Any:
    """The JSON value in the file ``path`` (see :func:`parse_json`)."""
    return parse_json(read_bytes(path, what), path, what)


def check_dir(path: str | Path, flag: str) -> Path:
    """``path`` for a directory that nas reads from or writes into (``flag`` names the option,
    e.g. ``"--out"``): it must be a directory or not exist yet; a file there is an error now,
    before any work is done."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NasError(f"{flag} {path} is a file, not a directory: give a directory")
    for parent in path.parents:  # a file somewhere above it: mkdir would fail later
        if parent.exists():
            if not parent.is_dir():
                raise NasError(f"{flag} {path}: {parent} is a file, not a directory")
            break
    return path
