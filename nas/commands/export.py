"""``nas export``: a found architecture (or a baseline, a genome, a checkpoint) as files that
need only torch: standalone code with its weights, TorchScript, ONNX, a checkpoint, and a
diagram of its cells.

    nas export nasnet-rl-20250101-120000 --top 3          # the run's 3 best children
    nas export runs/my-run --trial 12 --format code,onnx  # one trial, two formats
    nas export resnet18 --input 3x32x32 --classes 10      # a baseline (fresh weights)
    nas export runs/train-resnet18-cifar10/checkpoint.pt  # a `nas train` checkpoint
    nas export exports/trial_3/trial_3.ckpt.pt            # a checkpoint `nas export` wrote

Weights. A search keeps no child's weights (children are many and short-lived), so a trial
exports with trained weights only once ``nas compare`` has retrained it: its checkpoint (the
seed with the best validation accuracy) is used then. Otherwise, and for baselines and genome
files, the architecture leaves with a fresh initialisation, and the output says so. A
checkpoint file (``nas train``, ``nas compare``, ``nas export --format checkpoint``, or a
training resume state of one network; see docs/checkpoints.md) always exports its trained
weights, and its dataset, recipe and result travel into the exported checkpoint.

Each architecture goes to its own directory, ``OUT/<name>/`` (``OUT`` is ``<run>/exports`` for
a run, ``./exports`` otherwise), with ``<name>.genome.json`` beside the formats asked for.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from nas.commands._common import (
    console,
    examples,
    load_genome_or_baseline,
    parse_input_shape,
    parse_options,
    print_json,
)
from nas.core.errors import NasError
from nas.core.safe import check_dir
from nas.results.runs import run_input

if TYPE_CHECKING:
    from nas.core.netgraph import Shape
    from nas.results.export import Item
    from nas.search.store import RunDir

DEFAULT_FORMATS = "code,torchscript,onnx,checkpoint,diagram"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="export a found architecture, baseline or checkpoint as torch-only "
                       "code, TorchScript, ONNX and a checkpoint",
        description="Export networks so they run without nas: standalone code (plus "
        "weights), TorchScript, ONNX (opset 17, checked) and a checkpoint that loads with "
        "torch.load(weights_only=True); NASNet cells also as a diagram (PNG).",
        epilog=examples(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a run (name or directory), a baseline name, a genome .json "
                                  "or a nas checkpoint .pt")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--top", type=int, help="a run's K best children (default 1)")
    which.add_argument("--trial", type=int, help="this trial of a run")
    p.add_argument("--format", default=DEFAULT_FORMATS,
                   help=f"comma-separated, from {DEFAULT_FORMATS} (default: all)")
    p.add_argument("--out", type=Path, help="output directory (default <run>/exports or "
                                            "./exports)")
    p.add_argument("--runs-dir", default="runs", help="where runs live; default ./runs")
    p.add_argument("--input", help="input size for a baseline or genome: 224 or CxHxW "
                                   "(default 224; a run's own dataset for its trials)")
    p.add_argument("--classes", type=int, help="classes for a baseline or genome (default "
                                               "1000; a run's own dataset for its trials)")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                   help="a network-level space option, e.g. cells=2 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of fresh weights (0)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imports networkx, torch: loaded here, where used, for start-up time
    from nas.results.export import ARTIFACTS, missing_extra, parse_formats

    formats = parse_formats(args.format, ARTIFACTS)  # before anything is loaded
    skipped = []
    for fmt in list(formats):  # a format whose extra is missing: skipped or refused, now
        hint = missing_extra(fmt)
        if hint is not None and args.format != DEFAULT_FORMATS:
            raise NasError(f"--format {fmt}: {hint}")
        if hint is not None:
            formats.remove(fmt)
            skipped.append(f"{hint}; skipped")
    if args.top is not None and args.top < 1:
        raise NasError(f"--top must be at least 1, got {args.top}")
    items, out, notes = resolve(args)
    notes += skipped
    if args.out is not None:
        check_dir(args.out, "--out")
    written = write(items, formats, out, notes, quiet=args.json)
    if args.json:
        print_json([{"name": i.name, "genome_id": i.genome.id, "trained": i.trained,
                     "weights": i.weights, "files": {k: str(v) for k, v in files.items()}}
                    for i, files in zip(items, written, strict=True)])
        return 0
    show(items, written, notes)
    return 0


# --- what to export --------------------------------------------------------------------------


def resolve(args: argparse.Namespace) -> tuple[list[Item], Path, list[str]]:
    """The items to export, the output directory and notes for the user."""
    # imports networkx: loaded here, where used, for start-up time
    from nas.core.space import BASELINES
    from nas.results.export import checkpoint_item, fresh_item, identifier

    source = str(args.source)
    path = Path(source)
    options = parse_options(args.space_option)
    is_run = source not in BASELINES and not path.is_file() and path.suffix != ".json"
    if not is_run and (args.top is not None or args.trial is not None):
        raise NasError(f"--top and --trial choose trials of a run; {source!r} is not a run")
    if path.suffix in CHECKPOINT_SUFFIXES and not path.is_file():
        raise NasError(f"checkpoint not found: {path}")
    if is_run:
        return _from_run(args, options)
    if path.suffix in CHECKPOINT_SUFFIXES:
        if options:
            raise NasError("--space-option cannot change a checkpoint's network (its weights "
                           "fit the options it was trained with)")
        return [checkpoint_item(path)], args.out or Path("exports"), []
    label, net = load_genome_or_baseline(source, options)
    shape = parse_input_shape(args.input or "224")
    classes = 1000 if args.classes is None else args.classes
    item = fresh_item(identifier(label if source in BASELINES else path.stem), net.genome,
                      dict(net.space_options), shape, classes, args.seed)
    return [item], args.out or Path("exports"), []


def _from_run(args: argparse.Namespace, options: dict[str, Any]
              ) -> tuple[list[Item], Path, list[str]]:
    # imports networkx, torch: loaded here, where used, for start-up time
    from nas.results.export import find_trial, open_run, ranked_trials, run_items, run_records

    try:
        run = open_run(args.source, args.runs_dir)
    except NasError as e:
        if Path(args.source).name != args.source:
            raise
        raise NasError(f"{args.source!r} is not a baseline (`nas baselines`), a genome .json, "
                       f"a checkpoint or a run: {e}") from None
    records = run_records(run)
    if args.trial is not None:
        chosen = [find_trial(run, records, args.trial)]
    else:
        ranked = ranked_trials(records)
        if not ranked:
            raise NasError(f"run {run.name!r} has no completed child to export yet")
        chosen = ranked[:args.top or 1]
    shape = _run_input(run, args) if args.input or args.classes else None
    items, notes = run_items(run, chosen, space_options=options, shape=shape, seed=args.seed)
    return items, args.out or run.path / "exports", notes


def _run_input(run: RunDir, args: argparse.Namespace) -> tuple[Shape, int]:
    """The input shape and classes of the run's data (or --input / --classes), read from the
    run, never by loading its data."""
    if args.input is not None and args.classes is not None:
        return parse_input_shape(args.input), args.classes

    shape, classes = run_input(run, fix="give --input CxHxW and --classes N")
    shape = parse_input_shape(args.input) if args.input else shape
    return shape, classes if args.classes is None else args.classes


# --- writing ---------------------------------------------------------------------------------


def write(items: list[Item], formats: list[str], out: Path, notes: list[str],
          quiet: bool = False) -> list[dict[str, Path]]:
    """Export every item in every format, with a progress bar; return each item's files (and
    add to ``notes`` what could not be written)."""

    # imports networkx, torch: loaded here, where used, for start-up time
    from nas.results.export import write_item

    written: list[dict[str, Path]] = []
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   console=_stderr(), transient=True, disable=quiet)
    # torch's deprecation notes (jit.save) and ONNX constant-folding remarks are not the
    # user's business; the exported files are checked instead
    with bar, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.")
        warnings.filterwarnings("ignore", message=".*[Cc]onstant folding.*")
        task = bar.add_task("exporting", total=len(items) * len(formats))
        for item in items:
            def step(fmt: str, name: str = item.name) -> None:  # formats started, counted
                bar.update(task, description=f"{name}: {fmt}", advance=1)

            written.append(write_item(item, formats, out, notes, step))
    return written


def show(items: list[Item], written: list[dict[str, Path]], notes: list[str]) -> None:
    # imports networkx, torch: loaded here, where used, for start-up time
    from nas.results.export import ONNX_OPSET

    out = console()
    table = Table(title="exported")
    for col in ("network", "genome", "weights", "directory", "files"):
        table.add_column(col)
    for item, files in zip(items, written, strict=True):
        directory = files["genome"].parent
        table.add_row(item.name, item.genome.id, item.weights, str(directory),
                      ", ".join(p.name for p in files.values()))
    out.print(table)
    if any("onnx" in f for f in written):
        out.print(f"ONNX: opset {ONNX_OPSET}, dynamic batch, checked with onnx.checker")
    for note in notes:
        out.print(f"note: {note}", markup=False)


def _stderr() -> Any:
    return Console(stderr=True)
