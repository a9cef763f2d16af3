"""``nas proxies``: score random cells with zero-cost proxies and rank them against a table.

    nas proxies --space nasbench201 --dataset imagefolder --data-dir ../shared/data/cifar10 \\
        --cells 1000 --plot-dir proxies/
    nas proxies --space nasnet --dataset imagefolder --data-dir ../shared/data/cifar10 --cells 5

samples ``--cells`` distinct genomes of the space (seeded), builds each network with weights
from ``--seed``, scores it with every proxy (:mod:`nas.evaluators.proxies`) on one seeded
minibatch of the training split, and, where a table of trained accuracies exists for the space
(NAS-Bench-201 ships one), prints for each proxy Spearman's rho and Kendall's tau against the
table, the top-10% precision (the share of the proxy's top tenth that is in the table's top
tenth) and the seconds per cell, with the parameter count and multiply-adds as baselines and a
combination (the weighted mean of the ranks of ``--combine``) beside them. Without a table it
prints the scores. ``--plot-dir`` writes a scatter plot per proxy; ``--save FILE`` keeps every
cell's scores in a JSON-lines file and takes back the cells it already has (resume, or
re-plot); ``--cells all`` scores every cell of the table.

The default combination, ``4*meco + synflow`` (weighted mean rank), was chosen among the
weighted rank combinations of MeCo, synflow, NASWOT and the parameter count on 1,000 cells
sampled with seed 1 (a different sample, minibatch and initialisation from the seed-0
benchmark it is reported on): it was the best there, and MeCo alone beat every equal-weight
mean of ranks.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from nas.commands._common import console, counting_bar, examples, parse_options, print_json
from nas.core.errors import NasError, ShapeError

if TYPE_CHECKING:
    from nas.core.genome import Genome
    from nas.core.space import Space

DEFAULT_COMBINATION = "meco:4,synflow"  # chosen on 1,000 other cells (seed 1): see the module doc
TOP_FRACTION = 0.1  # top-10% precision


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "proxies", help="score random cells with zero-cost proxies; correlate with a table",
        description="Score random genomes of a space with zero-cost proxies (networks at "
        "initialisation, one seeded minibatch of the training images) and, where a table of "
        "trained accuracies exists for the space, rank-correlate each proxy, the params and "
        "multiply-adds (macs) baselines and a rank combination with it.",
        epilog=examples(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="nasbench201", help="the space (default nasbench201)")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                   help="a network-level space option, e.g. channels=16 (repeatable)")
    p.add_argument("--dataset", default="cifar10",
                   help="the images to score on: cifar10, imagefolder or digits")
    p.add_argument("--data-dir", help="the dataset's directory (cifar10, imagefolder)")
    p.add_argument("--download", action="store_true", help="download the dataset if missing")
    p.add_argument("--limit", type=int, help="load at most this many training images")
    p.add_argument("--cells", default="100", metavar="N|all",
                   help="distinct genomes to score (default 100); 'all': every cell of the "
                        "table")
    p.add_argument("--proxies", default=None, metavar="LIST",
                   help="comma-separated proxies (default: all registered)")
    p.add_argument("--combine", default=None, metavar="LIST",
                   help="proxies whose weighted mean rank is reported as a combination, "
                        "each NAME[:WEIGHT] (default "
                        f"{DEFAULT_COMBINATION} when they are scored; 'none' for none)")
    p.add_argument("--table", default=None, metavar="FILE",
                   help="CSV with columns arch,test_accuracy (default: the table that ships "
                        "for the space, if any)")
    p.add_argument("--seed", type=int, default=0,
                   help="cell sample, weights and minibatch (default 0)")
    p.add_argument("--batch-size", type=int, default=64, help="images per minibatch (64)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    p.add_argument("--save", type=Path, metavar="FILE",
                   help="append every cell's scores to this JSON-lines file; cells already "
                        "in it are taken from it")
    p.add_argument("--plot-dir", type=Path, help="write a scatter plot per proxy here")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


@dataclass
class Cell:
    """One scored genome."""

    genome: Genome
    scores: dict[str, float]
    seconds: dict[str, float]  # wall-clock, per proxy and "build" (building the network)
    cpu: dict[str, float]  # CPU seconds of this process, the same keys
    accuracy: float | None = None  # the table's, when there is one


@dataclass
class Row:
    """One line of the correlation table."""

    name: str
    spearman: float
    kendall: float
    top: float  # top-10% precision
    seconds: float  # per cell: building the network plus this proxy (or its members)
    cpu: float  # the same in CPU seconds (fairer on a shared machine)
    members: dict[str, float] = field(default_factory=dict)  # a combination's weights

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"spearman": self.spearman, "kendall": self.kendall,
               "top10_precision": self.top, "seconds_per_cell": self.seconds,
               "cpu_seconds_per_cell": self.cpu}
        if self.members:
            out["members"] = self.members
        return out


def run(args: argparse.Namespace) -> int:
    # imports torch: loaded here, where used, for start-up time
    import torch

    # imports networkx: loaded here, where used, for start-up time
    from nas.core.space import create_space
    from nas.evaluators import proxies as px  # imports torch: loaded where used (start-up)
    from nas.evaluators.table import SHIPPED_TABLES, load_table, shipped_table
    from nas.training.data import load_dataset

    space = create_space(args.space, **parse_options(args.space_option))
    names = px.parse_proxies(args.proxies) if args.proxies else px.list_proxies()
    combine = _combination(args.combine, names)
    if args.threads is not None:
        if args.threads < 1:
            raise NasError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    table: dict[Genome, float] | None = None
    if args.table is not None or space.name in SHIPPED_TABLES:
        table = load_table(args.table or shipped_table(space.name), space)
    genomes = _sample(space, table, args.cells, args.seed)

    data = load_dataset(args.dataset, args.data_dir, download=args.download, seed=args.seed,
                        limit=args.limit)
    batch = px.sample_batch(data, args.batch_size, args.seed)
    settings = {"space": space.name, "space_options": dict(space.options),
                "dataset": data.name, "input_shape": list(data.input_shape),
                "num_classes": data.num_classes, "limit": args.limit,
                "batch_size": args.batch_size, "seed": args.seed}
    saved = _saved(args.save, settings)

    err = _console_err()
    if not args.json:
        err.print(f"{len(genomes)} {space.name} cells x {len(names)} proxies on "
                  f"{data.summary()}; batch {args.batch_size}, seed {args.seed}, "
                  f"{torch.get_num_threads()} thread(s)")
    cells = _score_all(space, genomes, names, batch, data.num_classes, args, settings, saved,
                       err)
    if table is not None:
        for cell in cells:
            cell.accuracy = table[cell.genome]
        rows = _correlations(cells, names, combine)
        if args.plot_dir:
            _plots(cells, rows, args.plot_dir, space.name)
            err.print(f"plots written to {args.plot_dir}/")
    else:
        rows = []
        if args.plot_dir:
            err.print(f"no table for space {space.name!r}: nothing to plot against")

    if args.json:
        print_json({"settings": settings, "cells": len(cells),
                    "table": None if table is None else str(args.table or
                                                            shipped_table(space.name)),
                    "proxies": {r.name: r.to_dict() for r in rows},
                    "seconds_per_cell": _seconds(cells, names, "seconds"),
                    "cpu_seconds_per_cell": _seconds(cells, names, "cpu"),
                    "scores": [_cell_dict(c, space) for c in cells]})
    elif table is not None:
        _print_correlations(rows, len(cells), cells)
    else:
        _print_scores(cells, names, space.name)
    return 0


# --- choosing and scoring cells -------------------------------------------------------------


def _combination(text: str | None, names: list[str]) -> dict[str, float]:
    # imports networkx, torch: loaded here, where used, for start-up time
    from nas.evaluators.proxies import parse_combination

    if text is None:
        default = parse_combination(DEFAULT_COMBINATION)
        return default if set(default) <= set(names) else {}
    if text.strip().lower() == "none":
        return {}
    members = parse_combination(text)
    missing = [m for m in members if m not in names]
    if missing:
        raise NasError(f"--combine {text}: {', '.join(missing)} not among --proxies")
    if len(members) < 2:
        raise NasError(f"--combine {text}: a combination needs two or more proxies")
    return members


def _sample(space: Space, table: dict[Genome, float] | None, cells: str,
            seed: int) -> list[Genome]:
    """``cells`` distinct genomes, seeded: drawn from the table when there is one (every one
    then has an accuracy), else sampled from the space."""

    pool = None if table is None else sorted(table, key=lambda g: g.id)
    if cells.strip().lower() == "all":
        if pool is None:
            raise NasError(f"--cells all needs a table (space {space.name!r} has none); give "
                           f"a number")
        return pool
    try:
        n = int(cells)
    except ValueError:
        raise NasError(f"--cells {cells!r}: expected a number or 'all'") from None
    if n < 1:
        raise NasError(f"--cells must be at least 1, got {n}")
    rng = random.Random(seed)
    if pool is not None:
        if n > len(pool):
            raise NasError(f"--cells {n} is more than the table's {len(pool)} cells")
        return rng.sample(pool, n)
    chosen: dict[Genome, None] = {}
    for _ in range(100 * n):
        chosen.setdefault(space.sample(rng))
        if len(chosen) == n:
            break
    return list(chosen)


def _saved(path: Path | None, settings: dict[str, Any]) -> dict[Genome, dict[str, Any]]:
    # imports networkx, torch: loaded here, where used, for start-up time
    from nas.evaluators.proxies import read_scores

    if path is None or not path.exists() or path.stat().st_size == 0:
        return {}
    theirs, rows = read_scores(path)
    if theirs != settings:
        diff = ", ".join(f"{k} {theirs.get(k)!r} (now {v!r})" for k, v in settings.items()
                         if theirs.get(k) != v)
        raise NasError(f"--save {path} holds scores made with other settings: {diff}; pass "
                       f"another file")
    return rows


def _score_all(space: Space, genomes: list[Genome], names: list[str], batch: Any,
               num_classes: int, args: argparse.Namespace, settings: dict[str, Any],
               saved: dict[Genome, dict[str, Any]], err: Any) -> list[Cell]:
    from nas.evaluators import proxies as px  # imports torch: loaded where used (start-up)

    # imports networkx, ray, torch: loaded here, where used, for start-up time
    from nas.evaluators.table import TabularSpace

    cells: list[Cell] = []
    progress = counting_bar(err, 24)
    with progress:
        task = progress.add_task("scoring", total=len(genomes))
        for genome in genomes:
            row = saved.get(genome, {"scores": {}, "seconds": {}, "cpu": {}})
            scores = {n: row["scores"][n] for n in names if n in row["scores"]}
            seconds = {n: row["seconds"].get(n, math.nan) for n in [*scores, "build"]}
            cpu = {n: row["cpu"].get(n, math.nan) for n in [*scores, "build"]}
            todo = [n for n in names if n not in scores]
            if todo:
                progress.update(task, description=f"{genome.id} build")
                started, cpu_started = time.perf_counter(), time.process_time()
                try:
                    model = px.build_network(space, genome, batch.x.shape[1:], num_classes,
                                             args.seed)
                except ShapeError as e:
                    raise NasError(f"{space.name} genome {genome.id} does not fit the "
                                   f"images ({e})") from None
                seconds["build"] = time.perf_counter() - started
                cpu["build"] = time.process_time() - cpu_started
                for name in todo:
                    progress.update(task, description=f"{genome.id} {name}")
                    started, cpu_started = time.perf_counter(), time.process_time()
                    scores[name] = px.compute(name, model, batch, args.seed)
                    seconds[name] = time.perf_counter() - started
                    cpu[name] = time.process_time() - cpu_started
                if args.save is not None:
                    arch = (space.to_arch_str(genome) if isinstance(space, TabularSpace)
                            else None)
                    keys = ["build", *todo]
                    px.append_scores(args.save, settings, genome,
                                     {n: scores[n] for n in todo},
                                     {n: seconds[n] for n in keys}, {n: cpu[n] for n in keys},
                                     arch)
            cells.append(Cell(genome, scores, seconds, cpu))
            progress.update(task, advance=1)
    return cells


# --- correlations ---------------------------------------------------------------------------


def top_precision(scores: Any, accuracies: Any, fraction: float = TOP_FRACTION) -> float:
    """The share of the ``fraction`` best-scored cells that are among the ``fraction`` most
    accurate (ties broken by position; non-finite scores last)."""
    # loaded here, where used, for start-up time
    import numpy as np

    # imports networkx, torch: loaded here, where used, for start-up time
    from nas.evaluators.proxies import ranks

    k = max(1, round(fraction * len(accuracies)))
    by_score = np.argsort(-ranks(scores), kind="stable")[:k]
    by_accuracy = np.argsort(-np.asarray(accuracies, dtype=np.float64), kind="stable")[:k]
    return len(set(by_score.tolist()) & set(by_accuracy.tolist())) / k


def correlation(scores: Any, accuracies: Any) -> tuple[float, float, float]:
    """Spearman's rho, Kendall's tau (b) and top-10% precision of ``scores`` against
    ``accuracies``; non-finite scores rank last (NaN where a side is constant)."""
    # loaded here, where used, for start-up time
    import numpy as np
    from scipy.stats import kendalltau, spearmanr

    # imports networkx, torch: loaded here, where used, for start-up time
    from nas.evaluators.proxies import ranks

    r, acc = ranks(scores), np.asarray(accuracies, dtype=np.float64)
    if len(acc) < 2 or np.ptp(r) == 0 or np.ptp(acc) == 0:
        return math.nan, math.nan, top_precision(scores, acc)
    rho = float(spearmanr(r, acc).statistic)
    tau = float(kendalltau(r, acc).statistic)
    return rho, tau, top_precision(scores, acc)


def _correlations(cells: list[Cell], names: list[str],
                  combine: dict[str, float]) -> list[Row]:
    # imports networkx, torch: loaded here, where used, for start-up time
    from nas.evaluators.proxies import combination_name, rank_aggregate

    accuracies = [c.accuracy for c in cells]
    seconds, cpu = _seconds(cells, names, "seconds"), _seconds(cells, names, "cpu")
    rows = [Row(name, *correlation([c.scores[name] for c in cells], accuracies),
                seconds[name], cpu[name]) for name in names]
    if combine:
        combined = rank_aggregate({n: [c.scores[n] for c in cells] for n in combine},
                                  combine)
        name = combination_name(combine)
        for cell, value in zip(cells, combined):
            cell.scores[name] = value
        rows.append(Row(name, *correlation(combined, accuracies),
                        _members(seconds, combine), _members(cpu, combine), combine))
    return rows


def _members(seconds: dict[str, float], members: dict[str, float]) -> float:
    """A combination's seconds per cell: one build, and each member."""
    return seconds["build"] + sum(seconds[n] - seconds["build"] for n in members)


