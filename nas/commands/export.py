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
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.commands._common import (
    console,
    examples,
    load_genome_or_baseline,
    parse_input_shape,
    parse_options,
    print_json,
)
from nas.core.errors import NasError, ShapeError
from nas.core.safe import check_dir

if TYPE_CHECKING:
    from torch import nn

    from nas.core.genome import Genome
    from nas.core.netgraph import NetGraph, Shape
    from nas.search.store import RunDir, TrialRecord

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


@dataclass
class Item:
    """One network to export, built and with its weights loaded."""

    name: str  # file stem: a Python identifier, so that `import <name>` works
    genome: Genome
    space_options: dict[str, Any]
    model: nn.Module
    graph: NetGraph
    weights: str  # where the weights come from, for the user
    trained: bool
    recipe: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] | None = None  # name, classes, mean, std (from a checkpoint)
    result: dict[str, Any] | None = None  # the training's Result (from a checkpoint)


def run(args: argparse.Namespace) -> int:
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
    from nas.core.space import BASELINES

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
        return [_from_checkpoint(path)], args.out or Path("exports"), []
    label, net = load_genome_or_baseline(source, options)
    shape = parse_input_shape(args.input or "224")
    classes = 1000 if args.classes is None else args.classes
    item = _fresh(_identifier(label if source in BASELINES else path.stem), net.genome,
                  dict(net.space_options), shape, classes, args.seed)
    return [item], args.out or Path("exports"), []


def _from_run(args: argparse.Namespace, options: dict[str, Any]
              ) -> tuple[list[Item], Path, list[str]]:
    from nas.results.compare import trained_checkpoints
    from nas.results.runs import find_trial, open_run, ranked_trials, run_records
    from nas.search.store import run_config

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
    trained = trained_checkpoints(run)
    space_options = {**run_config(run).space_options, **options}
    items, fresh, refit = [], [], []
    spec: tuple[Shape, int] | None = None
    for record in chosen:
        if record.number in trained and options:
            refit.append(record.number)  # other options, another network: weights do not fit
        if record.number in trained and not options:
            ckpt, rec = trained[record.number]
            item = _from_checkpoint(ckpt, name=f"trial_{record.number}")
            test = rec["result"].get("test_top1")
            item.weights = (f"retrained by nas compare (seed {rec['seed']}, "
                            f"{rec['budget']['epochs']:g} epochs, val "
                            f"{rec['result']['best_val_top1']:.2f}%"
                            + (f", test {test:.2f}%" if test is not None else "") + ")")
            item.metrics = {**_search_metrics(record), **item.metrics}
        else:
            spec = spec or _run_input(run, args)
            item = _fresh(f"trial_{record.number}", record.genome, space_options, *spec,
                          args.seed)
            item.metrics = _search_metrics(record)
            fresh.append(record.number)
        items.append(item)
    notes = []
    if refit:
        notes.append(f"trial(s) {', '.join(map(str, refit))}: --space-option changes the "
                     "network, so its nas compare checkpoint does not fit; exported with fresh "
                     "weights")
        fresh = [n for n in fresh if n not in refit]
    if fresh:
        which = ", ".join(map(str, fresh))
        notes.append(f"trial(s) {which}: untrained weights (a search keeps no child's "
                     f"weights); `nas compare {run.name}` retrains the best and keeps their "
                     "checkpoints, which `nas export` then uses")
    return items, args.out or run.path / "exports", notes


def _search_metrics(record: TrialRecord) -> dict[str, Any]:
    metrics = record.metrics() or {}
    return {"search_trial": record.number, **{f"search_{k}": v for k, v in metrics.items()}}


def _run_input(run: RunDir, args: argparse.Namespace) -> tuple[Shape, int]:
    """The input shape and classes of the run's data (or --input / --classes), read from the
    run, never by loading its data."""
    if args.input is not None and args.classes is not None:
        return parse_input_shape(args.input), args.classes
    from nas.results.runs import run_input

    shape, classes = run_input(run, fix="give --input CxHxW and --classes N")
    shape = parse_input_shape(args.input) if args.input else shape
    return shape, classes if args.classes is None else args.classes


