"""Small helpers shared by the command modules: argument parsing and output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nas.core.errors import NasError
from nas.core.fmt import human

__all__ = ["human"]  # re-exported for the commands


def examples(doc: str | None) -> str | None:
    """A command's ``--help`` epilog: the second paragraph of its module docstring (the
    example commands), under "examples:"."""
    return "examples:\n" + doc.split("\n\n")[1] if doc else None


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``224`` -> (3, 224, 224); ``3x32x32`` -> (3, 32, 32); ``1x8x8`` -> (1, 8, 8)."""
    try:
        parts = [int(p) for p in text.lower().replace(",", "x").split("x")]
    except ValueError:
        raise NasError(f"--input {text!r}: expected a size like 224 or CxHxW like 3x32x32") \
            from None
    if len(parts) == 1:
        parts = [3, parts[0], parts[0]]
    elif len(parts) == 2:
        parts = [3, *parts]
    if len(parts) != 3 or min(parts) < 1:
        raise NasError(f"--input {text!r}: expected a size like 224 or CxHxW like 3x32x32")
    return (parts[0], parts[1], parts[2])


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["cells=2", "width=16"]`` -> {"cells": 2, "width": 16} (values parsed as JSON)."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise NasError(f"option {pair!r}: expected KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def load_genome_or_baseline(ref: str, options: dict[str, Any] | None = None) -> tuple[str, Any]:
    """Resolve a baseline name or a genome JSON file to (label, Baseline-like object)."""
    # imports networkx: loaded here, where used, for start-up time
    from nas.core.space import BASELINES, Baseline, load_genome

    if ref in BASELINES:
        baseline = BASELINES.get(ref)
        return ref, baseline.with_options(options) if options else baseline
    path = Path(ref)
    if path.suffix == ".json" or path.exists():
        genome = load_genome(path)
        return genome.id, Baseline(path.stem, genome, options or {})
    known = ", ".join(BASELINES.names())
    raise NasError(f"{ref!r} is neither a baseline nor a genome JSON file; baselines: {known}")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=max(120, Console().width))


def counting_bar(err: Console, width: int) -> Progress:
    """A transient progress bar on ``err`` (stderr) over a loop of known length: the task's
    description padded to ``width`` characters, the bar, done/total, time elapsed and left."""
    return Progress(TextColumn(f"{{task.description:<{width}}}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=err, transient=True)