def _seconds(cells: list[Cell], names: list[str], clock: str) -> dict[str, float]:
    """Mean seconds per cell by ``clock`` ("seconds": wall-clock; "cpu"): ``build``, and
    building plus each proxy (cells taken from a score file count with the time they took
    then)."""

    def mean(key: str) -> float:
        values = [getattr(c, clock).get(key, math.nan) for c in cells]
        values = [v for v in values if math.isfinite(v)]
        return sum(values) / len(values) if values else math.nan

    build = mean("build")
    return {"build": build, **{n: build + mean(n) for n in names}}


# --- output ---------------------------------------------------------------------------------


def _console_err() -> Any:
    return Console(stderr=True, highlight=False)


def _cell_dict(cell: Cell, space: Space) -> dict[str, Any]:
    # imports networkx, ray, torch: loaded here, where used, for start-up time
    from nas.evaluators.table import TabularSpace

    out: dict[str, Any] = {"genome": cell.genome.to_dict(), "id": cell.genome.id}
    if isinstance(space, TabularSpace):
        out["arch"] = space.to_arch_str(cell.genome)
    if cell.accuracy is not None:
        out["accuracy"] = cell.accuracy
    out["scores"] = {k: v if math.isfinite(v) else None for k, v in cell.scores.items()}
    return out


