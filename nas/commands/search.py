"""``nas search``: run a search (or resume one) on Ray; see :mod:`nas.search.loop`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console

from nas.commands._common import parse_options
from nas.core.errors import NasError
from nas.core.metrics import metric_name
from nas.search.live import LineView, make_view

EXAMPLES = """examples:
  nas search                                    # a short search on the bundled digits, CPU
  nas search --space nasnet --controller rl --dataset cifar10 --gpus 8 --trials 500
  nas search --space resnet --time-budget 2h --cost macs --cost-target 3e8
  nas search --resume nasnet-rl-20250101-120000 # after Ctrl-C, kill -9 or a crash
  nas search --space nasbench201 --method gdas --dataset cifar10 --trials 5  # weight sharing
  nas search --space nasnet --evaluator proxy --trials 2000     # zero-cost proxy scores only
  nas search --space nasbench201 --evaluator table --dataset cifar10 --prefilter meco \
      --prefilter-cells 1000 --prefilter-top 8 --trials 25   # score 1000, judge the best 8 first
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "search", help="search a space for the best architecture (Ray, resumable)",
        description="Propose children with a controller, train them in parallel on every GPU "
        "(or CPU workers) with Ray, record each in the run's Optuna study. Every run is "
        "runs/<name>/ and can be resumed after any stop.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to search (fixed for the life of a run)")
    what.add_argument("--space", help="search space (`nas spaces`); default nasnet")
    what.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                      help="a network-level space option, e.g. cells=2 (repeatable)")
    what.add_argument("--controller",
                      help="rl, optuna, evolution or random; default evolution")
    what.add_argument("--option", action="append", metavar="KEY=VALUE",
                      help="a controller option, e.g. batch_size=4 (repeatable)")
    what.add_argument("--evaluator",
                      help="how each child is judged (`nas evaluators`): train (default: "
                           "trained from scratch on Ray workers), table (NAS-Bench-201 "
                           "look-up), supernet or proxy (a zero-cost proxy's score)")
    what.add_argument("--evaluator-option", action="append", metavar="KEY=VALUE",
                      help="an evaluator option, e.g. table=my.csv (repeatable)")
    what.add_argument("--method", metavar="M",
                      help="weight sharing with the supernet evaluator (implies --evaluator "
                           "supernet): spos (train on random paths, then any controller "
                           "searches), enas (with --controller rl), darts or gdas (derive a "
                           "cell); see `nas evaluators`")
    what.add_argument("--dataset", help="digits (default, offline), cifar10 or imagefolder")
    what.add_argument("--data-dir", help="where the dataset lives")
    what.add_argument("--epochs", type=float, help="training epochs per child; default 2")
    what.add_argument("--recipe", metavar="JSON|FILE",
                      help='training recipe overrides, e.g. \'{"lr": 0.05}\' or a JSON file')
    what.add_argument("--seed", type=int, help="the controller's seed; default 0")
    what.add_argument("--cost", choices=["macs", "params", "latency", "flops"],
                      help="trade accuracy against this cost (MnasNet reward): macs "
                           "(multiply-adds per image; flops is its old name), params or latency")
    what.add_argument("--cost-target", type=float, help="the cost at which reward = accuracy")
    what.add_argument("--early-stop", nargs="?", const="sha", metavar="PRUNER",
                      help="stop weak children early by their per-epoch accuracy: sha "
                           "(asynchronous successive halving, the default), hyperband or "
                           "median")
    what.add_argument("--limit", type=int, help="use at most this many training images")
    what.add_argument("--storage", metavar="URL",
                      help="Optuna storage URL (default: SQLite study.db in the run directory)")
    what.add_argument("--prefilter", metavar="PROXY",
                      help="stage one: score --prefilter-cells random cells with this zero-cost "
                           "proxy (or a rank combination, e.g. meco:4,synflow; `nas proxies`) "
                           "and judge the --prefilter-top best first")
    what.add_argument("--prefilter-cells", type=int, metavar="N",
                      help="cells stage one scores; default 1000")
    what.add_argument("--prefilter-top", type=int, metavar="K",
                      help="best cells of stage one the evaluator judges first; default 8")
    what.add_argument("--prefilter-batch-size", type=int, metavar="B",
                      help="images in stage one's minibatch; default 64")
    budget = p.add_argument_group("budget (counted over the whole run)")
    budget.add_argument("--trials", type=int, help="children to train; default 12")
    budget.add_argument("--time-budget", metavar="T",
                        help="no child starts after T (3600, 90s, 30m, 2h)")
    how = p.add_argument_group("where to run")
    how.add_argument("--gpus", type=float, help="GPUs to use; default every GPU Ray sees")
    how.add_argument("--gpus-per-trial", type=float,
                     help="GPU share per child; 0.5 packs two per GPU; default 1")
    how.add_argument("--cpus-per-trial", type=float,
                     help="CPU cores per child; default 1 (on GPUs: up to 1)")
    how.add_argument("--address", help="an existing Ray cluster: auto or HOST:PORT; 'local' "
                     "starts Ray here (e.g. to resume a run made on a cluster)")
    how.add_argument("--listen-all", action="store_true", default=None,
                     help="let the Ray started here listen on every network interface (for "
                          "workers on other machines); default: localhost only")
    how.add_argument("--max-retries", type=int,
                     help="times a child runs again when its worker or node dies; default 2")
    run = p.add_argument_group("the run")
    run.add_argument("--name", help="run name; default SPACE-CONTROLLER-TIME")
    run.add_argument("--runs-dir", default="runs", help="where runs live; default ./runs")
    run.add_argument("--resume", metavar="RUN", help="continue this run where it stopped")
    run.add_argument("--plain", action="store_true",
                     help="one line per finished child instead of the live view")
    run.add_argument("--json", action="store_true",
                     help="at the end, print the summary as JSON on stdout (best genomes with "
                          "their input shape and classes, results, paths); progress lines go "
                          "to stderr")
    run.add_argument("--top", type=int, default=3,
                     help="best genomes in the --json summary (3)")
    p.set_defaults(func=main)


