"""``nas train``: train one baseline or genome with the search's own trainer.

    nas train resnet18 --dataset cifar10 --data-dir data/ --epochs 30
    nas train genome.json --dataset imagefolder --data-dir ../shared/data/cifar10 --seconds 600

Shows a progress bar (epoch, loss, validation accuracy, images/s) on stderr and writes
``result.json`` and ``checkpoint.pt`` (a nas checkpoint: weights, genome, input shape, dataset,
recipe, metrics; loads with ``torch.load(..., weights_only=True)`` and in ``nas export``; see
docs/checkpoints.md) to ``--out``. Bad input (unknown dataset, missing
directory, a genome that does not fit the images, a zero budget) stops before anything is
written; a child that diverges or runs out of memory still writes its result.json (no
checkpoint) and exits 1.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from nas.commands._common import console, human, parse_options
from nas.core.errors import NasError
from nas.training.recipe import Budget

if TYPE_CHECKING:
    from nas.training.result import Progress


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train a baseline or genome and write its result and "
                                     "checkpoint")
    p.add_argument("network", help="a baseline name (see `nas baselines`) or a genome .json")
    p.add_argument("--dataset", default="digits",
                   help="digits (offline default), cifar10 or imagefolder")
    p.add_argument("--data-dir", help="the dataset's directory (cifar10, imagefolder)")
    p.add_argument("--download", action="store_true", help="download the dataset if missing")
    p.add_argument("--limit", type=int, help="use at most this many training (and test) "
                                             "images: for smoke runs")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=float, help="epochs to train (default 10)")
    budget.add_argument("--steps", type=int, help="optimiser steps to train")
    budget.add_argument("--seconds", type=float, help="seconds of training")
    p.add_argument("--batch-size", type=int,
                   help="batch size (default: the dataset's: 32 for digits, else 128)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: 0.1 x batch/128 for "
                                            "SGD, 2e-3 for AdamW)")
    p.add_argument("--optimizer", help="sgd (Nesterov momentum, the default) or adamw")
    p.add_argument("--weight-decay", type=float, help="default: 5e-4 (SGD), 0.05 (AdamW)")
    p.add_argument("--label-smoothing", type=float, help="default 0")
    p.add_argument("--seed", type=int, default=0, help="weights, batch order, augmentation")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision (default: on for GPUs, off for CPUs; on helps AMX "
                        "CPUs for plain convolutions)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: a GPU if there is one)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                   help="a network-level space option, e.g. cells=2 (repeatable)")
    p.add_argument("--no-test", action="store_true",
                   help="do not evaluate the test split at the end")
    p.add_argument("--out", type=Path, help="output directory (default runs/train-<name>-"
                                            "<dataset>)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """A thin layer over :func:`nas.api.train`: flags in, a progress bar and a summary out."""
    # imports torch: loaded here, where used, for start-up time
    import torch

    # imports networkx: loaded here, where used, for start-up time
    from nas.api import resolve, train

    # Everything a user can get wrong is checked before training starts and before any file
    # is written (nas.api.train checks the recipe, the data and the fit the same way).
    spec = resolve(args.network, parse_options(args.space_option))
    if args.epochs is None and args.steps is None and args.seconds is None:
        args.epochs = 10.0
    budget = Budget(epochs=args.epochs, steps=args.steps, seconds=args.seconds)
    recipe = {k: v for k, v in {
        "optimizer": args.optimizer, "lr": args.lr, "weight_decay": args.weight_decay,
        "label_smoothing": args.label_smoothing, "batch_size": args.batch_size,
        "seed": args.seed, "amp": args.amp}.items() if v is not None}
    if args.threads is not None:
        if args.threads < 1:
            raise NasError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    out = args.out or Path("runs") / f"train-{_slug(spec.label)}-{args.dataset}"
    err = console_err()
    header = f"{spec.label} ({spec.genome.space}) on {args.dataset}"
    with _ProgressBar(err, budget, enabled=not args.json, header=header) as bar:
        training = train(args.network, dataset=args.dataset, data_dir=args.data_dir,
                         recipe=recipe, epochs=args.epochs, steps=args.steps,
                         seconds=args.seconds, limit=args.limit, download=args.download,
                         space_options=parse_options(args.space_option), device=args.device,
                         evaluate_test=not args.no_test, out=out, progress=bar.update)
    result = training.result
    if args.json:
        print(json.dumps(training.to_dict(), indent=2))
    else:
        _print_summary(spec.label, training.dataset["name"], result, out,
                       training.checkpoint is not None)
    if result.status not in ("ok", "pruned"):
        err.print(f"nas train: child {result.status}: {result.message}")
        return 1
    return 0


def console_err() -> Any:
    return Console(stderr=True, highlight=False)


class _ProgressBar:
    """A rich progress bar fed by the trainer's progress hook (steps, or seconds if that is
    the only budget), showing epoch, loss, last validation accuracy and images/s. It appears
    with the first progress report, under ``header``: an error before training (bad data, a
    misfit) prints its one line alone."""

    def __init__(self, console: Any, budget: Any, enabled: bool, header: str = "") -> None:
        # loaded here, where used, for start-up time
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.enabled = enabled
        self.budget = budget
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TaskProgressColumn(), TextColumn("{task.fields[stats]}"),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                            disable=not enabled)
        self.task = self.bar.add_task("starting", total=None, stats="")
        self.console = console
        self.header = header
        self.started = False

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.bar.stop()

    def update(self, p: Progress) -> None:
        if not self.started and self.enabled:
            self.started = True
            if self.header:
                self.console.print(self.header)
            self.bar.start()
        if p.total_steps is not None:
            total, done = float(p.total_steps), float(p.step)
        else:
            total, done = float(p.seconds or 1.0), p.elapsed
        epochs = f"/{self.budget.epochs:g}" if self.budget.epochs is not None else ""
        acc = f"  val {p.val_top1:5.1f}%" if p.val_top1 is not None else ""
        self.bar.update(self.task, total=total, completed=done,
                        description=f"epoch {p.epoch:.1f}{epochs}",
                        stats=f"loss {p.loss:.3f}{acc}  {p.images_per_second:,.0f} img/s")


def _print_summary(label: str, dataset: str, r: Any, out: Path, checkpoint: bool) -> None:
    c = console()
    c.print(f"[bold]{label}[/bold] on {dataset}: {r.status}"
            + (f" ({r.message})" if r.message else ""))
    test = f", test top-1 {r.test_top1:.2f}%" if r.test_top1 is not None else ""
    c.print(f"  val top-1 {r.best_val_top1:.2f}% best, {r.final_val_top1:.2f}% final{test}")
    c.print(f"  {r.epochs:.2f} epochs, {r.steps:,} steps in {r.train_seconds:.1f} s "
            f"({r.images_per_second:,.0f} img/s) on {r.device}")
    c.print(f"  {human(r.params)} params, {human(r.macs)} multiply-adds, latency "
            f"{r.latency_ms_b1:.2f} ms (batch 1), {r.latency_ms_batch:.1f} ms "
            f"(batch {r.latency_batch})")
    written = [out / "result.json"] + ([out / "checkpoint.pt"] if checkpoint else [])
    c.print("  wrote " + ", ".join(str(p) for p in written))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "net"