def _print_correlations(rows: list[Row], n: int, cells: list[Cell]) -> None:

    table = Table(title=f"zero-cost proxies against the table's test accuracy, {n} cells")
    for column in ("proxy", "Spearman rho", "Kendall tau", "top-10% precision", "s / cell",
                   "CPU s / cell"):
        table.add_column(column, justify="left" if column == "proxy" else "right")
    for r in rows:
        table.add_row(r.name, f"{r.spearman:.3f}", f"{r.kendall:.3f}", f"{r.top:.2f}",
                      f"{r.seconds:.3f}", f"{r.cpu:.3f}")
    c = console()
    c.print(table)
    build = _seconds(cells, [], "seconds")["build"]
    c.print(f"s / cell: building the network ({build:.3f} s) plus the proxy, wall-clock and "
            "CPU (this process); a combination's: building plus its members. Non-finite "
            "scores rank last.")


def _print_scores(cells: list[Cell], names: list[str], space: str) -> None:

    table = Table(title=f"zero-cost proxy scores of {len(cells)} {space} genomes (no table "
                        f"of accuracies for this space)")
    table.add_column("genome")
    for name in names:
        table.add_column(name, justify="right")
    for cell in cells:
        table.add_row(cell.genome.id, *(f"{cell.scores[n]:.4g}" for n in names))
    seconds = _seconds(cells, names, "seconds")
    table.add_row("s / cell", *(f"{seconds[n]:.3f}" for n in names), style="dim")
    console().print(table)