def _recipe(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    path = Path(text)
    source = path.read_text() if not text.lstrip().startswith("{") and path.is_file() else text
    try:
        recipe = json.loads(source)
    except json.JSONDecodeError as e:
        raise NasError(f"--recipe: not a JSON object or file ({e})") from None
    if not isinstance(recipe, dict):
        raise NasError('--recipe: expected a JSON object such as {"lr": 0.05}')
    return recipe


def _evaluator(args: argparse.Namespace) -> dict[str, Any]:
    """``--evaluator`` and its options; ``--method M`` is the supernet evaluator's method."""
    options = parse_options(args.evaluator_option) if args.evaluator_option else None
    evaluator = args.evaluator
    if args.method is not None:
        if evaluator not in (None, "supernet"):
            raise NasError(f"--method {args.method} is a method of the supernet evaluator, "
                           f"not of --evaluator {evaluator}: drop one of them")
        if options and options.get("method", args.method) != args.method:
            raise NasError(f"--method {args.method} and --evaluator-option "
                           f"method={options['method']} disagree: give one of them")
        evaluator, options = "supernet", {**(options or {}), "method": args.method}
    return {"evaluator": evaluator, "evaluator_options": options}


def flags(args: argparse.Namespace) -> dict[str, Any]:
    """The SearchConfig fields given on the command line (None: not given)."""
    # imports optuna, ray, torch: loaded here, where used, for start-up time
    from nas.search.config import parse_duration

    # the objective's metric names (flops, the old name of macs: nas.core.metrics)
    cost = (None if args.cost is None
            else metric_name({"latency": "latency_ms"}.get(args.cost, args.cost)))
    return {
        "space": args.space, "controller": args.controller, "dataset": args.dataset,
        "data_dir": args.data_dir, "epochs": args.epochs, "seed": args.seed,
        "space_options": parse_options(args.space_option) if args.space_option else None,
        "controller_options": parse_options(args.option) if args.option else None,
        **_evaluator(args),
        "recipe": _recipe(args.recipe), "cost": cost, "cost_target": args.cost_target,
        "early_stop": args.early_stop, "limit": args.limit, "storage": args.storage,
        "prefilter": args.prefilter, "prefilter_cells": args.prefilter_cells,
        "prefilter_top": args.prefilter_top,
        "prefilter_batch_size": args.prefilter_batch_size,
        "trials": args.trials,
        "time_budget": parse_duration(args.time_budget) if args.time_budget else None,
        "gpus": args.gpus, "gpus_per_trial": args.gpus_per_trial,
        "cpus_per_trial": args.cpus_per_trial, "address": args.address,
        "max_retries": args.max_retries, "listen_all": args.listen_all,
    }


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops a search as Ctrl-C does: state saved, resumable


def main(args: argparse.Namespace) -> int:
    """A thin layer over :func:`nas.api.search`: flags in, a live view and a summary out."""

    # imports networkx: loaded here, where used, for start-up time
    from nas.api import search

    given = flags(args)
    if args.resume and args.name:
        raise NasError("--resume RUN names the run already; drop --name")
    console = Console(highlight=False, stderr=args.json)
    view = LineView(console) if args.plain or args.json else make_view(console)
    signal.signal(signal.SIGTERM, _terminate)
    run = search(name=args.name, runs_dir=args.runs_dir, resume=args.resume, view=view,
                 **given)
    if args.json:
        json.dump(run.summary(top=args.top), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if run.config.get("evaluator") == "supernet":  # a degenerate derived cell: say so
        from nas.evaluators.supernet import collapse_lines

        for line in collapse_lines(run.trials):
            console.print(line, style="yellow", soft_wrap=True)
    console.print(f"run: {run.path}   (nas status {run.name}"
                  + (f" --runs-dir {args.runs_dir}" if args.runs_dir != "runs" else "") + ")",
                  soft_wrap=True)
    return 0
