"""``nas benchmark``: controllers against a tabular benchmark (NAS-Bench-201 by default).

    nas benchmark --controller rl,optuna,evolution,random --queries 100 --seeds 20 \\
        --plot nb201.png

prints, per controller, the mean, the standard deviation over seeds and the 95% interval of
the mean of the best accuracy found after 10, 25, 50 and 100 queries (distinct architectures;
see :mod:`nas.search.benchmark`), and draws the best-so-far and regret curves of all
controllers in one PNG. ``--json`` prints the same numbers as
``{"rl": {"100": {"mean": .., "std": .., "ci95": [low, high]}, ..}, ..}``. ``--first-seed 20``
runs seeds 20 .. 20 + SEEDS - 1: fresh seeds for options tuned on the default 0 .. SEEDS - 1.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from nas.commands._common import console, counting_bar, print_json
from nas.core.errors import NasError

DEFAULT_CONTROLLERS = "rl,optuna,evolution,random"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "benchmark", help="measure controllers on a tabular benchmark (NAS-Bench-201)",
        description="Run each controller with seeds 0..SEEDS-1 against a table of published "
                    "accuracies; report the best accuracy found after 10, 25, 50 and 100 "
                    "queries (mean, std over seeds, 95% interval of the mean) and plot the "
                    "best-so-far and regret curves. A query is a distinct architecture; "
                    "re-proposals are answered from the cache for free.")
    p.add_argument("--space", default="nasbench201", help="the space (default nasbench201)")
    p.add_argument("--table", default=None, metavar="FILE",
                   help="CSV with columns arch,test_accuracy (default: the shipped "
                        "NAS-Bench-201 CIFAR-10 table)")
    p.add_argument("--controller", default=DEFAULT_CONTROLLERS, metavar="LIST",
                   help="comma-separated controllers, each NAME[:OPTION=VALUE...], e.g. "
                        f"optuna:sampler=cmaes (default {DEFAULT_CONTROLLERS})")
    p.add_argument("--queries", type=int, default=100, help="queries per run (default 100)")
    p.add_argument("--seeds", type=int, default=20, help="runs per controller (default 20)")
    p.add_argument("--first-seed", type=int, default=0, metavar="N",
                   help="run seeds N .. N+SEEDS-1 (default 0)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="write best-so-far and regret curves here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imports networkx: loaded here, where used, for start-up time
    from nas.core.space import get_space
    from nas.evaluators.table import Table, shipped_table
    from nas.search.benchmark import ControllerSpec, parse_specs, plot, run_benchmark

    if args.queries < 1 or args.seeds < 1 or args.first_seed < 0:
        raise NasError(f"--queries and --seeds must be at least 1 and --first-seed at least 0, "
                       f"got {args.queries}, {args.seeds} and {args.first_seed}")
    space = get_space(args.space)
    table = args.table if args.table is not None else shipped_table(space.name)
    evaluator = Table(table, space)
    specs = parse_specs(args.controller, space)

    seconds: dict[str, float] = {}
    progress = counting_bar(Console(stderr=True), 28)
    with progress:
        task = progress.add_task("benchmark", total=len(specs) * args.seeds)
        started = time.perf_counter()

        def on_run(spec: ControllerSpec, seed: int) -> None:
            nonlocal started
            now = time.perf_counter()
            seconds[spec.label] = seconds.get(spec.label, 0.0) + now - started
            started = now
            done = seed + 1
            progress.update(task, advance=1,
                            description=f"{spec.label} seed {done}/{args.seeds}")

        bench = run_benchmark(specs, evaluator, args.queries, args.seeds, on_run=on_run,
                              first_seed=args.first_seed)

    summary = bench.summary()
    if args.plot:
        last = args.first_seed + args.seeds - 1
        path = plot(bench, args.plot, title=f"{space.name}: {evaluator.path.name}, "
                                            f"{args.seeds} seeds ({args.first_seed}-{last})")
        Console(stderr=True).print(f"plot written to {path}")
    if args.json:
        print_json(summary)
        return 0
    _print_table(bench, summary, evaluator.path.name, seconds)
    return 0


def _print_table(bench: Any, summary: dict[str, dict[str, dict[str, Any]]], table_name: str,
                 seconds: dict[str, float]) -> None:


    checkpoints = bench.checkpoints()
    last = bench.first_seed + bench.seeds - 1
    table = Table(title=f"best test accuracy (%) found after N queries: mean ± std "
                        f"[95% interval of the mean] over {bench.seeds} seeds "
                        f"({bench.first_seed}-{last}; {table_name}, optimum "
                        f"{bench.optimum:.2f})")
    table.add_column("controller")
    for q in checkpoints:
        table.add_column(f"{q}", justify="right")
    table.add_column("optimum found", justify="right")
    table.add_column("free revisits", justify="right")
    table.add_column("s / run", justify="right")
    for label, at in summary.items():
        runs = bench.runs[label]
        hits = sum(r.curve[-1] >= bench.optimum for r in runs)
        revisits = sum(r.revisits for r in runs) / len(runs)
        table.add_row(label, *(f"{at[str(q)]['mean']:.2f} ± {at[str(q)]['std']:.2f} "
                               f"[{at[str(q)]['ci95'][0]:.2f}, {at[str(q)]['ci95'][1]:.2f}]"
                               for q in checkpoints),
                      f"{hits}/{len(runs)}", f"{revisits:.0f}",
                      f"{seconds.get(label, 0.0) / len(runs):.2f}")
    console().print(table)