def _plots(cells: list[Cell], rows: list[Row], out: Path, space: str) -> None:
    """One scatter plot per proxy: its score against the table's accuracy."""
    # loaded here, where used, for start-up time
    import numpy as np

    # imports PIL, matplotlib: loaded here, where used, for start-up time
    from nas.results.plots import _figure, _save

    accuracies = np.asarray([c.accuracy for c in cells], dtype=np.float64)
    for r in rows:
        scores = np.asarray([c.scores[r.name] for c in cells], dtype=np.float64)
        finite = np.isfinite(scores)
        fig = _figure()
        ax = fig.add_subplot()
        ax.scatter(scores[finite], accuracies[finite], s=8, alpha=0.5, color="tab:blue")
        positive = scores[finite]
        if positive.size and positive.min() > 0 and positive.max() / positive.min() > 100:
            ax.set_xscale("log")
        left_out = int((~finite).sum())
        note = f", {left_out} not finite (not drawn)" if left_out else ""
        ax.set_xlabel(f"{r.name} (mean rank)" if r.members else r.name)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{space}: {r.name}, {len(cells)} cells{note}\n"
                     f"Spearman {r.spearman:.3f}, Kendall {r.kendall:.3f}, "
                     f"top-10% {r.top:.2f}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        _save(fig, out / f"{_slug(r.name)}.png")


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in name).strip("_")