def _from_checkpoint(path: Path, name: str | None = None) -> Item:
    """A checkpoint of any kind and version that holds one network (docs/checkpoints.md)."""
    from nas.core.space import create_space
    from nas.training.checkpoint import RESUME, build_network, checkpoint_genome, load_checkpoint

    ckpt = load_checkpoint(path)
    genome = checkpoint_genome(ckpt, path)
    model = build_network(ckpt, path)
    options = dict(ckpt["space_options"])
    graph = create_space(genome.space, **options).graph(
        genome, tuple(ckpt["input_shape"]), int(ckpt["num_classes"]))
    stem = re.sub(r"(\.ckpt)?\.(pt|pth|ckpt)$", "", path.name)
    stem = path.parent.name if stem in ("checkpoint", "model") else stem
    metrics = dict(ckpt["metrics"])
    result = ckpt["result"]
    if result is not None and result.get("test_top1") is not None:
        metrics["test_top1"] = result["test_top1"]
    where = (f"training resume state, epoch {ckpt['epoch']}, " if ckpt["kind"] == RESUME
             else "")
    return Item(name or _identifier(stem), genome, options, model, graph,
                f"trained ({where}{path})", True, dict(ckpt["recipe"]), metrics,
                ckpt["dataset"], result)


def _fresh(name: str, genome: Genome, options: dict[str, Any],
           shape: Shape, classes: int, seed: int) -> Item:
    import torch

    from nas.core.space import create_space

    space = create_space(genome.space, **options)
    try:
        graph = space.graph(genome, shape, classes)
    except ShapeError as e:
        raise NasError(f"{name} does not fit {'x'.join(map(str, shape))} inputs: {e}") from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.build(genome, shape, classes)
    return Item(name, genome, options, model.eval(), graph,
                f"untrained (fresh initialisation, seed {seed})", False)


def _identifier(label: str) -> str:
    """``trial-12`` -> ``trial_12``; ``3x`` -> ``net_3x``: a name Python can import."""
    name = re.sub(r"\W+", "_", label).strip("_") or "net"
    return name if name[0].isalpha() else f"net_{name}"


# --- writing ---------------------------------------------------------------------------------


def write(items: list[Item], formats: list[str], out: Path, notes: list[str],
          quiet: bool = False) -> list[dict[str, Path]]:
    """Export every item in every format, with a progress bar; return each item's files (and
    add to ``notes`` what could not be written)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

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
            directory = out / item.name
            directory.mkdir(parents=True, exist_ok=True)
            files: dict[str, Path] = {"genome": directory / f"{item.name}.genome.json"}
            item.genome.save(files["genome"])
            for fmt in formats:
                bar.update(task, description=f"{item.name}: {fmt}")
                files.update(export_one(item, fmt, directory, notes))
                bar.advance(task)
            written.append(files)
    return written


def export_one(item: Item, fmt: str, directory: Path, notes: list[str]) -> dict[str, Path]:
    """Write ``item`` in one format (or its cell diagram) to ``directory``."""
    from nas.results.diagrams import draw_genome
    from nas.results.export import export_network

    if fmt != "diagram":
        return export_network(item.model, item.graph, item.genome, directory, name=item.name,
                              formats=[fmt], space_options=item.space_options,
                              recipe=item.recipe, metrics=item.metrics,
                              dataset=item.dataset, result=item.result)
    png = draw_genome(item.genome, directory / f"{item.name}.cells.png",
                      space_options=item.space_options,
                      title=f"{item.name} ({item.genome.space} {item.genome.id})")
    if png is None:
        notes.append(f"{item.name}: no cell diagram (space {item.genome.space!r} has no "
                     "searched cells)")
        return {}
    return {"diagram": png}


def show(items: list[Item], written: list[dict[str, Path]], notes: list[str]) -> None:
    from rich.table import Table

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
    from rich.console import Console

    return Console(stderr=True)
